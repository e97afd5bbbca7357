"""MLAS float32 kernels as onnxruntime's x86-64 CPU build computes them (its FMA3 / AVX-512
assembly), so a float op or lookup table in front of a QuantizeLinear sees the same bits."""

from __future__ import annotations

import numba
import numpy as np

from npusim.numerics.kernels.fma import fma32_native

_F = np.float32
# MlasLogisticConstants (Eigen's rational approximation of 1 / (1 + exp(-x)))
_LOGISTIC_A = (_F(4.37031012579801e-11), _F(1.15627324459942e-07), _F(6.08574864600143e-05),
               _F(8.51377133304701e-03), _F(2.48287947061529e-01))
_LOGISTIC_B = (_F(6.10247389755681e-13), _F(5.76102136993427e-09), _F(6.29106785017040e-06),
               _F(1.70198817374094e-03), _F(1.16817656904453e-01), _F(9.93151921023180e-01))


@numba.njit(cache=True)
def _logistic_flat(x, out):
    a9, a7, a5, a3, a1 = _LOGISTIC_A
    b10, b8, b6, b4, b2, b0 = _LOGISTIC_B
    lo, hi, half, zero = _F(-18.0), _F(18.0), _F(0.5), _F(0.0)
    for i in range(x.size):
        v = min(max(x[i], lo), hi)
        v2 = v * v
        p = fma32_native(v2, a9, a7)
        p = fma32_native(p, v2, a5)
        p = fma32_native(p, v2, a3)
        p = fma32_native(p, v2, a1)
        p = p * v
        q = fma32_native(v2, b10, b8)
        q = fma32_native(q, v2, b6)
        q = fma32_native(q, v2, b4)
        q = fma32_native(q, v2, b2)
        q = fma32_native(q, v2, b0)
        # the assembly kernel clamps below at 0 only: sigmoid(17.85) is 1.0000001 there
        out[i] = max(p / q + half, zero)


def logistic(x: np.ndarray) -> np.ndarray:
    """MlasComputeLogistic: input clamped to [-18, 18], p(x) / q(x) + 0.5 in FMAs."""
    x32 = np.ascontiguousarray(x, np.float32)
    out = np.empty(x32.shape, np.float32)
    _logistic_flat(x32.reshape(-1), out.reshape(-1))
    return out
