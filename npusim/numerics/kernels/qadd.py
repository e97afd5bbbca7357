"""onnxruntime's QLinearAdd (MLAS) on two 8-bit tensors of one shape, as a table lookup.

Each output depends only on the pair (a, b) of 8-bit inputs, so the 65,536 results of two
float32 FMAs, round half to even and clamp are computed once per set of constants; the run
is then one gather per element.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from npusim.numerics.kernels.fma import fma32_native, fma32_scalar
from npusim.numerics.kernels.vnni import total, zeros_i64

_TABLES: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


@numba.njit(cache=True)
def _build(a_signed, b_signed, ra, rb, fixed, lo, hi, values, clamped):
    for ia in range(256):
        av = ia - 256 if a_signed and ia >= 128 else ia
        for ib in range(256):
            bv = ib - 256 if b_signed and ib >= 128 else ib
            t = fma32_scalar(np.float32(av), ra, fma32_scalar(np.float32(bv), rb, fixed))
            v = np.int64(np.rint(t))
            c = 1 if v < lo or v > hi else 0
            v = min(max(v, lo), hi)  # np.clip's order, also for lo > hi
            values[ia * 256 + ib] = v
            clamped[ia * 256 + ib] = c


def add_table(a_dtype, b_dtype, out_dtype, ra, rb, fixed, lo: int, hi: int):
    """(values, clamped) indexed by a_byte * 256 + b_byte, cached per constants."""
    key = (a_dtype.str, b_dtype.str, out_dtype.str, float(ra), float(rb), float(fixed), lo, hi)
    hit = _TABLES.get(key)
    if hit is None:
        values = np.empty(65536, out_dtype)
        clamped = np.empty(65536, np.uint8)
        _build(a_dtype.kind == "i", b_dtype.kind == "i", np.float32(ra), np.float32(rb),
               np.float32(fixed), lo, hi, values, clamped)
        hit = _TABLES[key] = (values, clamped)
    return hit


@numba.njit(cache=True, parallel=True)
def apply_table(a, b, values, clamped, out):
    """out[i] = values[a[i] * 256 + b[i]] over flat uint8 views; returns the clamped count."""
    n = out.size
    chunk = 65536
    n_chunks = (n + chunk - 1) // chunk
    sat = np.zeros(n_chunks, np.int64)
    for c in prange(n_chunks):
        s = 0
        for i in range(c * chunk, min(n, (c + 1) * chunk)):
            j = np.int64(a[i]) * 256 + np.int64(b[i])
            out[i] = values[j]
            s += clamped[j]
        sat[c] = s
    return sat.sum()


@numba.njit(cache=True, parallel=True)
def add_fma(a, b, ra, rb, fixed, lo, hi, out):
    """out[i] = clamp(rne(fma(a[i], ra, fma(b[i], rb, fixed))), lo, hi) over flat 8-bit
    arrays (their own signedness), the same values as the table, computed in vector FMAs;
    returns the clamped count."""
    n = out.size
    chunk = 65536
    n_chunks = (n + chunk - 1) // chunk
    sat = zeros_i64(n_chunks)  # serial helpers: see vnni.py
    # clamping t to [lo - 1, hi + 1] first keeps the int conversion in range and changes
    # neither the clamped value nor whether it was clamped
    flo = np.float32(lo - 1)
    fhi = np.float32(hi + 1)
    for c in prange(n_chunks):
        # slices indexed from 0: LLVM then sees non-negative indices and vectorizes
        aa = a[c * chunk:(c + 1) * chunk]
        bb = b[c * chunk:(c + 1) * chunk]
        oo = out[c * chunk:(c + 1) * chunk]
        s = 0
        for i in range(oo.size):
            t = fma32_native(np.float32(aa[i]), ra, fma32_native(np.float32(bb[i]), rb, fixed))
            t = min(max(t, flo), fhi)
            v = np.int32(np.rint(t))
            s += 1 if (v < lo) | (v > hi) else 0
            oo[i] = min(max(v, lo), hi)
        sat[c] = s
    return total(sat)
