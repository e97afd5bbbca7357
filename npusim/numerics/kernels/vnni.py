"""u8 x s8 -> int32 GEMM with AVX-512 VNNI (vpdpbusd), for the QLinearConv fast path.

numba does not emit vpdpbusd from scalar code (LLVM only pairs i16 products), so a 16-lane
int32 vector type and five intrinsics (zero, load, broadcast, vpdpbusd, store, in
avx512.py) are exposed to numba and the microkernel is written with them: 4 pixels x 64
output channels of int32 accumulators stay in registers over the whole reduction. The
convolution is direct over channels-last (padded) activations, each kernel tap a run of
contiguous channel bytes, so there is no im2col; the `ort` requantization runs in the
tile's epilogue.

Exactness: vpdpbusd forms each u8 * s8 product exactly (it fits 16 bits) and adds the four
products of a lane and the accumulator in int32 without saturation, i.e. modulo 2^32; the
callers only use it where a static bound proves every partial sum fits in int32, so the
result is the exact sum.

`AVAILABLE` is False where the host CPU lacks AVX-512 VNNI; callers then use the portable
kernels in qconv.py.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from npusim.numerics.kernels.avx512 import (  # noqa: F401 (AVAILABLE, LANES re-exported)
    AVAILABLE,
    BLOCKS,
    LANES,
    ROWS,
    claim,
    largest,
    total,
    vbroadcast,
    vdpbusd,
    vload,
    vstore,
    vzero,
    zeros_i64,
)


def pack_weights(mat: np.ndarray) -> np.ndarray:
    """(M, K) int8 -> flat [M/16 blocks][K/4][16 channels][4] int8, both padded with 0."""
    m, k = mat.shape
    mp = -(-m // LANES) * LANES
    kp = -(-k // 4) * 4
    w = np.zeros((mp, kp), np.int8)
    w[:m, :k] = mat
    return np.ascontiguousarray(
        w.reshape(mp // LANES, LANES, kp // 4, 4).transpose(0, 2, 1, 3)).reshape(-1)


@numba.njit(cache=True, inline="always")
def _tile(x, r0, r1, r2, r3, taps, c4, b, b0, d1, d2, d3):
    """4 pixels x 4 blocks of 16 channels: for each tap t, pixel row r reads c4 * 4 bytes of
    x from r + taps[t]; the weights run on from b0 (blocks at b0 + d1, d2, d3)."""
    c00 = c01 = c02 = c03 = vzero()
    c10 = c11 = c12 = c13 = vzero()
    c20 = c21 = c22 = c23 = vzero()
    c30 = c31 = c32 = c33 = vzero()
    kb = b0
    for t in range(taps.size):
        o = taps[t]
        a0 = r0 + o
        a1 = r1 + o
        a2 = r2 + o
        a3 = r3 + o
        for kk in range(c4):
            w0 = vload(b, kb)
            w1 = vload(b, kb + d1)
            w2 = vload(b, kb + d2)
            w3 = vload(b, kb + d3)
            kb += 64
            v = vbroadcast(x, a0 + 4 * kk)
            c00 = vdpbusd(c00, v, w0)
            c01 = vdpbusd(c01, v, w1)
            c02 = vdpbusd(c02, v, w2)
            c03 = vdpbusd(c03, v, w3)
            v = vbroadcast(x, a1 + 4 * kk)
            c10 = vdpbusd(c10, v, w0)
            c11 = vdpbusd(c11, v, w1)
            c12 = vdpbusd(c12, v, w2)
            c13 = vdpbusd(c13, v, w3)
            v = vbroadcast(x, a2 + 4 * kk)
            c20 = vdpbusd(c20, v, w0)
            c21 = vdpbusd(c21, v, w1)
            c22 = vdpbusd(c22, v, w2)
            c23 = vdpbusd(c23, v, w3)
            v = vbroadcast(x, a3 + 4 * kk)
            c30 = vdpbusd(c30, v, w0)
            c31 = vdpbusd(c31, v, w1)
            c32 = vdpbusd(c32, v, w2)
            c33 = vdpbusd(c33, v, w3)
    return (c00, c01, c02, c03, c10, c11, c12, c13,
            c20, c21, c22, c23, c30, c31, c32, c33)


@numba.njit(cache=True, inline="always")
def _spill(scratch, c):
    """The tile's 16 vectors into scratch[4 rows][64 channels]."""
    vstore(scratch, 0, c[0])
    vstore(scratch, 16, c[1])
    vstore(scratch, 32, c[2])
    vstore(scratch, 48, c[3])
    vstore(scratch, 64, c[4])
    vstore(scratch, 80, c[5])
    vstore(scratch, 96, c[6])
    vstore(scratch, 112, c[7])
    vstore(scratch, 128, c[8])
    vstore(scratch, 144, c[9])
    vstore(scratch, 160, c[10])
    vstore(scratch, 176, c[11])
    vstore(scratch, 192, c[12])
    vstore(scratch, 208, c[13])
    vstore(scratch, 224, c[14])
    vstore(scratch, 240, c[15])


