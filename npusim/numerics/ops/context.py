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
    # uint8 x int8 GEMMs: False sums them exactly (a chip, and onnxruntime on a VNNI or ARM
    # host); True follows onnxruntime on this host, which without VNNI saturates int16 pair
    # sums (kernels/u8s8.py): to compare with an onnxruntime run on this machine
    host_u8s8: bool = False


@dataclass(slots=True)
class Events:
    saturated: int = 0
    total: int = 0
    overflow: int = 0
    max_abs_acc: int = 0
    pair_saturated: int = 0  # int16 pair sums onnxruntime's U8S8 kernel clipped (kernels.u8s8)
    pair_saturable: bool = False  # this host's onnxruntime could clip some (not followed)
    near_ties: int = 0  # QLinearSoftmax outputs a float32 rounding away from a half (qlookup)


def some_layers(names) -> str:
    """Layer names as a run's note lists them: sorted, the first five and a count."""
    names = sorted(names)
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


@dataclass(slots=True)
class Context:
    settings: Settings = Settings()
    events: dict[str, Events] = field(default_factory=dict)

    def record_saturation(self, node: Node, saturated: int, total: int) -> None:
        ev = self.events.setdefault(node.name, Events())
        ev.saturated += saturated
        ev.total += total

    def record_pair_saturation(self, node: Node, hits: int | None) -> None:
        """Pair sums clipped as this host's onnxruntime clips them; None: it could clip some
        in this layer, but the run sums exactly."""
        ev = self.events.setdefault(node.name, Events())
        if hits is None:
            ev.pair_saturable = True
        else:
            ev.pair_saturated += hits

    def record_near_ties(self, node: Node, count: int) -> None:
        """Outputs whose requantized value sits within float32 rounding of k + 1/2, where
        onnxruntime's exact arithmetic (not known) may round the other way."""
        if count:
            self.events.setdefault(node.name, Events()).near_ties += count

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
