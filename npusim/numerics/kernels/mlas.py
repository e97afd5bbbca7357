"""MLAS float32 kernels as onnxruntime's x86-64 CPU build computes them (its FMA3 / AVX-512
assembly), so a float op or lookup table in front of a QuantizeLinear sees the same bits."""

from __future__ import annotations

import numba
import numpy as np

from npusim.numerics.kernels.avx512 import host_cpu_features
from npusim.numerics.kernels.fma import fma32_native

_F = np.float32


# which of onnxruntime's x86-64 kernel sets this CPU dispatches: its AVX-512F kernels, or its
# AVX2 + FMA3 ones. npusim reproduces the summation order of both (softmax, LayerNorm, float
# GEMM and NCHWc conv, each checked against onnxruntime on such a host); on any other host
# those float ops run numpy and are named in `divergence`
_HOST = host_cpu_features()
HOST_AVX512F = bool(_HOST.get("avx512f"))
HOST_FMA3 = bool(_HOST.get("avx2") and _HOST.get("fma"))
HOST_MLAS = "avx512f" if HOST_AVX512F else "fma3" if HOST_FMA3 else None
# MlasLogisticConstants (Eigen's rational approximation of 1 / (1 + exp(-x)))
_LOGISTIC_A = (_F(4.37031012579801e-11), _F(1.15627324459942e-07), _F(6.08574864600143e-05),
               _F(8.51377133304701e-03), _F(2.48287947061529e-01))
_LOGISTIC_B = (_F(6.10247389755681e-13), _F(5.76102136993427e-09), _F(6.29106785017040e-06),
               _F(1.70198817374094e-03), _F(1.16817656904453e-01), _F(9.93151921023180e-01))


@numba.njit(cache=True, inline="always")
def _horner(c, x):
    """c[0] x^n + ... + c[n] as a chain of fused multiply-adds (the MLAS kernels' order)."""
    r = c[0]
    for k in range(1, len(c)):
        r = fma32_native(r, x, c[k])
    return r


@numba.njit(cache=True)
def _logistic_flat(x, out):
    lo, hi, half, zero = _F(-18.0), _F(18.0), _F(0.5), _F(0.0)
    for i in range(x.size):
        v = min(max(x[i], lo), hi)
        v2 = v * v
        p = _horner(_LOGISTIC_A, v2) * v
        q = _horner(_LOGISTIC_B, v2)
        # the assembly kernel clamps below at 0 only: sigmoid(17.85) is 1.0000001 there
        out[i] = max(p / q + half, zero)


def logistic(x: np.ndarray) -> np.ndarray:
    """MlasComputeLogistic: input clamped to [-18, 18], p(x) / q(x) + 0.5 in FMAs."""
    x32 = np.ascontiguousarray(x, np.float32)
    out = np.empty(x32.shape, np.float32)
    _logistic_flat(x32.reshape(-1), out.reshape(-1))
    return out


# MlasErfConstants (a faithfully rounded erff: odd polynomial below 0.921875, 1 - exp(-p(x))
# above, with MLAS's own exp reduction)
_ERF_SMALL = (_F(-5.99104969e-4), _F(4.99339588e-3), _F(-2.67667342e-2), _F(1.12818025e-1),
              _F(-3.76124859e-1), _F(1.28379151e-1))
_ERF_BIG = (_F(1.72948930e-5), _F(-3.83208680e-4), _F(3.88393435e-3), _F(-2.42545605e-2),
            _F(1.06777847e-1), _F(6.34846687e-1), _F(1.28717512e-1))
_ERF_EXP = (_F(1.38319808e-3), _F(8.37550033e-3), _F(4.16689515e-2), _F(1.66664466e-1),
            _F(4.99999851e-1), _F(1.0), _F(1.0))


@numba.njit(cache=True)
def _erf_flat(x, out):
    split, lower = _F(0.921875), _F(-88.3762626647949)
    log2e, ln2_hi, ln2_lo, magic = (_F(1.44269504088896341), _F(-6.93145752e-1),
                                    _F(-1.42860677e-6), _F(1.25829120e+7))
    for i in range(x.size):
        v = x[i]
        a = abs(v)  # no clamp at ErfUpperAbsRange: onnxruntime's erf(3.79) is exactly 1
        if a > split:
            r = max(lower, -fma32_native(_horner(_ERF_BIG, a), a, a))
            k = fma32_native(log2e, r, magic) - magic     # round(r / ln 2)
            f = fma32_native(k, ln2_hi, r)
            f = fma32_native(k, ln2_lo, f)
            y = _F(1.0) - _horner(_ERF_EXP, f) * _pow2(k)
        else:
            y = fma32_native(_horner(_ERF_SMALL, a * a), a, a)
        out[i] = -y if v < 0 or (v == 0 and np.signbit(v)) else y


@numba.njit(cache=True, inline="always")
def _pow2(k):
    """MlasPowerOf2Float32x4: 2^k built from the exponent bits (k an integral float)."""
    bits = np.int32((np.int32(k) + 127) << 23)
    return np.array([bits], np.int32).view(np.float32)[0]


def erf(x: np.ndarray) -> np.ndarray:
    """MlasComputeErf as the x86-64 FMA3 kernel computes it (the vector algorithm of erf.cpp
    with fused multiply-adds, |x| not clamped)."""
    x32 = np.ascontiguousarray(x, np.float32)
    out = np.empty(x32.shape, np.float32)
    _erf_flat(x32.reshape(-1), out.reshape(-1))
    return out


