"""Integer kernels: QLinearConv / QLinearMatMul / QGemm (exact accumulate, then requantize
per scheme), ConvInteger / MatMulInteger, and the fused elementwise QLinearAdd / QLinearMul /
QLinearGlobalAveragePool that onnxruntime substitutes for DQ -> op -> Q."""

from __future__ import annotations

import numba
import numpy as np

from npusim.errors import NumericsError
from npusim.numerics.kernels import qadd, qconv, vnni
from npusim.numerics.kernels.conv import conv, conv_geometry
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


_CENTERED: dict = {}


def _centered_constant(q: np.ndarray, zp, channel_axis: int):
    """`_centered` of a weight, cached per weight array (graph constants are the same object
    on every run) and zero point; read-only."""
    import weakref
    key = id(q)
    extra = (channel_axis, None if zp is None else (np.asarray(zp).dtype.str,
                                                    np.asarray(zp).tobytes()))
    hit = _CENTERED.get(key)
    if hit is not None and hit[0]() is q and hit[1] == extra:
        return hit[2]
    v = _centered(q, zp, channel_axis)
    v.flags.writeable = False
    _CENTERED[key] = (weakref.ref(q, qconv._forgetter(key, _CENTERED)), extra, v)
    return v


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
    out_dtype = zy.dtype if zy is not None else x.dtype
    bias = _bias(ctx, b)
    fast = _vnni_conv(node, x, zx, w, zw)
    if fast is not None:
        conv, out_shape = fast
        correction = conv.correction if bias is None else conv.correction + bias
        if ctx.settings.scheme == "ort":
            y = _vnni_requantize_ort(node, ctx, conv, correction, sx, sw, sy, zy, out_dtype,
                                     out_shape)
            if y is not None:
                return [y]
        return [_finish(node, ctx, _vnni_acc(conv.raw(), correction, out_shape), sx, sw, sy,
                        zy, out_dtype, 1)]
    raw = _int8_conv(node, x, zx, w, zw)
    if raw is None:
        acc = _int_conv(_centered(x, zx), _centered(w, zw, 0), node)
        if bias is not None:
            acc = acc + bias.reshape((1, -1) + (1,) * (acc.ndim - 2))
        return [_finish(node, ctx, acc, sx, sw, sy, zy, out_dtype, 1)]
    cols, out_shape, packed = raw
    correction = -_i32(zx) * packed.row_sums
    if bias is not None:
        correction = correction + bias
    if ctx.settings.scheme == "ort":
        y = _requantize_ort(node, ctx, cols, packed, correction, sx, sw, sy, zy, out_dtype,
                            out_shape)
        if y is not None:
            return [y]
    acc = _raw_acc(cols, packed, correction, out_shape)
    return [_finish(node, ctx, acc, sx, sw, sy, zy, out_dtype, 1)]


def nhwc(x: np.ndarray) -> np.ndarray:
    """x (N, C, H, W) as a C-contiguous (N, H, W, C) array; no copy when x is already an
    NCHW view of channels-last memory (what the integer kernels return)."""
    t = x.transpose(0, 2, 3, 1)
    return t if t.flags.c_contiguous else np.ascontiguousarray(t)


def is_nhwc_view(x: np.ndarray) -> bool:
    """x is 4-D, NCHW-shaped, over C-contiguous channels-last memory (and not plain NCHW)."""
    return (x.ndim == 4 and not x.flags.c_contiguous
            and x.transpose(0, 2, 3, 1).flags.c_contiguous)


def _fast_conv_applies(node, x, zx, w, zw) -> bool:
    return not (x.ndim != 4 or w.ndim != 4 or node.attr("group", 1) != 1
                or x.dtype.kind not in "iu" or x.dtype.itemsize != 1 or w.dtype != np.int8
                or x.shape[1] != w.shape[1] or (zw is not None and np.asarray(zw).any())
                or (zx is not None and np.size(zx) != 1))


