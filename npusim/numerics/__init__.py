"""Bit-accurate numerics: run ONNX models in int8 / int16 / fp16 / bf16 / fp8 exactly as a
named reference (onnxruntime, onnx.reference, TFLite, an NPU shifter) would, and locate error.

`run_numerics` is the entry point; it returns a frozen `NumericsResult` with the outputs, a
per-layer `LayerRow` table, the worst layers and an optional `MixedPrecision` suggestion.
"""

from npusim.numerics.api import PRECISIONS, run_numerics
from npusim.numerics.divergence import Divergence
from npusim.numerics.requant import SCHEMES, NpuShift
from npusim.numerics.result import LayerRow, MixedPrecision, NumericsResult

__all__ = ["PRECISIONS", "SCHEMES", "Divergence", "LayerRow", "MixedPrecision", "NpuShift",
           "NumericsResult", "run_numerics"]
