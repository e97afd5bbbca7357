"""Kernel building blocks against exact arithmetic: the float32 FMA and the exact integer
matmul through float32 BLAS."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from npusim.numerics.kernels.dot import exact_int_matmul
from npusim.numerics.kernels.fma import fma32


def _round_f32(x: Fraction) -> np.float32:
    f = np.float32(float(x))
    cands = [f, np.nextafter(f, np.float32(np.inf)), np.nextafter(f, np.float32(-np.inf))]
    return min(cands, key=lambda c: (abs(Fraction(float(c)) - x),
                                     int(np.float32(c).view(np.int32)) & 1))


def test_fma32_is_correctly_rounded():
    rng = np.random.default_rng(3)
    a, b, c = (rng.standard_normal(500).astype(np.float32) for _ in range(3))
    r = fma32(a, b, c)
    for i in range(500):
        exact = Fraction(float(a[i])) * Fraction(float(b[i])) + Fraction(float(c[i]))
        assert r[i] == _round_f32(exact)
    # a double-rounding trap: the float64 sum is a float32 tie, the exact sum is not
    a1, b1 = np.float32(1 + 2**-12), np.float32(1 + 2**-12)  # a*b = 1 + 2^-11 + 2^-24
    c1 = np.float32(-(2**-11))
    assert fma32(a1, b1, c1) == _round_f32(Fraction(float(a1)) ** 2 + Fraction(float(c1)))


def test_exact_int_matmul_chunks_beyond_2_24():
    rng = np.random.default_rng(0)
    a = rng.integers(-255, 256, (3, 5000)).astype(np.float64)
    b = rng.integers(-128, 128, (5000, 4)).astype(np.float64)
    assert np.array_equal(exact_int_matmul(a, b), a.astype(np.int64) @ b.astype(np.int64))
