"""onnxruntime's table-driven QOperators (com.microsoft): QLinearSigmoid and QLinearLeakyRelu
map each of the 256 input codes through a float function once; QLinearSoftmax sums a table
of exponentials. Each follows contrib_ops/cpu/quantization in onnxruntime."""

from __future__ import annotations

import math

import numba
import numpy as np

from npusim.errors import NumericsError
from npusim.numerics.kernels.mlas import logistic
from npusim.numerics.ops import kernel
from npusim.numerics.ops.context import Context, some_layers
from npusim.numerics.ops.qcommon import scalar_f32, scalar_i32
from npusim.numerics.quant import int_range, quantize


def code_values(dtype: np.dtype, scale, zero_point) -> np.ndarray:
    """The 256 dequantized codes, indexed by the code's byte: f32(s * (x - zp))."""
    codes = np.arange(256, dtype=np.uint8).view(dtype).astype(np.int64) - scalar_i32(zero_point)
    return (scalar_f32(scale) * codes.astype(np.float32)).astype(np.float32)


def lookup_table(dtype: np.dtype, sx, zx, sy, zy, fn) -> np.ndarray:
    """QlinearBuildLookupTable: fn over the dequantized codes, then MlasQuantizeLinear."""
    y = fn(code_values(np.dtype(dtype), sx, zx))
    zp = np.asarray(zy if zy is not None else np.zeros((), dtype)).reshape(())
    return quantize(np.asarray(y, np.float32), np.asarray(scalar_f32(sy), np.float32), zp,
                    np.dtype(dtype))


def apply_table(node, ctx: Context, x: np.ndarray, table: np.ndarray) -> np.ndarray:
    if x.dtype.itemsize != 1 or x.dtype.kind not in "iu":
        raise NumericsError(f"{node.op_type} node '{node.name}' needs 8-bit input, got "
                            f"{x.dtype}")
    y = table[np.ascontiguousarray(x).view(np.uint8)]
    lo, hi = int_range(y.dtype)
    ctx.record_saturation(node, int(np.count_nonzero((y == lo) | (y == hi))), y.size)
    return y


def _unary_inputs(inputs):
    x, sx = inputs[0], inputs[1]
    zx = inputs[2] if len(inputs) > 2 else None
    sy = inputs[3]
    zy = inputs[4] if len(inputs) > 4 else None
    return x, sx, zx, sy, zy


@kernel("QLinearSigmoid")
def qlinear_sigmoid(node, inputs, ctx: Context):
    x, sx, zx, sy, zy = _unary_inputs(inputs)
    return [apply_table(node, ctx, x, lookup_table(x.dtype, sx, zx, sy, zy, logistic))]


@kernel("QLinearLeakyRelu")
def qlinear_leaky_relu(node, inputs, ctx: Context):
    x, sx, zx, sy, zy = _unary_inputs(inputs)
    alpha = np.float32(node.attr("alpha", 0.01))

    def leaky(v):
        return np.where(v >= 0, v, (alpha * v).astype(np.float32))
    return [apply_table(node, ctx, x, lookup_table(x.dtype, sx, zx, sy, zy, leaky))]


def softmax_table(x_scale: float, reduce_len: int, signed: bool) -> np.ndarray:
    """QlinearBuildLookupTableUint32 (float flavour): exp((i - 255 + shift) * s) in double,
    stored as float32 at byte index i (signed: i - 128)."""
    # numeric_limits<float>::max() / reduce_len divides in float (size_t converts to float)
    shift = math.log(float(np.float32(np.finfo(np.float32).max) / np.float32(reduce_len)))
    shift = max(0.0, shift - 5.0) / float(x_scale)
    table = np.empty(256, np.float32)
    for i in range(256):
        value = math.exp((i - 255 + shift) * float(x_scale))
        table[(i - 128) & 0xFF if signed else i] = np.float32(value)
    return table


@numba.njit(cache=True)
def _softmax_rows(x, table, signed, y_scale, zp, lo, hi, out):
    """onnxruntime 1.32's QLinearSoftmax over rows of 8-bit codes (as uint8 bytes), as
    measured against it (tests/numerics/test_contrib_ops.py): the float32 table values of
    the row summed in float64, each output floor(t * y_scale / sum + 0.5) + zp in float64,
    saturated to the type. The table is scaled near FLT_MAX / D, so in float32 t * y_scale
    overflows for small output scales (near-uniform attention over many keys); onnxruntime
    saturates there (255 / 127), and rounds ties up. Matches it on 1440 random and 3822 of
    3834 constant-row cases; where the quotient lies within float32 rounding of k + 1/2
    onnxruntime can round the other way (12 of those constant rows; 3 of 115,248 outputs of a
    Swin-T attention), its exact arithmetic being unknown: returns how many outputs did."""
    n, d = x.shape
    near = 0
    for r in range(n):
        top = -1000
        for j in range(d):
            v = np.int32(x[r, j])
            if signed and v >= 128:
                v -= 256
            top = max(top, v)
        s = 0.0
        for j in range(d):
            s += np.float64(table[_index(x[r, j], top, signed)])
        for j in range(d):
            t = np.float64(table[_index(x[r, j], top, signed)])
            p = t * np.float64(y_scale) / s
            q = np.floor(p + 0.5)
            if abs(p - (q - 0.5)) <= p * 2.0 ** -21 and zp + q - 1 >= lo and zp + q <= hi:
                near += 1
            q += zp
            out[r, j] = hi if q > hi else lo if q < lo else np.int32(q)
    return near


@numba.njit(cache=True, inline="always")
def _index(byte, top, signed):
    if signed:
        v = np.int32(byte)
        if v >= 128:
            v -= 256
        return (127 - top + v) & 0xFF
    return np.int32(byte) + 255 - top


@kernel("QLinearSoftmax")
def qlinear_softmax(node, inputs, ctx: Context):
    x, sx, _, sy, zy = _unary_inputs(inputs)
    opset = int(node.attr("opset", 13))
    axis = int(node.attr("axis", -1 if opset >= 13 else 1)) % max(x.ndim, 1)
    signed = x.dtype == np.int8
    moved = np.moveaxis(x, axis, -1) if opset >= 13 else x
    d = moved.shape[-1] if opset >= 13 else int(np.prod(x.shape[axis:]))
    rows = np.ascontiguousarray(moved).reshape(-1, d).view(np.uint8)
    out = np.empty(rows.shape, np.int32)
    y_scale = np.float32(math.floor(np.float32(1.0) / scalar_f32(sy)))
    lo, hi = int_range(x.dtype)
    near = _softmax_rows(rows, softmax_table(scalar_f32(sx), d, signed), signed, y_scale,
                         scalar_i32(zy), lo, hi, out)
    if ctx is not None:
        ctx.record_near_ties(node, near)
    y = out.astype(x.dtype).reshape(moved.shape)
    return [np.moveaxis(y, -1, axis) if opset >= 13 else y]


def tie_notes(events) -> list[str]:
    """The run's note on QLinearSoftmax outputs that sat on a rounding tie (`_softmax_rows`)."""
    ties = {name: ev.near_ties for name, ev in events.items() if ev.near_ties}
    if not ties:
        return []
    return [f"{sum(ties.values())} QLinearSoftmax outputs in {len(ties)} layers "
            f"({some_layers(ties)}) lie "
            "within float32 rounding of a half code, where onnxruntime's exact arithmetic is "
            "not reproduced: it may round them the other way (one code)"]
