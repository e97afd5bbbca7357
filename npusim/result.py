"""The frozen result `simulate` returns: per-layer rows, totals, and what is estimated, built
from the scheduled Timeline it holds (whose makespan is the one latency npusim reports).

Everything the CLI prints comes from these objects; `to_dict` gives the JSON form, with keys
sorted by the writer so the same inputs give byte-identical files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from npusim.schedule import Timeline


@dataclass(frozen=True, slots=True)
class LayerRow:
    """One executed layer: an ONNX node, or a fused group named `a+b` / `a||b`.

    `start_ms` / `end_ms` come from the scheduled timeline: a row runs from the end of the
    row before (so rows add up to the latency) to the end of its compute, so the time it
    waits for its inputs is its own. `isolated_ms` is the group priced alone (the planner's
    figure); `compute_ms` / `memory_ms` / `overhead_ms` are its parts."""

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
    end_ms: float
    latency_ms: float
    percent: float
    isolated_ms: float
    compute_ms: float
    memory_ms: float
    overhead_ms: float
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

    @property
    def is_view(self) -> bool:
        return self.bound_by == "view"


@dataclass(frozen=True, slots=True)
class Totals:
    latency_ms: float             # the timeline's makespan: one frame, single stream
    kernels_ms: float             # first kernel start to last kernel end (runtime excluded)
    serial_latency_ms: float      # the groups priced alone, summed (the planner's objective)
    throughput_fps: float         # frames in flight: the busiest lane sets the rate
    bottleneck: str | None        # that lane
    ddr_bytes_per_frame: int      # what the timeline moves: padding, halos, reloads, spills
    priced_ddr_bytes: int         # what the plan priced (valid bytes, no layout padding)
    macs: int
    flops: int
    layers: int
    launch_bound_layers: int      # kernels that waited for the CPU to enqueue them
    busy_ms_by_unit: Mapping[str, float]
    dma_hidden_fraction: float
    spilled_buffers: int
    estimated: bool
    ddr_round_trips: int


@dataclass(frozen=True, slots=True)
class Report:
    """What `npusim.simulate` returns; `timeline.plan.problem` reaches every stage."""

    model: str
    chip: str
    precision: str
    fusion: str
    objective: str
    input_shapes: Mapping[str, tuple[int, ...]]
    layers: tuple[LayerRow, ...]
    totals: Totals
    estimated_figures: Mapping[str, str]
    timeline: Timeline | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "chip": self.chip,
            "precision": self.precision,
            "fusion": self.fusion,
            "objective": self.objective,
            "input_shapes": {k: list(v) for k, v in self.input_shapes.items()},
            "totals": {f.name: dict(v) if isinstance(v, Mapping) else v
                       for f in fields(self.totals)
                       for v in (getattr(self.totals, f.name),)},
            "layers": [{**asdict(r), "op_types": list(r.op_types), "members": list(r.members),
                        "rests_on": list(r.rests_on), "estimated": r.estimated}
                       for r in self.layers],
            "estimated_figures": dict(self.estimated_figures),
        }


@dataclass(frozen=True, slots=True)
class LlmReport:
    """A decoder's two phases on one chip: the prefill of the prompt (its latency is the time
    to first token) and one decode step with the cache filled (its latency sets tokens/s)."""

    prefill: Report
    decode: Report
    prompt_tokens: int
    cache_tokens: int
    weight_bytes_per_token: int   # weights the decode step reads from DRAM

    @property
    def time_to_first_token_ms(self) -> float:
        return self.prefill.totals.latency_ms

    @property
    def decode_ms(self) -> float:
        return self.decode.totals.latency_ms

    @property
    def tokens_per_s(self) -> float:
        return 1e3 / self.decode_ms if self.decode_ms else 0.0

    def to_dict(self) -> dict:
        return {"prompt_tokens": self.prompt_tokens, "cache_tokens": self.cache_tokens,
                "time_to_first_token_ms": self.time_to_first_token_ms,
                "decode_ms": self.decode_ms, "tokens_per_s": self.tokens_per_s,
                "weight_bytes_per_token": self.weight_bytes_per_token,
                "prefill": self.prefill.to_dict(), "decode": self.decode.to_dict()}
