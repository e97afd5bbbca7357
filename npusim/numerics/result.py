"""The frozen results `run_numerics` returns: one row per layer, the outputs, a ranking of
the worst layers and the mixed-precision suggestion; `to_dict` is deterministic JSON."""

from __future__ import annotations

import hashlib
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import numpy as np

from npusim.numerics.divergence import Divergence
from npusim.outputs import json_number


@dataclass(frozen=True, slots=True)
class LayerRow:
    """Error of one (fused) layer. `sqnr_db` etc. are graphwise (everything quantized, error
    accumulated up to here); `layerwise_*` quantize only this layer and measure the model
    output, as PPQ's layerwise analysis and Horizon's node sensitivity do."""

    name: str
    op_type: str
    precision: str
    nodes: tuple[str, ...]
    sqnr_db: float
    cosine: float
    max_abs_error: float
    saturation_count: int
    saturation_rate: float
    overflow_count: int
    layerwise_sqnr_db: float | None = None
    layerwise_output_sqnr_db: float | None = None


@dataclass(frozen=True, slots=True)
class MixedPrecision:
    """Fewest layers to keep in higher precision so the output SQNR reaches the target."""

    target_sqnr_db: float
    keep_precision: str
    keep: tuple[str, ...]
    baseline_sqnr_db: float
    predicted_sqnr_db: float
    reached: bool


@dataclass(frozen=True, slots=True)
class NumericsResult:
    model: str
    scheme: str
    precision: str
    outputs: Mapping[str, np.ndarray]
    reference_outputs: Mapping[str, np.ndarray]
    layers: tuple[LayerRow, ...]
    output_sqnr_db: Mapping[str, float]
    worst_layers: tuple[str, ...] = ()
    mixed_precision: MixedPrecision | None = None
    notes: tuple[str, ...] = field(default=())
    divergence: tuple[Divergence, ...] = ()

    def __post_init__(self) -> None:
        for name in ("outputs", "reference_outputs", "output_sqnr_db"):
            object.__setattr__(self, name, types.MappingProxyType(dict(getattr(self, name))))

    def layer(self, name: str) -> LayerRow:
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {
            "model": self.model, "scheme": self.scheme, "precision": self.precision,
            "outputs": {k: _array_summary(v) for k, v in sorted(self.outputs.items())},
            "output_sqnr_db": {k: json_number(v) for k, v in sorted(self.output_sqnr_db.items())},
            "layers": [_row(r) for r in self.layers],
            "worst_layers": list(self.worst_layers),
            "mixed_precision": None if self.mixed_precision is None else _row(
                self.mixed_precision),
            "notes": list(self.notes),
            "divergence": [_row(d) for d in self.divergence],
        }


def _row(obj) -> dict:
    out = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else json_number(v)
    return out


def _array_summary(a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a)
    d = {"shape": list(a.shape), "dtype": str(a.dtype),
         "sha256": hashlib.sha256(a.tobytes()).hexdigest()}
    if a.size <= 4096:
        d["values"] = [json_number(float(x)) if a.dtype.kind == "f" else int(x) for x in a.ravel()]
    return d
