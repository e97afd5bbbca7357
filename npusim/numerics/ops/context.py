"""What every kernel may read about the run (scheme, precision modes) and where it records
per-layer events (saturation, accumulator overflow)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from npusim.errors import NumericsError
from npusim.ir import Node
from npusim.numerics.requant import NpuShift


@dataclass(frozen=True, slots=True)
class Settings:
    scheme: str = "ort"
    npu: NpuShift = NpuShift()
    accumulate: str = "fp32"      # fp16 dot products: "fp32" or "fp16" accumulation
    acc_bits: int = 32            # integer accumulator width, overflow is checked against it
    on_overflow: str = "raise"    # "raise" or "record" (clamp and report in the layer row)
    # float32 Conv / Gemm / MatMul / Softmax: "mlas" sums them in onnxruntime's order where the
    # host allows (kernels/sgemm.py, kernels/mlas.py); "blas" through numpy (several times
    # faster: the float reference and calibration runs, which no oracle compares bit for bit)
    float_order: str = "mlas"


@dataclass(slots=True)
class Events:
    saturated: int = 0
    total: int = 0
    overflow: int = 0
    max_abs_acc: int = 0


@dataclass(slots=True)
class Context:
    settings: Settings = Settings()
    events: dict[str, Events] = field(default_factory=dict)

    def record_saturation(self, node: Node, saturated: int, total: int) -> None:
        ev = self.events.setdefault(node.name, Events())
        ev.saturated += saturated
        ev.total += total

    def note_accumulator(self, node: Node, max_abs: int) -> bool:
        """Record a layer's largest |accumulator|; False if it leaves the accumulator range
        (the caller then goes through `check_accumulator` for the raise / clamp)."""
        if max_abs > 2 ** (self.settings.acc_bits - 1) - 1:
            return False
        ev = self.events.setdefault(node.name, Events())
        ev.max_abs_acc = max(ev.max_abs_acc, int(max_abs))
        return True

    def check_accumulator(self, node: Node, acc: np.ndarray) -> np.ndarray:
        """Exact accumulators as int64; out-of-range values raise or are clamped and recorded."""
        bits = self.settings.acc_bits
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        acc = np.asarray(acc)
        if acc.dtype.kind == "f":
            acc = np.rint(acc)  # exact integers already; rint guards -0.0
        big = float(np.max(np.abs(acc))) if acc.size else 0.0
        ev = self.events.setdefault(node.name, Events())
        ev.max_abs_acc = max(ev.max_abs_acc, int(big))
        if big > hi:
            over = int(np.count_nonzero((acc < lo) | (acc > hi)))
            if self.settings.on_overflow == "raise":
                raise NumericsError(
                    f"int{bits} accumulator overflow in layer '{node.name}' ({node.op_type}): "
                    f"{over} of {acc.size} accumulators exceed the int{bits} range "
                    f"(largest |acc| = {int(big)}); use int16 outputs with a wider "
                    "accumulator, smaller weights, or on_overflow='record'")
            ev.overflow += over
            acc = np.clip(acc, lo, hi)
        return acc.astype(np.int64)
