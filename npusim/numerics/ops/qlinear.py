"""Integer kernels: QLinearConv / QLinearMatMul / QGemm (exact accumulate, then requantize
per scheme), ConvInteger / MatMulInteger, and the fused elementwise QLinearAdd / QLinearMul /
QLinearGlobalAveragePool that onnxruntime substitutes for DQ -> op -> Q."""

from __future__ import annotations

import numpy as np

from npusim.errors import NumericsError
from npusim.numerics.kernels.conv import conv
from npusim.numerics.kernels.dot import exact_int_matmul
from npusim.numerics.kernels.fma import fma32
from npusim.numerics.ops import kernel
from npusim.numerics.ops.context import Context
from npusim.numerics.quant import dequantize, int_range, quantize
from npusim.numerics.requant import requantize, round_shift


def _centered(q: np.ndarray, zp: np.ndarray | None, channel_axis: int | None = None):
    """q - zp as float64 (exact); zp may be per channel along `channel_axis`."""
    v = q.astype(np.float64)
    if zp is None or not np.any(zp):
        return v
    zp = np.asarray(zp, np.float64)
    if zp.size > 1 and channel_axis is not None:
        shape = [1] * q.ndim
        shape[channel_axis] = zp.size
        zp = zp.reshape(shape)
    return v - zp


def _bias(ctx: Context, b: np.ndarray | None):
    if b is None:
        return None
    b = b.astype(np.int64)
    k = ctx.settings.npu.bias_lshift if ctx.settings.scheme == "npu-shift" else 0
    if k:
        b = round_shift(b, k, ctx.settings.npu.rounding) << k
    return b


def _finish(node, ctx: Context, acc, s_in, s_w, s_out, zp_out, out_dtype, channel_axis):
    acc = ctx.check_accumulator(node, acc)
    if ctx.settings.scheme == "npu-shift" and ctx.settings.npu.int32_output:
        return acc.astype(np.int32)
    clamp = node.attr("_clamp")
    r = requantize(acc, s_in, s_w, s_out, zp_out, out_dtype, channel_axis=channel_axis,
                   scheme=ctx.settings.scheme, npu=ctx.settings.npu, clamp=clamp)
    ctx.record_saturation(node, r.saturated, acc.size)
    return r.values


def _int_conv(x, w, node):
    """Exact integer convolution: float32 BLAS in exact chunks where the bound allows."""
    kk = int(np.prod(w.shape[1:]))
    bound = float(np.abs(x).max(initial=0)) * float(np.abs(w).max(initial=0)) * kk
    dtype = np.float32 if bound < 2**24 or node.attr("group", 1) != x.shape[1] else np.float64
    return conv(x, w, dtype=dtype, matmul=exact_int_matmul, **_conv_attrs(node)).astype(
        np.float64)


def _conv_attrs(node):
    return dict(group=node.attr("group", 1), strides=node.attr("strides"),
                pads=node.attr("pads"), dilations=node.attr("dilations"),
                auto_pad=node.attr("auto_pad", "NOTSET"))


@kernel("QLinearConv")
def qlinear_conv(node, inputs, ctx: Context):
    x, sx, zx, w, sw, zw, sy, zy = inputs[:8]
    b = inputs[8] if len(inputs) > 8 else None
    acc = _int_conv(_centered(x, zx), _centered(w, zw, 0), node)
    bias = _bias(ctx, b)
    if bias is not None:
        acc = acc + bias.reshape((1, -1) + (1,) * (acc.ndim - 2))
    out_dtype = zy.dtype if zy is not None else x.dtype
    return [_finish(node, ctx, acc, sx, sw, sy, zy, out_dtype, 1)]


@kernel("QLinearMatMul")
def qlinear_matmul(node, inputs, ctx: Context):
    a, sa, za, b, sb, zb, sy, zy = inputs[:8]
    acc = np.matmul(_centered(a, za, a.ndim - 2 if np.size(za) > 1 else None),
                    _centered(b, zb, b.ndim - 1))
    out_dtype = zy.dtype if zy is not None else a.dtype
    return [_finish(node, ctx, acc, sa, sb, sy, zy, out_dtype, acc.ndim - 1)]


@kernel("QGemm")
def qgemm(node, inputs, ctx: Context):
    """com.microsoft QGemm: A, a_scale, a_zp, B, b_scale, b_zp, C (int32), y_scale, y_zp."""
    a, sa, za, b, sb, zb = inputs[:6]
    c = inputs[6] if len(inputs) > 6 else None
    sy = inputs[7] if len(inputs) > 7 else None
    zy = inputs[8] if len(inputs) > 8 else None
    if float(node.attr("alpha", 1.0)) != 1.0:
        raise NumericsError(f"QGemm node '{node.name}': alpha != 1 is not supported")
    av = _centered(a, za)
    bv = _centered(b, zb, 0 if node.attr("transB", 0) else 1)
    if node.attr("transA", 0):
        av = av.T
    if node.attr("transB", 0):
        bv = bv.T
    acc = av @ bv
    bias = _bias(ctx, c)
    if bias is not None:
        acc = acc + bias
    if sy is None:
        acc = ctx.check_accumulator(node, acc)
        m = (np.asarray(sa, np.float32) * np.asarray(sb, np.float32)).astype(np.float32)
        return [(acc.astype(np.float32) * m).astype(np.float32)]
    return [_finish(node, ctx, acc, sa, sb, sy, zy, zy.dtype, 1)]


