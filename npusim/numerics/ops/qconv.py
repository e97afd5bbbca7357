"""QLinearConv and ConvInteger: exact integer accumulation (numba int8 kernels where a static
bound proves int32 suffices, exact float BLAS chunks elsewhere), then requantization."""

from __future__ import annotations

import numpy as np

from npusim.numerics.kernels import u8s8
from npusim.numerics.kernels.conv import conv, conv_geometry
from npusim.numerics.kernels.dot import exact_int_matmul
from npusim.numerics.kernels.int8conv import (
    _int8_conv,
    _raw_acc,
    _requantize_ort,
    _vnni_acc,
    _vnni_conv,
    _vnni_requantize_ort,
    conv_attrs,
)
from npusim.numerics.ops import kernel
from npusim.numerics.ops.context import Context
from npusim.numerics.ops.qcommon import centered, finish, int_bias, scalar_i32


def _int_conv(x, w, node):
    """Exact integer convolution: float32 BLAS in exact chunks where the bound allows."""
    kk = int(np.prod(w.shape[1:]))
    bound = float(np.abs(x).max(initial=0)) * float(np.abs(w).max(initial=0)) * kk
    dtype = np.float32 if bound < 2**24 or node.attr("group", 1) != x.shape[1] else np.float64
    return conv(x, w, dtype=dtype, matmul=exact_int_matmul, **conv_attrs(node)).astype(
        np.float64)


def _ort_saturating(node, ctx: Context, x, zx, w, zw):
    """The accumulators of onnxruntime's U8S8 conv on a host where it saturates int16 pair
    sums (`kernels.u8s8`), or None where its result is the exact one."""
    # depthwise (one channel a group): MLAS's depthwise kernel, exact
    if w.shape[1] == 1 or (zx is not None and np.size(zx) != 1) or not u8s8.follows(
            node, ctx, x.dtype, w.dtype, lambda: np.moveaxis(w, 1, -1).reshape(w.shape[0], -1)):
        return None
    strides, pads, dilations = conv_geometry(
        x.shape, w.shape, strides=node.attr("strides"), pads=node.attr("pads"),
        dilations=node.attr("dilations"), auto_pad=node.attr("auto_pad", "NOTSET"))
    acc, hits = u8s8.conv_acc(x, zx, w, zw, group=node.attr("group", 1), strides=strides,
                              pads=pads, dilations=dilations)
    ctx.record_pair_saturation(node, hits)
    return acc


@kernel("QLinearConv")
def qlinear_conv(node, inputs, ctx: Context):
    x, sx, zx, w, sw, zw, sy, zy = inputs[:8]
    b = inputs[8] if len(inputs) > 8 else None
    out_dtype = zy.dtype if zy is not None else x.dtype
    bias = int_bias(ctx, b)
    acc = _ort_saturating(node, ctx, x, zx, w, zw)
    if acc is not None:
        if bias is not None:
            acc = acc + bias.reshape((1, -1) + (1,) * (acc.ndim - 2))
        return [finish(node, ctx, acc, sx, sw, sy, zy, out_dtype, 1)]
    fast = _vnni_conv(node, x, zx, w, zw)
    if fast is not None:
        conv, out_shape = fast
        correction = conv.correction if bias is None else conv.correction + bias
        if ctx.settings.scheme == "ort":
            y = _vnni_requantize_ort(node, ctx, conv, correction, sx, sw, sy, zy, out_dtype,
                                     out_shape)
            if y is not None:
                return [y]
        return [finish(node, ctx, _vnni_acc(conv.raw(), correction, out_shape), sx, sw, sy,
                        zy, out_dtype, 1)]
    raw = _int8_conv(node, x, zx, w, zw)
    if raw is None:
        acc = _int_conv(centered(x, zx), centered(w, zw, 0), node)
        if bias is not None:
            acc = acc + bias.reshape((1, -1) + (1,) * (acc.ndim - 2))
        return [finish(node, ctx, acc, sx, sw, sy, zy, out_dtype, 1)]
    cols, out_shape, packed = raw
    correction = -scalar_i32(zx) * packed.row_sums
    if bias is not None:
        correction = correction + bias
    if ctx.settings.scheme == "ort":
        y = _requantize_ort(node, ctx, cols, packed, correction, sx, sw, sy, zy, out_dtype,
                            out_shape)
        if y is not None:
            return [y]
    acc = _raw_acc(cols, packed, correction, out_shape)
    return [finish(node, ctx, acc, sx, sw, sy, zy, out_dtype, 1)]


@kernel("ConvInteger")
def conv_integer(node, inputs, ctx: Context):
    x, w = inputs[0], inputs[1]
    zx = inputs[2] if len(inputs) > 2 else None
    zw = inputs[3] if len(inputs) > 3 else None
    acc = _ort_saturating(node, ctx, x, zx, w, zw)
    if acc is not None:
        return [ctx.check_accumulator(node, acc).astype(np.int32)]
    fast = _vnni_conv(node, x, zx, w, zw)
    if fast is not None:
        conv, out_shape = fast
        return [ctx.check_accumulator(node, _vnni_acc(conv.raw(), conv.correction,
                                                      out_shape)).astype(np.int32)]
    raw = _int8_conv(node, x, zx, w, zw)
    if raw is None:
        acc = _int_conv(centered(x, zx), centered(w, zw, 0), node)
    else:
        cols, out_shape, packed = raw
        acc = _raw_acc(cols, packed, -scalar_i32(zx) * packed.row_sums, out_shape)
    return [ctx.check_accumulator(node, acc).astype(np.int32)]