# MlasTanhConstants (Eigen's rational approximation over [-9, 9])
_TANH_A = (_F(-2.76076847742355e-16), _F(2.00018790482477e-13), _F(-8.60467152213735e-11),
           _F(5.12229709037114e-08), _F(1.48572235717979e-05), _F(6.37261928875436e-04),
           _F(4.89352455891786e-03))
_TANH_B = (_F(1.19825839466702e-06), _F(1.18534705686654e-04), _F(2.26843463243900e-03),
           _F(4.89352518554385e-03))


@numba.njit(cache=True)
def _tanh_flat(x, out):
    lo, hi = _F(-9.0), _F(9.0)
    for i in range(x.size):
        v = min(max(x[i], lo), hi)
        v2 = v * v
        out[i] = (_horner(_TANH_A, v2) * v) / _horner(_TANH_B, v2)


def tanh(x: np.ndarray) -> np.ndarray:
    """MlasComputeTanh: input clamped to [-9, 9], p(x) / q(x) in FMAs."""
    x32 = np.ascontiguousarray(x, np.float32)
    out = np.empty(x32.shape, np.float32)
    _tanh_flat(x32.reshape(-1), out.reshape(-1))
    return out


# MlasExpConstants as the softmax kernels read them. The AVX-512F kernel clamps at LowerRange
# (vscalefps reaches below 2^-126); the FMA3 kernel at LowerRangeSumExp, building 2^m in the
# exponent field (m = -127 gives +0)
_SUMEXP_LOWER = _F(-103.9720840454)
_SUMEXP_LOWER_FMA3 = _F(-88.3762626647949)
_ROUNDING_BIAS = _F(12582912.0)  # MLAS_ROUNDING_BIAS_MAGIC, 1.5 * 2^23
_LOG2_RECIPROCAL = _F(1.44269504088896341)
_LOG2_HIGH, _LOG2_LOW = _F(-6.93145752e-1), _F(-1.42860677e-6)
_EXP_POLY = (_F(float.fromhex("0x1.694000p-10")), _F(float.fromhex("0x1.125edcp-7")),
             _F(float.fromhex("0x1.555b5ap-5")), _F(float.fromhex("0x1.555450p-3")),
             _F(float.fromhex("0x1.fffff6p-2")), _F(1.0), _F(1.0))
# one accumulator of 16 lanes (MlasComputeSumExpF32KernelAvx512F) or 8 (...Fma3)
SOFTMAX_LANES = 8 if HOST_MLAS == "fma3" else 16


@numba.njit(cache=True, inline="always")
def _sum_exp_element(v, negative_max, fma3):
    """One lane of MlasComputeSumExpF32KernelAvx512F (or ...Fma3): exp(v - max) by range
    reduction and a degree-6 polynomial in FMAs, then scaled by 2^m: vscalefps (an exact
    power-of-two scaling, rounded once) or a multiply by 2^m built in the exponent field."""
    x = max(_SUMEXP_LOWER_FMA3 if fma3 else _SUMEXP_LOWER, v + negative_max)
    biased = fma32_native(x, _LOG2_RECIPROCAL, _ROUNDING_BIAS)
    m = biased - _ROUNDING_BIAS
    x = fma32_native(m, _LOG2_HIGH, x)
    x = fma32_native(m, _LOG2_LOW, x)
    p = _horner(_EXP_POLY, x)
    if fma3:
        # m >= -127 after the clamp; its exponent field 0 is +0
        return p * (_F(0.0) if m < _F(-126.0) else np.float32(2.0 ** np.float64(m)))
    return np.float32(np.float64(p) * 2.0 ** np.float64(m))


@numba.njit(cache=True)
def _softmax_rows(x, out, lanes):
    rows, d = x.shape
    fma3 = lanes == 8
    acc = np.empty(lanes, np.float32)
    for r in range(rows):
        top = x[r, 0]
        for i in range(1, d):
            top = max(top, x[r, i])  # the maximum does not depend on the order
        negative_max = -top
        for lane in range(lanes):
            acc[lane] = _F(0.0)
        for i in range(d):
            e = _sum_exp_element(x[r, i], negative_max, fma3)
            out[r, i] = e
            acc[i % lanes] = acc[i % lanes] + e
        # ReduceAccumulator: (AVX-512F) the upper 8 lanes onto the lower 8; then two vhaddps
        # and the two 128-bit halves added
        h = acc[:8].copy()
        if not fma3:
            for lane in range(8):
                h[lane] = acc[lane + 8] + acc[lane]
        total = ((h[0] + h[1]) + (h[2] + h[3])) + ((h[4] + h[5]) + (h[6] + h[7]))
        scale = _F(1.0) / total
        for i in range(d):
            out[r, i] = out[r, i] * scale


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """MlasComputeSoftmax over `axis` as onnxruntime computes it on this host's kernel set:
    exp(x - max) per element (MlasComputeSumExpF32KernelAvx512F, or ...Fma3 on an AVX2 host),
    their sum in one 16-lane (8-lane) accumulator, then every exp times 1 / sum."""
    moved = np.moveaxis(np.asarray(x, np.float32), axis, -1)
    rows = np.ascontiguousarray(moved).reshape(-1, moved.shape[-1])
    out = np.empty(rows.shape, np.float32)
    if rows.size:
        _softmax_rows(rows, out, SOFTMAX_LANES)
    return np.moveaxis(out.reshape(moved.shape), -1, axis)
