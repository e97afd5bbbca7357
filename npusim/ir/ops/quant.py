"""Quantize / dequantize: scale, round, add zero point, saturate (per element)."""

from __future__ import annotations

from npusim.ir.ops import FusionKind, per_output_element, register

register(("QuantizeLinear", "DequantizeLinear"), FusionKind.ELEMENTWISE,
         vector_ops=per_output_element(3), params=frozenset({1, 2}))
register("DynamicQuantizeLinear", FusionKind.ELEMENTWISE, vector_ops=per_output_element(5))