@numba.njit(cache=True, inline="always")
def _row_base(p, out_w, row_step, pix_step):
    oy = p // out_w
    return oy * row_step + (p - oy * out_w) * pix_step


@numba.njit(cache=True, inline="always")
def _task(t, n_rows, n_blocks, k4):
    """Task t of the parallel loop: rows [p0, p1) of a 32-row chunk (a's chunk stays in
    cache), channel group g (64 channels), its weights' offset and the block offsets."""
    chunk = 32
    n_groups = (n_blocks + BLOCKS - 1) // BLOCKS
    c = t // n_groups
    g = t - c * n_groups
    nb = min(BLOCKS, n_blocks - g * BLOCKS)
    bs = k4 * 64
    d1 = bs if nb > 1 else 0   # missing blocks recompute block 0 and are not stored
    d2 = 2 * bs if nb > 2 else 0
    d3 = 3 * bs if nb > 3 else 0
    return c * chunk, min(n_rows, (c + 1) * chunk), g, nb, g * BLOCKS * bs, d1, d2, d3


@numba.njit(cache=True, inline="always")
def _n_tasks(n_rows, n_blocks):
    return ((n_rows + 31) // 32) * ((n_blocks + BLOCKS - 1) // BLOCKS)


@numba.njit(cache=True, inline="always")
def _n_workers(n_tasks, threads):
    return max(1, min(threads, n_tasks))


@numba.njit(cache=True, parallel=True)
def conv_u8s8(x, row_step, pix_step, out_w, n_rows, taps, c4, b, n_blocks, out, threads):
    """Raw sums out[p, m] (int32, wrapping) of a direct convolution over channels-last x.

    x is a flat uint8 image (padded, channels a multiple of 4); output pixel p = (oy, ox)
    reads, for tap t, c4 * 4 bytes at oy * row_step + ox * pix_step + taps[t]; b is
    pack_weights of the (M, taps * c4 * 4) weights in (tap, channel) order; out is
    (n_rows, >= 16 * n_blocks). A plain GEMM is out_w = 1, row_step = lda, taps = [0].
    `threads` is numba.get_num_threads() (read in Python: inside, it would stop caching).
    """
    k4 = taps.size * c4
    n_t = _n_tasks(n_rows, n_blocks)
    n_w = _n_workers(n_t, threads)
    counter = zeros_i64(1)
    for _ in prange(n_w):
        scratch = np.empty(ROWS * BLOCKS * LANES, np.int32)
        t = claim(counter)
        while t < n_t:
            p_beg, p_end, g, nb, b0, d1, d2, d3 = _task(t, n_rows, n_blocks, k4)
            t = claim(counter)
            m0 = g * BLOCKS * LANES
            for p in range(p_beg, p_end, ROWS):
                last = p_end - 1
                c = _tile(x, _row_base(p, out_w, row_step, pix_step),
                          _row_base(min(p + 1, last), out_w, row_step, pix_step),
                          _row_base(min(p + 2, last), out_w, row_step, pix_step),
                          _row_base(min(p + 3, last), out_w, row_step, pix_step),
                          taps, c4, b, b0, d1, d2, d3)
                _spill(scratch, c)
                for r in range(min(ROWS, p_end - p)):
                    row = np.uint64(r * BLOCKS * LANES)
                    pp = np.uint64(p + r)
                    mb = np.uint64(m0)
                    # unsigned indices, no views (see _requantize)
                    for j in range(nb * LANES):
                        jj = np.uint64(j)
                        out[pp, mb + jj] = scratch[row + jj]


@numba.njit(cache=True, inline="always")
def _requantize(scratch, row, correction, multiplier, m0, m1, zp_out, lo, hi, y, p):
    """y[p, m] = sat(rne(f32(f32(acc) * M[m])) + zp) for m0 <= m < m1, acc = the tile's raw
    sum scratch[row + m - m0] + correction[m]; returns (saturated count, max |acc|).

    Indices are unsigned (numba then drops the negative-index wraparound and LLVM
    vectorizes) and no array is sliced: a view would touch the parent's reference count,
    an atomic that the threads of the parallel loop contend on.
    """
    s = 0
    top = 0
    r = np.uint64(row)
    mb = np.uint64(m0)
    pp = np.uint64(p)
    for j in range(m1 - m0):
        jj = np.uint64(j)
        m = mb + jj
        acc = np.int64(scratch[r + jj]) + correction[m]
        top = max(top, abs(acc))
        v = np.int64(np.rint(np.float32(np.float32(acc) * multiplier[m]))) + zp_out
        s += 1 if (v < lo) | (v > hi) else 0
        y[pp, m] = min(max(v, lo), hi)  # np.clip's order, also for lo > hi
    return s, top


@numba.njit(cache=True, inline="always")
def _requantize32(scratch, row, correction, multiplier, m0, m1, zp_out, lo, hi, y, p):
    """`_requantize` in 32-bit lanes, for a caller that proved |raw| + |correction| fits
    int32: the same acc (exact), f32(acc) (rounded once either way) and result. The product
    is clamped to [lo - zp - 1, hi - zp + 1] before the int32 conversion, which changes
    neither the clamped value nor whether it was clamped."""
    s = 0
    top = np.int32(0)
    r = np.uint64(row)
    mb = np.uint64(m0)
    pp = np.uint64(p)
    flo = np.float32(lo - zp_out - 1)
    fhi = np.float32(hi - zp_out + 1)
    z = np.int32(zp_out)
    lo32 = np.int32(lo)
    hi32 = np.int32(hi)
    for j in range(m1 - m0):
        jj = np.uint64(j)
        m = mb + jj
        acc = np.int32(scratch[r + jj] + np.int32(correction[m]))
        top = max(top, np.int32(abs(acc)))
        t = np.float32(np.float32(acc) * multiplier[m])
        v = np.int32(np.int32(np.rint(min(max(t, flo), fhi))) + z)
        s += 1 if (v < lo32) | (v > hi32) else 0
        y[pp, m] = min(max(v, lo32), hi32)  # np.clip's order, also for lo > hi
    return s, np.int64(top)


@numba.njit(cache=True, parallel=True)
def conv_u8s8_ort(x, row_step, pix_step, out_w, n_rows, taps, c4, b, n_blocks, correction,
                  multiplier, zp_out, lo, hi, y, threads, narrow):
    """`conv_u8s8` with the `ort` requantization in its epilogue: y[p, m] (channels last,
    (n_rows, M)) = sat(rne(f32(f32(acc) * M[m])) + zp) for acc = raw + correction[m].
    `narrow`: the caller proved |raw| + |correction| < 2^31 and lo, hi, zp are 8/16-bit,
    so the epilogue runs in 32-bit lanes. Returns (saturated count, max |acc|)."""
    k4 = taps.size * c4
    n_m = y.shape[1]
    n_t = _n_tasks(n_rows, n_blocks)
    n_w = _n_workers(n_t, threads)
    counter = zeros_i64(1)
    sat = zeros_i64(n_w)
    big = zeros_i64(n_w)
    for wk in prange(n_w):
        scratch = np.empty(ROWS * BLOCKS * LANES, np.int32)
        s = 0
        top = 0
        t = claim(counter)
        while t < n_t:
            p_beg, p_end, g, nb, b0, d1, d2, d3 = _task(t, n_rows, n_blocks, k4)
            t = claim(counter)
            m0 = g * BLOCKS * LANES
            m1 = min(n_m, m0 + nb * LANES)
            for p in range(p_beg, p_end, ROWS):
                last = p_end - 1
                c = _tile(x, _row_base(p, out_w, row_step, pix_step),
                          _row_base(min(p + 1, last), out_w, row_step, pix_step),
                          _row_base(min(p + 2, last), out_w, row_step, pix_step),
                          _row_base(min(p + 3, last), out_w, row_step, pix_step),
                          taps, c4, b, b0, d1, d2, d3)
                _spill(scratch, c)
                for r in range(min(ROWS, p_end - p)):
                    if narrow:
                        ds, dt = _requantize32(scratch, r * BLOCKS * LANES, correction,
                                               multiplier, m0, m1, zp_out, lo, hi, y, p + r)
                    else:
                        ds, dt = _requantize(scratch, r * BLOCKS * LANES, correction,
                                             multiplier, m0, m1, zp_out, lo, hi, y, p + r)
                    s += ds
                    top = max(top, dt)
        sat[wk] = s
        big[wk] = top
    return total(sat), largest(big)


class VnniWeights:
    """Conv weights (M, C, KH, KW) int8 packed once for conv_u8s8, in channels-last window
    order (i, j, c), with the per-channel sums and the static bound on any raw partial sum."""

    __slots__ = ("packed", "row_sums", "raw_bound", "c_pad", "n_blocks", "__weakref__")

    def __init__(self, w: np.ndarray):
        m, c, kh, kw = w.shape
        self.c_pad = -(-c // 4) * 4              # input channels padded to whole dwords
        mat = np.zeros((m, kh, kw, self.c_pad), np.int8)
        mat[..., :c] = w.transpose(0, 2, 3, 1)
        wide = mat.reshape(m, -1).astype(np.int64)
        self.row_sums = wide.sum(axis=1)
        self.raw_bound = 255 * int(np.abs(wide).sum(axis=1).max(initial=0))
        self.n_blocks = -(-m // LANES)
        self.packed = pack_weights(mat.reshape(m, -1))


_PACKED: dict = {}


def vnni_weights(w: np.ndarray) -> VnniWeights:
    """VnniWeights of `w`, cached per weight array (graph constants are the same object on
    every run, so a session packs each layer once)."""
    import weakref

    from npusim.numerics.kernels.qconv import _forgetter
    key = id(w)
    hit = _PACKED.get(key)
    if hit is not None and hit[0]() is w:
        return hit[1]
    packed = VnniWeights(w)
    _PACKED[key] = (weakref.ref(w, _forgetter(key, _PACKED)), packed)
    return packed
