"""The frozen results `simulate` returns: per-layer rows, totals, and what is estimated.

Everything the CLI prints comes from these objects; `to_dict` gives the JSON form, with keys
sorted by the writer so the same inputs give byte-identical files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class LayerRow:
    """One executed layer: an ONNX node, or a fused group named `a+b` / `a||b`."""

    name: str
    op_types: tuple[str, ...]
    kind: str
    unit: str
    precision: str
    macs: int
    vector_ops: int
    bytes_loaded: int
    bytes_stored: int
    start_ms: float
    compute_ms: float
    memory_ms: float
    overhead_ms: float
    latency_ms: float
    percent: float
    bound_by: str
    rests_on: tuple[str, ...]
    members: tuple[str, ...]
    row_tiles: int
    weights: str
    working_set_bytes: int
    sram_level: str | None
    transition_ms: float  # handing inputs over from another unit (DLA <-> GPU reformat)
    fallback: bool        # runs on a later unit of the profile because the first cannot

    @property
    def estimated(self) -> bool:
        """True when the latency depends on a profile figure marked estimated."""
        return bool(self.rests_on)


@dataclass(frozen=True, slots=True)
class Totals:
    latency_ms: float
    fps: float
    ddr_bytes_per_frame: int
    macs: int
    flops: int
    layers: int
    busy_ms_by_unit: Mapping[str, float]
    estimated: bool
    ddr_round_trips: int


@dataclass(frozen=True, slots=True)
class Report:
    """What `npusim.simulate` returns."""

    model: str
    chip: str
    precision: str
    fusion: str
    objective: str
    input_shapes: Mapping[str, tuple[int, ...]]
    layers: tuple[LayerRow, ...]
    totals: Totals
    estimated_figures: Mapping[str, str]

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "chip": self.chip,
            "precision": self.precision,
            "fusion": self.fusion,
            "objective": self.objective,
            "input_shapes": {k: list(v) for k, v in self.input_shapes.items()},
            "totals": {**asdict(self.totals),
                       "busy_ms_by_unit": dict(self.totals.busy_ms_by_unit)},
            "layers": [{**asdict(r), "op_types": list(r.op_types), "members": list(r.members),
                        "rests_on": list(r.rests_on), "estimated": r.estimated}
                       for r in self.layers],
            "estimated_figures": dict(self.estimated_figures),
        }
