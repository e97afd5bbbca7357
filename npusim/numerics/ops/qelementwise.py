"""onnxruntime's fused elementwise QOperators: QLinearAdd / QLinearMul (MLAS formulas, any
broadcast), QLinearConcat and QLinearWhere (per-input 256-entry requantization tables)."""

from __future__ import annotations

import numpy as np

from npusim.numerics.kernels import qadd
from npusim.numerics.kernels.fma import fma32
from npusim.numerics.kernels.int8conv import is_nhwc_view, nhwc
from npusim.numerics.ops import kernel
from npusim.numerics.ops.context import Context
from npusim.numerics.ops.qcommon import clamp_output, out_range, scalar_f32, scalar_i32
from npusim.numerics.ops.qlookup import apply_table, lookup_table
from npusim.numerics.quant import dequantize, quantize


@kernel("QLinearAdd")
def qlinear_add(node, inputs, ctx: Context):
    """onnxruntime's MLAS kernel: ratios sa/sc, sb/sc and a fixed part, two float32 FMAs."""
    a, sa, za, b, sb, zb, sc, zc = inputs[:8]
    out_dtype = zc.dtype if zc is not None else a.dtype
    scheme = ctx.settings.scheme
    if scheme == "ort":
        y = _mlas_add_8bit(node, ctx, a, b, sa, za, sb, zb, sc, zc, out_dtype)
        if y is not None:
            return [y]
        v = _mlas_add(a, b, sa, za, sb, zb, sc, zc)
    elif scheme == "tflite":
        v = _tflite_add(a, b, sa, za, sb, zb, sc, zc)
    else:
        fa = dequantize(a, sa, za)
        fb = dequantize(b, sb, zb)
        return [quantize((fa + fb).astype(np.float32), sc, zc, out_dtype)]
    return [clamp_output(node, ctx, v, out_dtype, zc)]


def _mlas_add_constants(sa, za, sb, zb, sc, zc):
    ra = np.float32(scalar_f32(sa) / scalar_f32(sc))
    rb = np.float32(scalar_f32(sb) / scalar_f32(sc))
    # (float)zc - (ra * za + rb * zb), compiled with FMA contraction of the first product
    inner = fma32(ra, np.float32(scalar_i32(za)), np.float32(rb * np.float32(scalar_i32(zb))))
    fixed = np.float32(np.float32(scalar_i32(zc)) - inner)
    return ra, rb, fixed


def _mlas_add_8bit(node, ctx, a, b, sa, za, sb, zb, sc, zc, out_dtype):
    """The same-shape 8-bit case in vector FMAs (a table lookup for unusual clamp bounds);
    None for any other (broadcasts)."""
    if (a.shape != b.shape or a.dtype.itemsize != 1 or b.dtype.itemsize != 1
            or a.dtype.kind not in "iu" or b.dtype.kind not in "iu" or out_dtype.kind not in "iu"):
        return None
    ra, rb, fixed = _mlas_add_constants(sa, za, sb, zb, sc, zc)
    lo, hi = out_range(node, out_dtype)
    if is_nhwc_view(a) or is_nhwc_view(b):
        # channels-last memory in, channels-last memory out (an NCHW view), as the convs
        a, b = nhwc(a), nhwc(b)
        y = np.empty(a.shape, out_dtype)
        view = y.transpose(0, 3, 1, 2)
    else:
        a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
        y = view = np.empty(a.shape, out_dtype)
    if -(2**24) < lo <= hi < 2**24:  # lo - 1 and hi + 1 are exact float32
        sat = qadd.add_fma(a.reshape(-1), b.reshape(-1), ra, rb, fixed, lo, hi, y.reshape(-1))
    else:
        values, clamped = qadd.add_table(a.dtype, b.dtype, np.dtype(out_dtype), ra, rb, fixed,
                                         lo, hi)
        sat = qadd.apply_table(a.reshape(-1).view(np.uint8), b.reshape(-1).view(np.uint8),
                               values, clamped, y.reshape(-1))
    ctx.record_saturation(node, int(sat), y.size)
    return view


def _mlas_add(a, b, sa, za, sb, zb, sc, zc):
    ra, rb, fixed = _mlas_add_constants(sa, za, sb, zb, sc, zc)
    af = a.astype(np.float32)
    bf = b.astype(np.float32)
    if a.size == 1 and b.size != 1:
        fixed = np.float32(fixed + np.float32(af.reshape(-1)[0] * ra))
        t = fma32(bf, rb, fixed)
    elif b.size == 1 and a.size != 1:
        fixed = np.float32(fixed + np.float32(bf.reshape(-1)[0] * rb))
        t = fma32(af, ra, fixed)
    else:
        af, bf = np.broadcast_arrays(af, bf)
        t = fma32(af, ra, fma32(bf, rb, fixed))
    return np.rint(t.astype(np.float32)).astype(np.int64)


