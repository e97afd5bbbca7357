"""Integer 2-D convolution for QLinearConv / ConvInteger: im2col of uint8 / int8 activations
and an exact int32 GEMM against int8 weights in numba, with `ort` requantization as one pass.

Exact by construction: the raw sum of x * w over a window is bounded statically (|x| <= 255
times the largest per-channel sum of |w|) and only used where that bound fits in int32; the
zero point and bias enter afterwards in int64 as one per-channel correction.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numba
import numpy as np
from numba import prange

INT32_MAX = 2**31 - 1


@dataclass(frozen=True, slots=True)
class PackedWeights:
    """int8 weights as an (M, C*KH*KW) matrix with their per-channel sums, made once."""

    matrix: np.ndarray    # (M, K) int8, C-contiguous
    row_sums: np.ndarray  # (M,) int64: sum_k w[m, k]
    raw_bound: int        # 255 * max_m sum_k |w[m, k]|: bound on any partial raw sum


_PACKED: dict[int, tuple[weakref.ref, PackedWeights]] = {}


def packed_weights(w: np.ndarray) -> PackedWeights:
    """PackedWeights of `w`, cached per weight array (graph constants are the same object on
    every run, so a session packs each layer once)."""
    key = id(w)
    hit = _PACKED.get(key)
    if hit is not None and hit[0]() is w:
        return hit[1]
    mat = np.ascontiguousarray(w.reshape(w.shape[0], -1), dtype=np.int8)
    wide = mat.astype(np.int64)
    packed = PackedWeights(mat, wide.sum(axis=1), 255 * int(np.abs(wide).sum(axis=1).max(
        initial=0)))
    _PACKED[key] = (weakref.ref(w, _forgetter(key)), packed)
    return packed


def _forgetter(key: int, table: dict = _PACKED):
    def forget(ref: weakref.ref) -> None:
        # only the entry of this array (its id may be reused by a later one)
        if table.get(key, (None,))[0] is ref:
            del table[key]
    return forget


@numba.njit(cache=True, parallel=True)
def im2col(x, kh, kw, sh, sw, dh, dw, pad_top, pad_left, out_h, out_w, pad_value, cols):
    """cols[p, (c, i, j)] = x[c, y, x'] of output pixel p's window; pad_value outside x."""
    chans, height, width = x.shape
    for oy in prange(out_h):
        row = oy * out_w
        for c in range(chans):
            for i in range(kh):
                y = oy * sh - pad_top + i * dh
                inside_y = 0 <= y < height
                for j in range(kw):
                    k = (c * kh + i) * kw + j
                    for ox in range(out_w):
                        xx = ox * sw - pad_left + j * dw
                        if inside_y and 0 <= xx < width:
                            cols[row + ox, k] = x[c, y, xx]
                        else:
                            cols[row + ox, k] = pad_value


@numba.njit(cache=True)
def _tile(a, b, p0, p1, m):
    """16 dot products over k: pixels p0, p1 against channels m .. m+7, in int32.

    np.int32(...) keeps the sums 32-bit, which is what lets LLVM vectorize the k loop
    (vpdpwssd on AVX-512 VNNI); the caller guarantees no sum leaves int32.
    """
    c00 = c01 = c02 = c03 = c04 = c05 = c06 = c07 = np.int32(0)
    c10 = c11 = c12 = c13 = c14 = c15 = c16 = c17 = np.int32(0)
    for k in range(a.shape[1]):
        x0 = np.int32(a[p0, k])
        x1 = np.int32(a[p1, k])
        w0 = np.int32(b[m, k])
        w1 = np.int32(b[m + 1, k])
        w2 = np.int32(b[m + 2, k])
        w3 = np.int32(b[m + 3, k])
        w4 = np.int32(b[m + 4, k])
        w5 = np.int32(b[m + 5, k])
        w6 = np.int32(b[m + 6, k])
        w7 = np.int32(b[m + 7, k])
        c00 = np.int32(c00 + x0 * w0)
        c01 = np.int32(c01 + x0 * w1)
        c02 = np.int32(c02 + x0 * w2)
        c03 = np.int32(c03 + x0 * w3)
        c04 = np.int32(c04 + x0 * w4)
        c05 = np.int32(c05 + x0 * w5)
        c06 = np.int32(c06 + x0 * w6)
        c07 = np.int32(c07 + x0 * w7)
        c10 = np.int32(c10 + x1 * w0)
        c11 = np.int32(c11 + x1 * w1)
        c12 = np.int32(c12 + x1 * w2)
        c13 = np.int32(c13 + x1 * w3)
        c14 = np.int32(c14 + x1 * w4)
        c15 = np.int32(c15 + x1 * w5)
        c16 = np.int32(c16 + x1 * w6)
        c17 = np.int32(c17 + x1 * w7)
    return ((c00, c01, c02, c03, c04, c05, c06, c07),
            (c10, c11, c12, c13, c14, c15, c16, c17))


@numba.njit(cache=True)
def _dot(a, b, p, m):
    s = np.int32(0)
    for k in range(a.shape[1]):
        s = np.int32(s + np.int32(a[p, k]) * np.int32(b[m, k]))
    return s


@numba.njit(cache=True, parallel=True)
def gemm_int32(a, b, out):
    """out[p, m] = sum_k a[p, k] * b[m, k] in int32, for a (P, K) 8-bit and b (M, K) int8."""
    n_p = a.shape[0]
    n_m = b.shape[0]
    for pb in prange((n_p + 1) // 2):
        p0 = 2 * pb
        p1 = min(p0 + 1, n_p - 1)  # an odd last row is computed twice, identically
        m = 0
        while m + 8 <= n_m:
            r0, r1 = _tile(a, b, p0, p1, m)
            for j in range(8):
                out[p0, m + j] = r0[j]
                out[p1, m + j] = r1[j]
            m += 8
        for mm in range(m, n_m):
            out[p0, mm] = _dot(a, b, p0, mm)
            out[p1, mm] = _dot(a, b, p1, mm)


@numba.njit(cache=True)
def _store_ort(out, m, p, raw, correction, multiplier, zp_out, lo, hi):
    """out[m, p] = sat(rne(f32(f32(acc) * M[m])) + zp) for acc = raw + correction[m];
    returns (1 if saturated else 0, |acc|)."""
    acc = np.int64(raw) + correction[m]
    v = np.int64(np.rint(np.float32(np.float32(acc) * multiplier[m]))) + zp_out
    sat = 1 if v < lo or v > hi else 0
    v = min(max(v, lo), hi)  # np.clip's order, also for lo > hi
    out[m, p] = v
    return sat, acc if acc >= 0 else -acc


@numba.njit(cache=True, parallel=True)
def gemm_requantize_ort(a, b, correction, multiplier, zp_out, lo, hi, out):
    """`ort` QLinearConv output out[m, p] (NCHW): the raw sums of `gemm_int32` plus
    correction[m] (bias - zx * sum w), requantized in the GEMM's epilogue.

    Returns (saturated count, max |acc|); where max |acc| leaves the accumulator range the
    caller discards `out` and takes the general path (which raises or records).
    """
    n_p = a.shape[0]
    n_m = b.shape[0]
    n_pb = (n_p + 1) // 2
    sat = np.zeros(n_pb, np.int64)
    big = np.zeros(n_pb, np.int64)
    for pb in prange(n_pb):
        p0 = 2 * pb
        p1 = min(p0 + 1, n_p - 1)
        s = 0
        top = 0
        m = 0
        while m + 8 <= n_m:
            r0, r1 = _tile(a, b, p0, p1, m)
            for j in range(8):
                t, mag = _store_ort(out, m + j, p0, r0[j], correction, multiplier, zp_out,
                                    lo, hi)
                s += t
                top = max(top, mag)
                if p1 != p0:
                    t, mag = _store_ort(out, m + j, p1, r1[j], correction, multiplier,
                                        zp_out, lo, hi)
                    s += t
                    top = max(top, mag)
            m += 8
        for mm in range(m, n_m):
            t, mag = _store_ort(out, mm, p0, _dot(a, b, p0, mm), correction, multiplier,
                                zp_out, lo, hi)
            s += t
            top = max(top, mag)
            if p1 != p0:
                t, mag = _store_ort(out, mm, p1, _dot(a, b, p1, mm), correction, multiplier,
                                    zp_out, lo, hi)
                s += t
                top = max(top, mag)
        sat[pb] = s
        big[pb] = top
    return sat.sum(), big.max() if n_pb else 0


# --- channels last -------------------------------------------------------------------------
# Integer kernels keep activations as NHWC memory behind an NCHW-shaped view
# (`y_nhwc.transpose(0, 3, 1, 2)`): the values are the same, only the strides differ, so
# every consumer sees an ordinary NCHW array while the next convolution (vnni.py) reads
# each pixel's channels as one contiguous run.


@numba.njit(cache=True, parallel=True)
def max_pool_nhwc(x, kh, kw, sh, sw, dh, dw, pad_top, pad_left, low, y):
    """y[n, oy, ox, c] = max over the window of x (N, H, W, C); `low` (the dtype's minimum)
    stands for the padding, as the padded float path does."""
    n_img, height, width, chans = x.shape
    _, out_h, out_w, _ = y.shape
    for t in prange(n_img * out_h):
        n = t // out_h
        oy = t - n * out_h
        for ox in range(out_w):
            for c in range(chans):
                y[n, oy, ox, c] = low
            for i in range(kh):
                yy = oy * sh - pad_top + i * dh
                if yy < 0 or yy >= height:
                    continue
                for j in range(kw):
                    xx = ox * sw - pad_left + j * dw
                    if xx < 0 or xx >= width:
                        continue
                    for c in range(chans):
                        v = x[n, yy, xx, c]
                        if v > y[n, oy, ox, c]:
                            y[n, oy, ox, c] = v
