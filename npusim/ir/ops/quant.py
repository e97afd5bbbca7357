"""Quantize / dequantize: scale, round, add zero point, saturate (per element)."""

from __future__ import annotations

from npusim.ir.ops import FusionKind, per_output_element, register, same_rows

register(("QuantizeLinear", "DequantizeLinear"), FusionKind.ELEMENTWISE,
         vector_ops=per_output_element(3), params=frozenset({1, 2}), rows=same_rows)
register("DynamicQuantizeLinear", FusionKind.ELEMENTWISE, vector_ops=per_output_element(5))
