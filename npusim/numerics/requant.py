"""Requantization of int32 accumulators to int8/int16 outputs, one function per scheme.

Each scheme reproduces a named reference bit for bit (NUMERICS.md): `ort` (onnxruntime CPU),
`onnx-ref` (onnx.reference), `tflite` (gemmlowp fixed point), `npu-shift` (parameterized NPU).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from npusim.errors import NumericsError
from npusim.numerics.quant import int_range

SCHEMES = ("ort", "onnx-ref", "tflite", "npu-shift")
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


@dataclass(frozen=True, slots=True)
class NpuShift:
    """Parameters of the `npu-shift` scheme (vendors do not publish their exact widths)."""

    multiplier_bits: int = 16
    pre_rshift: int = 0
    bias_lshift: int = 0
    rounding: str = "half_up"   # half_up | half_away | half_even | trunc
    int32_output: bool = False  # J5's tail Conv: skip requantization


@dataclass(frozen=True, slots=True)
class Requantized:
    values: np.ndarray
    saturated: int  # outputs clamped to the integer range


def check_scheme(scheme: str) -> str:
    if scheme not in SCHEMES:
        raise NumericsError(f"unknown requantization scheme '{scheme}' (choose from "
                            f"{', '.join(SCHEMES)})")
    return scheme


def requantize(acc: np.ndarray, s_in: np.ndarray, s_w: np.ndarray, s_out: np.ndarray,
               zp_out: np.ndarray | int, out_dtype: np.dtype, *, channel_axis: int,
               scheme: str = "ort", npu: NpuShift | None = None,
               clamp: tuple[int, int] | None = None) -> Requantized:
    """Turn exact accumulators (int64 array) into `out_dtype`, per output channel.

    `s_w` is a scalar or one scale per channel along `channel_axis` of `acc`; `clamp` is an
    extra [lo, hi] in the output's integer domain (a fused Relu / Clip).
    """
    lo, hi = int_range(out_dtype)
    if clamp is not None:
        lo, hi = max(lo, clamp[0]), min(hi, clamp[1])
    s_w = _per_channel(np.asarray(s_w), acc.ndim, channel_axis)
    zp = int(np.asarray(zp_out).reshape(-1)[0]) if np.size(zp_out) else 0
    if scheme == "ort":
        m = (np.asarray(s_in, np.float32) * s_w.astype(np.float32)).astype(np.float32)
        m = (m / np.asarray(s_out, np.float32)).astype(np.float32)
        v = np.rint(acc.astype(np.float32) * m)
    elif scheme == "onnx-ref":
        dt = np.result_type(np.asarray(s_in).dtype, s_w.dtype, np.asarray(s_out).dtype)
        m = (np.asarray(s_in, dt) * s_w.astype(dt)).astype(dt) / np.asarray(s_out, dt)
        v = np.rint(acc.astype(np.float64) * m.astype(dt).astype(np.float64))
    elif scheme == "tflite":
        e = np.float64(np.asarray(s_in, np.float64)) * s_w.astype(np.float64) / np.float64(
            np.asarray(s_out, np.float64))
        mult, shift = quantize_multiplier(np.broadcast_to(e, s_w.shape))
        v = multiply_by_quantized_multiplier(acc, mult, shift).astype(np.float64)
    elif scheme == "npu-shift":
        npu = npu or NpuShift()
        e = np.asarray(s_in, np.float64) * s_w.astype(np.float64) / np.asarray(s_out, np.float64)
        mult, n = shift_multiplier(np.broadcast_to(e, s_w.shape), npu.multiplier_bits,
                                   npu.pre_rshift)
        t = round_shift(acc, npu.pre_rshift, npu.rounding)
        v = round_shift(t * mult, n, npu.rounding).astype(np.float64)
    else:
        check_scheme(scheme)
        raise AssertionError
    v = v + zp
    saturated = int(np.count_nonzero((v < lo) | (v > hi)))
    return Requantized(np.clip(v, lo, hi).astype(out_dtype), saturated)


def _per_channel(s: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    if s.size <= 1:
        return s.reshape(())
    shape = [1] * ndim
    shape[axis] = s.size
    return s.reshape(shape)


# -- TFLite / gemmlowp fixed point --------------------------------------------------------

def quantize_multiplier(e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TFLite QuantizeMultiplier: e ~= m * 2^(shift - 31), m a Q31 int in [2^30, 2^31)."""
    q, shift = np.frexp(np.asarray(e, np.float64))
    scaled = q * 2.0**31
    m = (np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)).astype(np.int64)  # half away
    top = m == 2**31
    m = np.where(top, m // 2, m)
    shift = np.where(top, shift + 1, shift).astype(np.int64)
    tiny = shift < -31
    return np.where(tiny, 0, m), np.where(tiny, 0, shift)


def srdhm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul of int32 values (held in int64)."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    p = a * b
    nudge = np.where(p >= 0, 2**30, 1 - 2**30)
    s = p + nudge
    q = np.where(s >= 0, s >> 31, -((-s) >> 31))  # truncating division by 2^31
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, q)


def rdbpot(x: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """RoundingDivideByPOT: x / 2^exponent rounded half away from zero."""
    x = np.asarray(x, np.int64)
    e = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << e) - 1
    r = x & mask
    t = (mask >> 1) + (x < 0)
    return (x >> e) + (r > t)


def multiply_by_quantized_multiplier(acc: np.ndarray, m: np.ndarray, shift: np.ndarray
                                     ) -> np.ndarray:
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = np.asarray(acc, np.int64) * (np.int64(1) << left)
    shifted = np.clip(shifted, INT32_MIN, INT32_MAX)  # TFLite's int32 operand
    return rdbpot(srdhm(shifted, m), right)


# -- npu-shift ---------------------------------------------------------------------------

def shift_multiplier(e: np.ndarray, bits: int, pre_rshift: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(m, n) with m a `bits`-bit unsigned integer and m / 2^n ~= e * 2^pre_rshift.

    An exact power of two gives m = 1 (the pure shift case).
    """
    target = np.asarray(e, np.float64) * 2.0**pre_rshift
    mant, exp = np.frexp(target)
    pow2 = mant == 0.5
    n = bits - exp  # m = round(mant * 2^bits) < 2^bits
    m = np.floor(mant * 2.0**bits + 0.5).astype(np.int64)
    carry = m >= 2**bits
    m = np.where(carry, m // 2, m)
    n = np.where(carry, n - 1, n)
    m = np.where(pow2, 1, m)
    n = np.where(pow2, 1 - exp, n)
    return m, n.astype(np.int64)


def round_shift(x: np.ndarray, k: np.ndarray | int, rounding: str) -> np.ndarray:
    """R(x, k): arithmetic right shift by k >= 0 with the named rounding (k < 0 shifts left)."""
    x = np.asarray(x, np.int64)
    k = np.asarray(k, np.int64)
    left = np.maximum(-k, 0)
    k = np.maximum(k, 0)
    x = x << left
    half = np.where(k > 0, np.int64(1) << np.maximum(k - 1, 0), 0)
    if rounding == "trunc":
        return x >> k
    if rounding == "half_up":
        return (x + half) >> k
    if rounding == "half_away":
        return np.sign(x) * ((np.abs(x) + half) >> k)
    if rounding == "half_even":
        q = x >> k
        r = x - (q << k)
        up = (r > half) | ((r == half) & (k > 0) & ((q & 1) == 1))
        return q + up
    raise NumericsError(f"unknown npu-shift rounding '{rounding}' "
                        "(half_up, half_away, half_even, trunc)")
