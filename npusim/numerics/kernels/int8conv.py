"""Adapters from a QLinearConv / ConvInteger node to the numba int8 kernels: the AVX-512 VNNI
direct convolution over channels-last data (vnni.py) and the portable im2col GEMM (qconv.py),
each with the `ort` requantization fused in its epilogue."""

from __future__ import annotations

import numba
import numpy as np

from npusim.numerics.kernels import qconv, vnni
from npusim.numerics.kernels.conv import conv_geometry
from npusim.numerics.ops.context import Context
from npusim.numerics.ops.qcommon import out_range, scalar_i32


def conv_attrs(node):
    return dict(group=node.attr("group", 1), strides=node.attr("strides"),
                pads=node.attr("pads"), dilations=node.attr("dilations"),
                auto_pad=node.attr("auto_pad", "NOTSET"))


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
    a = conv_attrs(node)
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
    return (_VnniConv(x, scalar_i32(zx), vw, strides, pads, dilations, out_h, out_w, kh, kw),
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
    lo, hi = out_range(node, out_dtype)
    y = np.empty((n, out_h, out_w, m), out_dtype)
    flat = y.reshape(n, out_h * out_w, m)
    correction = np.ascontiguousarray(correction, np.int64)
    zp = scalar_i32(zy)
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
    a = conv_attrs(node)
    strides, pads, dilations = conv_geometry(x.shape, w.shape, strides=a["strides"],
                                             pads=a["pads"], dilations=a["dilations"],
                                             auto_pad=a["auto_pad"])
    n, c, h, wd = x.shape
    m, _, kh, kw = w.shape
    out_h = (h + pads[0] + pads[2] - ((kh - 1) * dilations[0] + 1)) // strides[0] + 1
    out_w = (wd + pads[1] + pads[3] - ((kw - 1) * dilations[1] + 1)) // strides[1] + 1
    if out_h <= 0 or out_w <= 0:
        return None
    pad_value = x.dtype.type(scalar_i32(zx))  # x - zx = 0 in the padding, as in the float path
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
    lo, hi = out_range(node, out_dtype)
    y = np.empty(out_shape, out_dtype)
    flat = y.reshape(n, m, -1)
    saturated, biggest = 0, 0
    correction = np.ascontiguousarray(correction, np.int64)
    for i, col in enumerate(cols):
        s, b = qconv.gemm_requantize_ort(col, packed.matrix, correction, mult, scalar_i32(zy), lo,
                                         hi, flat[i])
        saturated, biggest = saturated + int(s), max(biggest, int(b))
    if not ctx.note_accumulator(node, biggest):
        return None
    ctx.record_saturation(node, saturated, y.size)
    return y
