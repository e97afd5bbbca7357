"""Error metrics between a reference tensor and its quantized counterpart (both float)."""

from __future__ import annotations

import math

import numpy as np


def sqnr_db(ref: np.ndarray, test: np.ndarray) -> float:
    """10 log10(signal power / noise power); +inf when identical."""
    r = np.asarray(ref, np.float64).ravel()
    e = r - np.asarray(test, np.float64).ravel()
    noise = float(np.dot(e, e))
    signal = float(np.dot(r, r))
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def cosine(ref: np.ndarray, test: np.ndarray) -> float:
    a = np.asarray(ref, np.float64).ravel()
    b = np.asarray(test, np.float64).ravel()
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 1.0 if na == nb else 0.0
    return float(np.dot(a, b) / (na * nb))


def max_abs_error(ref: np.ndarray, test: np.ndarray) -> float:
    d = np.abs(np.asarray(ref, np.float64) - np.asarray(test, np.float64))
    return float(d.max()) if d.size else 0.0