def _out_geometry(node, x, w):
    a = _conv_attrs(node)
    strides, pads, dilations = conv_geometry(x.shape, w.shape, strides=a["strides"],
                                             pads=a["pads"], dilations=a["dilations"],
                                             auto_pad=a["auto_pad"])
    kh, kw = w.shape[2:]
    out_h = (x.shape[2] + pads[0] + pads[2] - ((kh - 1) * dilations[0] + 1)) // strides[0] + 1
    out_w = (x.shape[3] + pads[1] + pads[3] - ((kw - 1) * dilations[1] + 1)) // strides[1] + 1
    return strides, pads, dilations, out_h, out_w


class _VnniConv:
    """One QLinearConv / ConvInteger on the VNNI kernels: channels-last activations padded
    (with the zero point) in space and to whole dwords in channels, the tap offsets, and the
    per-channel correction -zx * sum w of the raw sums."""

    def __init__(self, x, z, vw, strides, pads, dilations, out_h, out_w, kh, kw):
        n, c, h, wd = x.shape
        xh = nhwc(x)
        if x.dtype == np.int8:  # enter as uint8 x + 128 with zero point zx + 128
            xh = xh.view(np.uint8) ^ np.uint8(0x80)
            z += 128
        cp = vw.c_pad
        if any(pads) or cp != c:
            xp = np.full((n, h + pads[0] + pads[2], wd + pads[1] + pads[3], cp), z, np.uint8)
            xp[:, pads[0]:pads[0] + h, pads[1]:pads[1] + wd, :c] = xh
        else:
            xp = xh
        wp = xp.shape[2]
        self.images = [xp[i].reshape(-1) for i in range(n)]
        self.geometry = (strides[0] * wp * cp, strides[1] * cp, out_w, out_h * out_w,
                         np.array([(i * dilations[0] * wp + j * dilations[1]) * cp
                                   for i in range(kh) for j in range(kw)], np.int64), cp // 4)
        self.vw = vw
        self.correction = -z * vw.row_sums

    def raw(self):
        """Raw int32 sums (N, OH * OW, 16 * blocks), channels last."""
        n_p = self.geometry[3]
        out = np.empty((len(self.images), n_p, self.vw.n_blocks * vnni.LANES), np.int32)
        for i, xi in enumerate(self.images):
            vnni.conv_u8s8(xi, *self.geometry, self.vw.packed, self.vw.n_blocks, out[i],
                           numba.get_num_threads())
        return out


def _vnni_conv(node, x, zx, w, zw):
    """A _VnniConv and the output shape, or None where it does not apply (no AVX-512 VNNI,
    or the conditions of `_int8_conv`)."""
    if not vnni.AVAILABLE or not _fast_conv_applies(node, x, zx, w, zw):
        return None
    vw = vnni.vnni_weights(w)
    if vw.raw_bound > qconv.INT32_MAX:
        return None
    strides, pads, dilations, out_h, out_w = _out_geometry(node, x, w)
    if out_h <= 0 or out_w <= 0:
        return None
    kh, kw = w.shape[2:]
    return (_VnniConv(x, _i32(zx), vw, strides, pads, dilations, out_h, out_w, kh, kw),
            (x.shape[0], w.shape[0], out_h, out_w))


def _vnni_acc(raw, correction, out_shape):
    """Exact accumulators (N, M, OH, OW) int64 (an NCHW view of channels-last memory)."""
    n, m, out_h, out_w = out_shape
    acc = raw[:, :, :m].astype(np.int64) + correction
    return acc.reshape(n, out_h, out_w, m).transpose(0, 3, 1, 2)


def _ort_multiplier(sx, sw, sy, m):
    mult = (np.asarray(sx, np.float32) * np.asarray(sw, np.float32).reshape(-1)).astype(
        np.float32)
    mult = (mult / np.asarray(sy, np.float32)).astype(np.float32)
    return np.ascontiguousarray(np.broadcast_to(mult.reshape(-1), (m,)))


def _vnni_requantize_ort(node, ctx: Context, conv: _VnniConv, correction, sx, sw, sy, zy,
                         out_dtype, out_shape):
    """The convolution with `ort` requantization in its epilogue, into a channels-last
    output returned as an NCHW view; None where an accumulator leaves the accumulator range
    (or the multiplier is out of range)."""
    n, m, out_h, out_w = out_shape
    mult = _ort_multiplier(sx, sw, sy, m)
    if not np.all(np.abs(mult) < 2.0**30):  # the int64 rounding below stays in range
        return None
    lo, hi = int_range(out_dtype)
    clamp = node.attr("_clamp")
    if clamp is not None:
        lo, hi = max(lo, clamp[0]), min(hi, clamp[1])
    y = np.empty((n, out_h, out_w, m), out_dtype)
    flat = y.reshape(n, out_h * out_w, m)
    correction = np.ascontiguousarray(correction, np.int64)
    zp = _i32(zy)
    narrow = bool(conv.vw.raw_bound + int(np.abs(correction).max(initial=0)) < 2**31
                  and -(2**16) < lo <= hi < 2**16 and -(2**16) < zp < 2**16)
    saturated, biggest = 0, 0
    for i, xi in enumerate(conv.images):
        s, b = vnni.conv_u8s8_ort(xi, *conv.geometry, conv.vw.packed, conv.vw.n_blocks,
                                  correction, mult, zp, lo, hi, flat[i],
                                  numba.get_num_threads(), narrow)
        saturated, biggest = saturated + int(s), max(biggest, int(b))
    if not ctx.note_accumulator(node, biggest):
        return None
    ctx.record_saturation(node, saturated, y.size)
    return y.transpose(0, 3, 1, 2)


def _int8_conv(node, x, zx, w, zw):
    """im2col matrices (one per image, (P, K) 8-bit), the output shape and the packed
    weights for the numba kernels, or None where they do not apply (then the float64-exact
    path runs).

    Applies to 2-D, ungrouped convolutions of 8-bit activations (one zero point) with int8
    weights of zero point 0, whose raw sums provably fit int32.
    """
    if (x.ndim != 4 or w.ndim != 4 or node.attr("group", 1) != 1 or x.dtype.kind not in "iu"
            or x.dtype.itemsize != 1 or w.dtype != np.int8 or x.shape[1] != w.shape[1]
            or (zw is not None and np.any(zw)) or (zx is not None and np.size(zx) != 1)):
        return None
    packed = qconv.packed_weights(w)
    if packed.raw_bound > qconv.INT32_MAX:
        return None
    a = _conv_attrs(node)
    strides, pads, dilations = conv_geometry(x.shape, w.shape, strides=a["strides"],
                                             pads=a["pads"], dilations=a["dilations"],
                                             auto_pad=a["auto_pad"])
    n, c, h, wd = x.shape
    m, _, kh, kw = w.shape
    out_h = (h + pads[0] + pads[2] - ((kh - 1) * dilations[0] + 1)) // strides[0] + 1
    out_w = (wd + pads[1] + pads[3] - ((kw - 1) * dilations[1] + 1)) // strides[1] + 1
    if out_h <= 0 or out_w <= 0:
        return None
    pad_value = x.dtype.type(_i32(zx))  # x - zx = 0 in the padding, as in the float path
    cols = []
    for i in range(n):
        col = np.empty((out_h * out_w, c * kh * kw), x.dtype)
        qconv.im2col(np.ascontiguousarray(x[i]), kh, kw, strides[0], strides[1], dilations[0],
                     dilations[1], pads[0], pads[1], out_h, out_w, pad_value, col)
        cols.append(col)
    return cols, (n, m, out_h, out_w), packed


def _raw_acc(cols, packed, correction, out_shape):
    """Exact accumulators (N, M, OH, OW) int64: raw int32 sums plus a per-channel correction."""
    n, m = out_shape[:2]
    sums = np.empty((n, cols[0].shape[0], m), np.int32)
    for i, col in enumerate(cols):
        qconv.gemm_int32(col, packed.matrix, sums[i])
    acc = sums.astype(np.int64) + correction
    return acc.transpose(0, 2, 1).reshape(out_shape)


def _requantize_ort(node, ctx: Context, cols, packed, correction, sx, sw, sy, zy, out_dtype,
                    out_shape):
    """GEMM and `ort` requantization in one numba pass; None where an accumulator leaves the
    accumulator range (the caller's general path then raises or records the overflow)."""
    n, m = out_shape[:2]
    mult = (np.asarray(sx, np.float32) * np.asarray(sw, np.float32).reshape(-1)).astype(
        np.float32)
    mult = (mult / np.asarray(sy, np.float32)).astype(np.float32)
    mult = np.ascontiguousarray(np.broadcast_to(mult.reshape(-1), (m,)))
    if not np.all(np.abs(mult) < 2.0**30):  # the int64 rounding below stays in range
        return None
    lo, hi = int_range(out_dtype)
    clamp = node.attr("_clamp")
    if clamp is not None:
        lo, hi = max(lo, clamp[0]), min(hi, clamp[1])
    y = np.empty(out_shape, out_dtype)
    flat = y.reshape(n, m, -1)
    saturated, biggest = 0, 0
    correction = np.ascontiguousarray(correction, np.int64)
    for i, col in enumerate(cols):
        s, b = qconv.gemm_requantize_ort(col, packed.matrix, correction, mult, _i32(zy), lo,
                                         hi, flat[i])
        saturated, biggest = saturated + int(s), max(biggest, int(b))
    if not ctx.note_accumulator(node, biggest):
        return None
    ctx.record_saturation(node, saturated, y.size)
    return y


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
    bv = _centered_constant(b, zb, 0 if node.attr("transB", 0) else 1)
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
    fast = _vnni_conv(node, x, zx, w, zw)
    if fast is not None:
        conv, out_shape = fast
        return [ctx.check_accumulator(node, _vnni_acc(conv.raw(), conv.correction,
                                                      out_shape)).astype(np.int32)]
    raw = _int8_conv(node, x, zx, w, zw)
    if raw is None:
        acc = _int_conv(_centered(x, zx), _centered(w, zw, 0), node)
    else:
        cols, out_shape, packed = raw
        acc = _raw_acc(cols, packed, -_i32(zx) * packed.row_sums, out_shape)
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


def _mlas_add_constants(sa, za, sb, zb, sc, zc):
    ra = np.float32(_f32(sa) / _f32(sc))
    rb = np.float32(_f32(sb) / _f32(sc))
    # (float)zc - (ra * za + rb * zb), compiled with FMA contraction of the first product
    inner = fma32(ra, np.float32(_i32(za)), np.float32(rb * np.float32(_i32(zb))))
    fixed = np.float32(np.float32(_i32(zc)) - inner)
    return ra, rb, fixed


def _mlas_add_8bit(node, ctx, a, b, sa, za, sb, zb, sc, zc, out_dtype):
    """The same-shape 8-bit case in vector FMAs (a table lookup for unusual clamp bounds);
    None for any other (broadcasts)."""
    if (a.shape != b.shape or a.dtype.itemsize != 1 or b.dtype.itemsize != 1
            or a.dtype.kind not in "iu" or b.dtype.kind not in "iu" or out_dtype.kind not in "iu"):
        return None
    ra, rb, fixed = _mlas_add_constants(sa, za, sb, zb, sc, zc)
    lo, hi = int_range(out_dtype)
    clamp = node.attr("_clamp")
    if clamp is not None:
        lo, hi = max(lo, clamp[0]), min(hi, clamp[1])
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
