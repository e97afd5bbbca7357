"""QLinearMatMul, QGemm (com.microsoft), MatMulInteger and MatMulIntegerToFloat: exact
integer products, then requantization (or the float scale of the dynamic path)."""

from __future__ import annotations

import numpy as np

from npusim.errors import NumericsError
from npusim.numerics.kernels import u8s8
from npusim.numerics.ops import kernel
from npusim.numerics.ops.context import Context
from npusim.numerics.ops.qcommon import centered, centered_constant, finish, int_bias


def _ort_saturating(node, ctx: Context, a, za, b, zb):
    """a @ b less the zero points as onnxruntime's U8S8 GEMM sums it where it saturates int16
    pair sums on this host (`kernels.u8s8`); None where its result is the exact one."""
    if a.ndim < 2 or b.ndim < 2 or not u8s8.follows(
            node, ctx, a.dtype, b.dtype, lambda: np.moveaxis(b, -1, -2).reshape(-1, b.shape[-2])):
        return None
    acc, hits = u8s8.matmul_acc(a, za, b, zb)
    ctx.record_pair_saturation(node, hits)
    return acc


@kernel("QLinearMatMul")
def qlinear_matmul(node, inputs, ctx: Context):
    a, sa, za, b, sb, zb, sy, zy = inputs[:8]
    acc = _ort_saturating(node, ctx, a, za, b, zb)
    if acc is None:
        acc = np.matmul(centered(a, za, a.ndim - 2 if np.size(za) > 1 else None),
                        centered(b, zb, b.ndim - 1))
    out_dtype = zy.dtype if zy is not None else a.dtype
    return [finish(node, ctx, acc, sa, sb, sy, zy, out_dtype, acc.ndim - 1)]


@kernel("QGemm")
def qgemm(node, inputs, ctx: Context):
    """com.microsoft QGemm: A, a_scale, a_zp, B, b_scale, b_zp, C (int32), y_scale, y_zp."""
    a, sa, za, b, sb, zb = inputs[:6]
    c = inputs[6] if len(inputs) > 6 else None
    sy = inputs[7] if len(inputs) > 7 else None
    zy = inputs[8] if len(inputs) > 8 else None
    if float(node.attr("alpha", 1.0)) != 1.0:
        raise NumericsError(f"QGemm node '{node.name}': alpha != 1 is not supported")
    a_t = a.T if node.attr("transA", 0) else a
    b_t = b.T if node.attr("transB", 0) else b
    acc = _ort_saturating(node, ctx, a_t, za, b_t, zb)
    if acc is None:
        av = centered(a, za)
        bv = centered_constant(b, zb, 0 if node.attr("transB", 0) else 1)
        if node.attr("transA", 0):
            av = av.T
        if node.attr("transB", 0):
            bv = bv.T
        acc = av @ bv
    bias = int_bias(ctx, c)
    if bias is not None:
        acc = acc + bias
    if sy is None:
        acc = ctx.check_accumulator(node, acc)
        m = (np.asarray(sa, np.float32) * np.asarray(sb, np.float32)).astype(np.float32)
        return [(acc.astype(np.float32) * m).astype(np.float32)]
    return [finish(node, ctx, acc, sa, sb, sy, zy, zy.dtype, 1)]


@kernel("MatMulInteger")
def matmul_integer(node, inputs, ctx: Context):
    a, b = inputs[0], inputs[1]
    za = inputs[2] if len(inputs) > 2 else None
    zb = inputs[3] if len(inputs) > 3 else None
    acc = _ort_saturating(node, ctx, a, za, b, zb)
    if acc is None:
        acc = np.matmul(centered(a, za, a.ndim - 2), centered(b, zb, b.ndim - 1))
    return [ctx.check_accumulator(node, acc).astype(np.int32)]
