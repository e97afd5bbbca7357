"""QuantizeLinear / DequantizeLinear arithmetic and low-precision casts, per scheme.

Scales broadcast per tensor, per axis or per block exactly as the ONNX operators define them;
integer rounding follows NUMERICS.md (`ort`: float32 division then round-half-even).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
from onnx import numpy_helper

from npusim.errors import NumericsError

FLOAT8_TYPES = (np.dtype(ml_dtypes.float8_e4m3fn), np.dtype(ml_dtypes.float8_e5m2),
                np.dtype(ml_dtypes.float8_e4m3fnuz), np.dtype(ml_dtypes.float8_e5m2fnuz))
INT4_TYPES = (np.dtype(ml_dtypes.int4), np.dtype(ml_dtypes.uint4))


def int_range(dtype: np.dtype) -> tuple[int, int]:
    """(qmin, qmax) of an integer element type, 4-bit types included."""
    info = ml_dtypes.iinfo(np.dtype(dtype))
    return int(info.min), int(info.max)


def is_integer(dtype: np.dtype) -> bool:
    dtype = np.dtype(dtype)
    return dtype.kind in "iu" or dtype in INT4_TYPES


def broadcast_param(param: np.ndarray, shape: tuple[int, ...], axis: int = 1,
                    block_size: int = 0) -> np.ndarray:
    """Make a per-tensor, per-axis or blocked scale / zero point broadcastable to `shape`."""
    param = np.asarray(param)
    if param.ndim == 0 or param.size == 1 and not block_size:
        return param.reshape(())
    axis = axis % len(shape)
    if block_size:
        # blocked: param has x's rank, dim `axis` holds ceil(n / block_size) entries
        expanded = np.repeat(param, block_size, axis=axis)
        return np.take(expanded, np.arange(shape[axis]), axis=axis)
    new_shape = [1] * len(shape)
    new_shape[axis] = param.size
    return param.reshape(new_shape)


def quantize(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None,
             out_dtype: np.dtype, *, axis: int = 1, block_size: int = 0,
             saturate: bool = True, rounding: str = "half_even",
             float64: bool = False) -> np.ndarray:
    """QuantizeLinear: `sat(round(x / s) + zp)` with a true division (never a reciprocal);
    NaN becomes the integer type's minimum.

    `float64=False` divides in float32 (`ort`, `onnx-ref`); `rounding` is `half_even`
    (ONNX) or `half_away` (TFLite's TfLiteRound).
    """
    out_dtype = np.dtype(out_dtype)
    s = broadcast_param(scale, x.shape, axis, block_size)
    if float64:
        v = x.astype(np.float64) / s.astype(np.float64)
    else:
        work = np.result_type(x.dtype, s.dtype)
        v = x.astype(work) / s.astype(work)
    if out_dtype in FLOAT8_TYPES:
        if saturate:
            return numpy_helper.saturate_cast(v, out_dtype)
        return v.astype(out_dtype)
    if out_dtype.kind == "f" or out_dtype == np.dtype(ml_dtypes.float4_e2m1fn):
        if zero_point is not None:
            v = v + broadcast_param(zero_point, x.shape, axis, block_size).astype(v.dtype)
        return v.astype(out_dtype)
    r = round_to_int(v, rounding)
    if zero_point is not None:
        r = r + broadcast_param(zero_point, x.shape, axis, block_size).astype(np.int64)
    lo, hi = int_range(out_dtype)
    # onnxruntime's kernel (MLAS) turns NaN (0 / 0 in a float island: a linear attention's
    # denominator quantized to zero) into the type's minimum, whatever the zero point
    return np.where(np.isnan(v), lo, np.clip(r, lo, hi)).astype(out_dtype)


def round_to_int(v: np.ndarray, rounding: str = "half_even") -> np.ndarray:
    """Round floats to int64; NaN becomes 0 and infinities saturate (no UB, no warnings)."""
    if rounding == "half_even":
        r = np.rint(v)
    elif rounding == "half_away":
        t = np.trunc(v)
        r = t + np.sign(v) * (np.abs(v - t) >= 0.5)
    else:
        raise NumericsError(f"unknown rounding mode '{rounding}' (half_even, half_away)")
    r = np.nan_to_num(r, nan=0.0, posinf=2.0**62, neginf=-2.0**62)
    return np.clip(r, -2.0**62, 2.0**62).astype(np.int64)


def dequantize(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None,
               *, axis: int = 1, block_size: int = 0) -> np.ndarray:
    """DequantizeLinear: `(q - zp) * s` in the scale's float type, rounded once."""
    s = broadcast_param(scale, q.shape, axis, block_size)
    out_dtype = s.dtype if s.dtype.kind == "f" else np.dtype(np.float32)
    if q.dtype in FLOAT8_TYPES or q.dtype.kind == "f" or q.dtype == np.dtype(
            ml_dtypes.float4_e2m1fn):
        v = q.astype(np.float32)
        if zero_point is not None and q.dtype not in FLOAT8_TYPES:
            v = v - broadcast_param(zero_point, q.shape, axis, block_size).astype(np.float32)
        return (v * s.astype(np.float32)).astype(out_dtype)
    d = q.astype(np.int64)
    if zero_point is not None:
        d = d - broadcast_param(zero_point, q.shape, axis, block_size).astype(np.int64)
    # int32 difference, cast to float32 (exact below 2^24), one rounding in the multiply
    with np.errstate(over="ignore"):  # past float32's range is +-inf, as in onnxruntime
        prod = d.astype(np.float32) * s.astype(np.float32)
    return prod.astype(out_dtype)


def cast_float(x: np.ndarray, precision: str) -> np.ndarray:
    """Round float32 values to a low-precision float type and back (ONNX Cast, rne).

    fp8 casts saturate to the largest finite value (`saturate=1`).
    """
    dtype = {"fp16": np.float16, "bf16": ml_dtypes.bfloat16,
             "fp8": ml_dtypes.float8_e4m3fn, "fp8e4m3": ml_dtypes.float8_e4m3fn,
             "fp8e5m2": ml_dtypes.float8_e5m2}[precision]
    if np.dtype(dtype) in FLOAT8_TYPES:
        return numpy_helper.saturate_cast(x.astype(np.float32), np.dtype(dtype))
    return x.astype(np.float32).astype(dtype)
