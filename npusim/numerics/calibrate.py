"""Calibration: pick a float range [lo, hi] per activation tensor from sample values, by
min-max, percentile, entropy (KL divergence, TensorRT style) or MSE search."""

from __future__ import annotations

import numpy as np

from npusim.errors import NumericsError

METHODS = ("minmax", "percentile", "entropy", "mse")


def calibrate_range(values: np.ndarray, method: str = "minmax", *, bits: int = 8,
                    percentile: float = 99.99) -> tuple[float, float]:
    v = np.asarray(values, np.float64).ravel()
    if v.size == 0:
        return 0.0, 0.0
    lo, hi = float(v.min()), float(v.max())
    if method == "minmax":
        return lo, hi
    if method == "percentile":
        return float(np.percentile(v, 100.0 - percentile)), float(np.percentile(v, percentile))
    amax = max(abs(lo), abs(hi))
    if amax == 0.0:
        return 0.0, 0.0
    if method == "entropy":
        t = _kl_threshold(np.abs(v), amax, bits)
    elif method == "mse":
        t = _mse_threshold(v, amax, bits, lo >= 0)
    else:
        raise NumericsError(f"unknown calibration method '{method}' (choose from "
                            f"{', '.join(METHODS)})")
    return (max(lo, -t), min(hi, t))


def _mse_threshold(v: np.ndarray, amax: float, bits: int, unsigned: bool) -> float:
    levels = 2**bits - 1 if unsigned else 2 ** (bits - 1) - 1
    sample = v[:: max(1, v.size // 200_000)]
    best, best_err = amax, np.inf
    for k in range(100, 19, -2):
        t = amax * k / 100.0
        s = t / levels
        q = np.clip(np.rint(sample / s), -levels if not unsigned else 0, levels) * s
        err = float(np.mean((q - sample) ** 2))
        if err < best_err:
            best, best_err = t, err
    return best


def _kl_threshold(a: np.ndarray, amax: float, bits: int, bins: int = 2048) -> float:
    """TensorRT's entropy calibration: the clip threshold minimizing KL(P || Q)."""
    hist, edges = np.histogram(a, bins=bins, range=(0.0, amax))
    hist = hist.astype(np.float64)
    levels = 2 ** (bits - 1)
    best_i, best_kl = bins, np.inf
    for i in range(levels, bins + 1, 8):
        p = hist[:i].copy()
        p[-1] += hist[i:].sum()
        nonzero = p > 0
        # merge i bins into `levels` quantized bins, spread back over the nonzero bins
        groups = np.array_split(np.arange(i), levels)
        q = np.zeros(i)
        for g in groups:
            mass = hist[g].sum()
            nz = nonzero[g]
            if nz.any():
                q[g[nz]] = mass / nz.sum()
        ps = p / p.sum()
        qs = q / max(q.sum(), 1e-300)
        m = nonzero & (qs > 0)
        kl = float(np.sum(ps[m] * np.log(ps[m] / qs[m]))) + (
            np.inf if np.any(nonzero & (qs == 0)) else 0.0)
        if kl < best_kl:
            best_i, best_kl = i, kl
    return float(edges[min(best_i, bins)])