@kernel("ConvInteger")
def conv_integer(node, inputs, ctx: Context):
    x, w = inputs[0], inputs[1]
    zx = inputs[2] if len(inputs) > 2 else None
    zw = inputs[3] if len(inputs) > 3 else None
    acc = _int_conv(_centered(x, zx), _centered(w, zw, 0), node)
    return [ctx.check_accumulator(node, acc).astype(np.int32)]


@kernel("MatMulInteger")
def matmul_integer(node, inputs, ctx: Context):
    a, b = inputs[0], inputs[1]
    za = inputs[2] if len(inputs) > 2 else None
    zb = inputs[3] if len(inputs) > 3 else None
    acc = np.matmul(_centered(a, za, a.ndim - 2), _centered(b, zb, b.ndim - 1))
    return [ctx.check_accumulator(node, acc).astype(np.int32)]


@kernel("QLinearAdd")
def qlinear_add(node, inputs, ctx: Context):
    """onnxruntime's MLAS kernel: ratios sa/sc, sb/sc and a fixed part, two float32 FMAs."""
    a, sa, za, b, sb, zb, sc, zc = inputs[:8]
    out_dtype = zc.dtype if zc is not None else a.dtype
    scheme = ctx.settings.scheme
    if scheme == "ort":
        v = _mlas_add(a, b, sa, za, sb, zb, sc, zc)
    elif scheme == "tflite":
        v = _tflite_add(a, b, sa, za, sb, zb, sc, zc)
    else:
        fa = dequantize(a, sa, za)
        fb = dequantize(b, sb, zb)
        return [quantize((fa + fb).astype(np.float32), sc, zc, out_dtype)]
    return [_clamp(node, ctx, v, out_dtype, zc)]


def _clamp(node, ctx, v, out_dtype, zc):
    lo, hi = int_range(out_dtype)
    clamp = node.attr("_clamp")
    if clamp is not None:
        lo, hi = max(lo, clamp[0]), min(hi, clamp[1])
    ctx.record_saturation(node, int(np.count_nonzero((v < lo) | (v > hi))), v.size)
    return np.clip(v, lo, hi).astype(out_dtype)


def _f32(v) -> np.float32:
    return np.float32(np.asarray(v, np.float32).reshape(-1)[0])


def _i32(v) -> int:
    return 0 if v is None else int(np.asarray(v).reshape(-1)[0])


def _mlas_add(a, b, sa, za, sb, zb, sc, zc):
    ra = np.float32(_f32(sa) / _f32(sc))
    rb = np.float32(_f32(sb) / _f32(sc))
    # (float)zc - (ra * za + rb * zb), compiled with FMA contraction of the first product
    inner = fma32(ra, np.float32(_i32(za)), np.float32(rb * np.float32(_i32(zb))))
    fixed = np.float32(np.float32(_i32(zc)) - inner)
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
    from npusim.numerics.requant import multiply_by_quantized_multiplier, quantize_multiplier
    left = 20
    twice_max = 2.0 * max(float(_f32(sa)), float(_f32(sb)))
    ma, sha = quantize_multiplier(float(_f32(sa)) / twice_max)
    mb, shb = quantize_multiplier(float(_f32(sb)) / twice_max)
    mo, sho = quantize_multiplier(twice_max / ((1 << left) * float(_f32(sc))))
    xa = (a.astype(np.int64) - _i32(za)) << left
    xb = (b.astype(np.int64) - _i32(zb)) << left
    va = multiply_by_quantized_multiplier(xa, ma, sha)
    vb = multiply_by_quantized_multiplier(xb, mb, shb)
    return multiply_by_quantized_multiplier(va + vb, mo, sho) + _i32(zc)


@kernel("QLinearMul")
def qlinear_mul(node, inputs, ctx: Context):
    a, sa, za, b, sb, zb, sc, zc = inputs[:8]
    out_dtype = zc.dtype if zc is not None else a.dtype
    prod = (a.astype(np.int64) - _i32(za)) * (b.astype(np.int64) - _i32(zb))
    m = np.float32(np.float32(_f32(sa) * _f32(sb)) / _f32(sc))
    v = np.rint((prod.astype(np.float32) * m).astype(np.float32)).astype(np.int64) + _i32(zc)
    return [_clamp(node, ctx, v, out_dtype, zc)]


@kernel("QLinearGlobalAveragePool")
def qlinear_global_average_pool(node, inputs, ctx: Context):
    """Integer sum per channel, then scale = s_in / (s_out * image_size) (MLAS)."""
    x, sx, zx, sy, zy = inputs[:5]
    channels_last = node.attr("channels_last", 0)
    axes = tuple(range(1, x.ndim - 1)) if channels_last else tuple(range(2, x.ndim))
    size = int(np.prod([x.shape[i] for i in axes]))
    acc = x.astype(np.int64).sum(axis=axes, keepdims=True) - _i32(zx) * size
    if ctx.settings.scheme == "ort":
        scale = np.float32(_f32(sx) / np.float32(_f32(sy) * np.float32(size)))
        v = np.rint((acc.astype(np.float32) * scale).astype(np.float32)).astype(np.int64)
        v = v + _i32(zy)
        return [_clamp(node, ctx, v, zy.dtype, zy)]
    r = requantize(acc, np.float32(_f32(sx) / np.float32(size)), np.float32(1), sy, zy,
                   zy.dtype, channel_axis=1, scheme=ctx.settings.scheme, npu=ctx.settings.npu,
                   clamp=node.attr("_clamp"))
    ctx.record_saturation(node, r.saturated, acc.size)
    return [r.values]
