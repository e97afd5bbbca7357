"""QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear kernels (every scheme)."""

from __future__ import annotations

import numpy as np
import onnx

from npusim.numerics.ops import kernel
from npusim.numerics.ops.context import Context
from npusim.numerics.quant import dequantize, int_range, quantize, round_to_int


@kernel("QuantizeLinear")
def quantize_linear(node, inputs, ctx: Context):
    x, scale = inputs[0], inputs[1]
    zp = inputs[2] if len(inputs) > 2 else None
    if zp is not None:
        out_dtype = zp.dtype
    elif node.attr("output_dtype"):
        out_dtype = onnx.helper.tensor_dtype_to_np_dtype(node.attr("output_dtype"))
    else:
        out_dtype = np.dtype(np.uint8)
    rounding = "half_away" if ctx.settings.scheme == "tflite" else "half_even"
    y = quantize(x, scale, zp, out_dtype, axis=node.attr("axis", 1),
                 block_size=node.attr("block_size", 0), saturate=bool(node.attr("saturate", 1)),
                 rounding=rounding)
    if y.dtype.kind in "iu":
        lo, hi = int_range(y.dtype)
        ctx.record_saturation(node, int(np.count_nonzero((y == lo) | (y == hi))), y.size)
    return [y]


@kernel("DequantizeLinear")
def dequantize_linear(node, inputs, ctx: Context):
    q, scale = inputs[0], inputs[1]
    zp = inputs[2] if len(inputs) > 2 else None
    y = dequantize(q, scale, zp, axis=node.attr("axis", 1), block_size=node.attr("block_size", 0))
    out_dtype = node.attr("output_dtype")
    if out_dtype:
        y = y.astype(onnx.helper.tensor_dtype_to_np_dtype(out_dtype))
    return [y]


@kernel("DynamicQuantizeLinear")
def dynamic_quantize_linear(node, inputs, ctx: Context):
    """uint8 scale = (max(x, 0) - min(x, 0)) / 255 in float32 (1 if both are 0),
    zp = sat(rne(0 - min / scale)), as onnxruntime computes them."""
    x = inputs[0].astype(np.float32)
    lo = np.float32(min(float(x.min()) if x.size else 0.0, 0.0))
    hi = np.float32(max(float(x.max()) if x.size else 0.0, 0.0))
    # onnxruntime (GetQuantizationParameter) uses scale 1 for an all-zero input
    scale = np.float32((hi - lo) / np.float32(255)) if hi != lo else np.float32(1)
    initial = np.float32(np.float32(0) - np.float32(lo / scale))
    zp = np.uint8(np.clip(round_to_int(np.asarray(initial)), 0, 255))
    y = quantize(x, np.asarray(scale, np.float32), np.asarray(zp), np.dtype(np.uint8))
    return [y, np.asarray(scale, np.float32), np.asarray(zp, np.uint8)]
