"""Error metrics between a reference tensor and its quantized counterpart (both float), each
from one numba pass that accumulates in float64 (`errors` returns all three at once)."""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True)
def _moments(r, t):
    """sum r^2, sum (r - t)^2, sum r t, sum t^2 and max |r - t| over flat arrays. Equal
    values are no error, non-finite ones included (a -inf attention mask on both sides, NaN
    on both); a non-finite value on one side only is an infinite error. Only finite values
    add to the signal sums."""
    rr = ee = rt = tt = 0.0
    big = 0.0
    for i in range(r.size):
        a = np.float64(r[i])
        b = np.float64(t[i])
        fa, fb = math.isfinite(a), math.isfinite(b)
        if fa:
            rr += a * a
        if fb:
            tt += b * b
        if fa and fb:
            rt += a * b
            d = a - b
            ee += d * d
            big = max(big, abs(d))
        elif not (a == b or (a != a and b != b)):
            ee = math.inf
            big = math.inf
    return rr, ee, rt, tt, big


def _flat(x) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    return np.ascontiguousarray(x).reshape(-1)


def errors(ref: np.ndarray, test: np.ndarray) -> tuple[float, float, float]:
    """(SQNR in dB, cosine similarity, max abs error) of `test` against `ref`."""
    r, t = _flat(ref), _flat(test)
    if r.dtype != t.dtype:
        r, t = r.astype(np.float64), t.astype(np.float64)
    rr, ee, rt, tt, big = _moments(r, t)
    if ee == 0.0:
        sqnr = math.inf
    elif rr == 0.0 or ee == math.inf:
        sqnr = -math.inf
    else:
        sqnr = 10.0 * math.log10(rr / ee)
    if rr == 0.0 or tt == 0.0:
        cos = 1.0 if rr == tt else 0.0
    else:
        cos = rt / (math.sqrt(rr) * math.sqrt(tt))
    return sqnr, cos, big


def sqnr_db(ref: np.ndarray, test: np.ndarray) -> float:
    """10 log10(signal power / noise power); +inf when identical."""
    return errors(ref, test)[0]


def cosine(ref: np.ndarray, test: np.ndarray) -> float:
    return errors(ref, test)[1]


def max_abs_error(ref: np.ndarray, test: np.ndarray) -> float:
    return errors(ref, test)[2]