def _tflite_add(a, b, sa, za, sb, zb, sc, zc):
    """TFLite reference int8 Add: left shift 20, per-input and output Q31 multipliers."""
    from npusim.numerics.requant import (
        multiply_by_quantized_multiplier,
        quantize_multiplier,
    )
    left = 20
    twice_max = 2.0 * max(float(scalar_f32(sa)), float(scalar_f32(sb)))
    ma, sha = quantize_multiplier(float(scalar_f32(sa)) / twice_max)
    mb, shb = quantize_multiplier(float(scalar_f32(sb)) / twice_max)
    mo, sho = quantize_multiplier(twice_max / ((1 << left) * float(scalar_f32(sc))))
    xa = (a.astype(np.int64) - scalar_i32(za)) << left
    xb = (b.astype(np.int64) - scalar_i32(zb)) << left
    va = multiply_by_quantized_multiplier(xa, ma, sha)
    vb = multiply_by_quantized_multiplier(xb, mb, shb)
    return multiply_by_quantized_multiplier(va + vb, mo, sho) + scalar_i32(zc)


@kernel("QLinearMul")
def qlinear_mul(node, inputs, ctx: Context):
    """MLAS's SSE2 kernel: f32(a - za) * (b - zb) times f32(f32(sa * sb) / sc), plus zc in
    float32, then round half to even (cvtps2dq) and saturate. Two 8-bit tensors of one shape
    go through a 65,536-entry table of those values."""
    a, sa, za, b, sb, zb, sc, zc = inputs[:8]
    out_dtype = zc.dtype if zc is not None else a.dtype
    m = np.float32(np.float32(scalar_f32(sa) * scalar_f32(sb)) / scalar_f32(sc))
    if (a.shape == b.shape and a.dtype.itemsize == b.dtype.itemsize == 1
            and a.dtype.kind in "iu" and b.dtype.kind in "iu" and out_dtype.kind in "iu"):
        lo, hi = out_range(node, out_dtype)
        codes_a = np.arange(256, dtype=np.uint8).view(a.dtype).astype(np.int64)
        codes_b = np.arange(256, dtype=np.uint8).view(b.dtype).astype(np.int64)
        v = _mlas_mul(codes_a[:, None], codes_b[None, :], za, zb, m, zc).reshape(-1)
        values, clamped = np.clip(v, lo, hi).astype(out_dtype), ((v < lo) | (v > hi))
        y = np.empty(a.shape, out_dtype)
        sat = qadd.apply_table(np.ascontiguousarray(a).reshape(-1).view(np.uint8),
                               np.ascontiguousarray(b).reshape(-1).view(np.uint8), values,
                               clamped.astype(np.uint8), y.reshape(-1))
        ctx.record_saturation(node, int(sat), y.size)
        return [y]
    return [clamp_output(node, ctx, _mlas_mul(a.astype(np.int64), b.astype(np.int64), za, zb,
                                              m, zc), out_dtype, zc)]


def _mlas_mul(a, b, za, zb, m, zc):
    prod = (a - scalar_i32(za)) * (b - scalar_i32(zb))
    t = (prod.astype(np.float32) * m).astype(np.float32) + np.float32(scalar_i32(zc))
    return np.rint(t.astype(np.float32)).astype(np.int64)


def requantize_table(dtype, sx, zx, sy, zy) -> np.ndarray:
    """The identity lookup table of QLinearConcat / QLinearWhere: Q(DQ(code)) per byte."""
    return lookup_table(dtype, sx, zx, sy, zy, lambda v: v)


@kernel("QLinearConcat")
def qlinear_concat(node, inputs, ctx: Context):
    """Inputs y_scale, y_zero_point, then (x, x_scale, x_zero_point) per input."""
    sy, zy = inputs[0], inputs[1]
    parts = []
    for i in range(2, len(inputs), 3):
        x, sx, zx = inputs[i:i + 3]
        parts.append(apply_table(node, ctx, x, requantize_table(x.dtype, sx, zx, sy, zy)))
    return [np.concatenate(parts, axis=node.attr("axis"))]


@kernel("QLinearWhere")
def qlinear_where(node, inputs, ctx: Context):
    """condition, x, x_scale, x_zp, y, y_scale, y_zp, z_scale, z_zp: each branch through
    its requantization table, then selected."""
    cond, x, sx, zx, y, sy, zy, sz, zz = inputs[:9]
    xt = apply_table(node, ctx, x, requantize_table(x.dtype, sx, zx, sz, zz))
    yt = apply_table(node, ctx, y, requantize_table(y.dtype, sy, zy, sz, zz))
    return [np.where(cond.astype(bool), xt, yt)]
