"""Correctly rounded float32 fused multiply-add, `fma(a, b, c)` with a single rounding.

numpy has no fma; float64 holds a*b exactly, and the one double rounding case (the float64
sum lands exactly on a float32 tie while the exact sum does not) is repaired with TwoSum.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@numba.njit(cache=True)
def fma32_scalar(a, b, c):
    """fma(a, b, c) of three float32 values, rounded once to float32."""
    p = np.float64(a) * np.float64(b)  # exact: 24 + 24 significant bits
    s = p + np.float64(c)
    bb = s - p
    err = (p - (s - bb)) + (np.float64(c) - bb)  # exact rounding error of p + c
    r = np.float32(s)
    rd = np.float64(r)
    if err != 0.0 and rd != s:
        other = np.nextafter(r, np.float32(np.inf) if s > rd else np.float32(-np.inf))
        od = np.float64(other)
        if s == (rd + od) / 2.0 and (err > 0.0) != (rd > s):
            r = other
    return r


@numba.njit(cache=True)
def _fma32_flat(a, b, c, out):
    for i in range(out.size):
        out[i] = fma32_scalar(a[i], b[i], c[i])


def fma32(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    a, b, c = np.broadcast_arrays(*(np.asarray(v, np.float32) for v in (a, b, c)))
    out = np.empty(a.shape, np.float32)
    _fma32_flat(np.ascontiguousarray(a).ravel(), np.ascontiguousarray(b).ravel(),
                np.ascontiguousarray(c).ravel(), out.ravel())
    return out


@intrinsic
def fma32_native(typingctx, a, b, c):
    """llvm.fma.f32: the correctly rounded fused multiply-add (vfmadd where the CPU has FMA,
    libm fmaf otherwise), so loops over it vectorize. Arguments must be float32."""
    if not (a == b == c == types.float32):
        return None

    def codegen(context, builder, sig, args):
        f = ir.FloatType()
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(f, [f, f, f]),
                                            "llvm.fma.f32")
        return builder.call(fn, args)
    return types.float32(types.float32, types.float32, types.float32), codegen
