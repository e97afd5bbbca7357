"""The scheduled frame: a frozen `Timeline` of events per lane (compute-unit instances and DMA
channels), the groups as they landed, and the live interval of every buffer. It holds its
`Plan`; its makespan is the latency npusim reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from npusim.fusion import Plan
from npusim.hw.layout import Layout

MIN_MS = 1e-6           # shortest event: 1 ns

LaneKind = Literal["compute", "dma", "host"]
EventKind = Literal["compute", "load", "store", "runtime"]
RUNTIME_GROUP = -1      # Event.group of the work around the kernels (runtime, conversion)
COPY_LANE = "copy"      # the lane of the host <-> device copies of graph inputs and outputs
BufferKind = Literal["input", "output", "activation", "weight", "tile", "weight-chunk",
                     "internal"]


@dataclass(frozen=True, slots=True)
class Lane:
    """A track of the timeline: one compute-unit instance or one DMA channel."""

    name: str
    unit: str
    kind: LaneKind
    instance: int


@dataclass(frozen=True, slots=True)
class Event:
    """Something a lane does from `start_ms` to `end_ms`. Compute events are named by the
    group's ONNX node names; DMA events by the graph tensor they move."""

    name: str
    kind: EventKind
    lane: str
    start_ms: float
    end_ms: float
    group: int       # index into Timeline.groups
    step: int
    tensor: str | None = None
    nbytes: int = 0
    detail: str = ""

    @property
    def duration_ms(self) -> float:
        return self.end_ms - self.start_ms


@dataclass(frozen=True, slots=True)
class Buffer:
    """A block of memory some tensor (or part of it) needs, live over [start_ms, end_ms)."""

    name: str              # unique in its level: tensor name, "t[2/3]" for a tile, ...
    tensor: str | None     # graph tensor it holds (all or part of)
    kind: BufferKind
    level: str
    size_bytes: int        # with layout padding, rounded up to the level's alignment
    valid_bytes: int       # without padding
    start_ms: float
    end_ms: float
    group: int | None      # group using it (SRAM buffers); None for DDR homes
    spilled: bool = False  # meant for SRAM, lives in DDR

    @property
    def padding_bytes(self) -> int:
        return self.size_bytes - self.valid_bytes


@dataclass(frozen=True, slots=True)
class GroupSpan:
    """Where one fused group of the plan landed."""

    index: int              # its position in Plan.groups
    name: str
    members: tuple[str, ...]
    unit: str
    staged: bool
    steps: int
    row_tiles: int
    weight_chunks: int
    weights: str            # resident | streamed
    prefetched: bool        # its first loads overlapped the group before
    first_load_ms: float
    compute_start_ms: float
    compute_end_ms: float
    last_store_ms: float
    spill_ms: float         # extra compute time for buffers spilled to DDR
    reads: tuple[str, ...] = ()   # tensors it reads from DDR (the plan's loads)
    writes: tuple[str, ...] = ()  # tensors it writes to DDR (the plan's stores)
    launch_bound: bool = False    # its kernel waited for the CPU to enqueue it


@dataclass(frozen=True, slots=True)
class TensorTraffic:
    """DDR bytes one tensor moves in the frame (padding, halos and reloads included)."""

    tensor: str
    loaded_bytes: int
    stored_bytes: int


@dataclass(frozen=True, slots=True)
class Timeline:
    """One frame of a plan on its chip: events per lane, groups, buffers and lifetimes."""

    plan: Plan
    lanes: tuple[Lane, ...]
    events: tuple[Event, ...]
    groups: tuple[GroupSpan, ...]
    buffers: tuple[Buffer, ...]
    layouts: tuple[Layout, ...]
    spilled: tuple[str, ...]                    # SRAM buffers that went to DDR
    ddr_traffic: tuple[TensorTraffic, ...]
    latency_ms: float                           # makespan of one frame: THE latency
    busy_by_lane: Mapping[str, float] = field(default_factory=dict, repr=False)

    @property
    def model(self) -> str:
        return self.plan.model

    @property
    def runtime_events(self) -> tuple[Event, ...]:
        """The work around the kernels: per-inference runtime, enqueues, input conversion."""
        return tuple(e for e in self.events if e.kind == "runtime")

    @property
    def kernels_ms(self) -> float:
        """From the first group's compute to the last one's end: what a profiler's "GPU
        compute time" measures (waits between kernels included, runtime around them not)."""
        if not self.groups:
            return 0.0
        return (max(g.compute_end_ms for g in self.groups)
                - min(g.compute_start_ms for g in self.groups))

    def busy_ms(self, lane: str) -> float:
        """Time the lane spends on events in the frame."""
        return self.busy_by_lane.get(lane, 0.0)

    @property
    def period_ms(self) -> float:
        """Steady-state time per frame with frames in flight: the busiest lane's busy time."""
        return max((self.busy_ms(lane.name) for lane in self.lanes), default=0.0)

    @property
    def bottleneck(self) -> str | None:
        if not self.lanes:
            return None
        return max(self.lanes, key=lambda lane: self.busy_ms(lane.name)).name

    @property
    def throughput_fps(self) -> float:
        """Frames per second with frames in flight (not 1000 / latency_ms)."""
        return 1e3 / self.period_ms if self.period_ms else 0.0

    @property
    def ddr_bytes(self) -> int:
        return sum(t.loaded_bytes + t.stored_bytes for t in self.ddr_traffic)

    @property
    def spill_bytes(self) -> int:
        """DDR bytes moved because SRAM buffers were spilled (not in the plan's traffic)."""
        internal = {b.tensor for b in self.buffers if b.spilled and b.kind == "internal"}
        return sum(t.loaded_bytes + t.stored_bytes for t in self.ddr_traffic
                   if t.tensor in internal)

    @property
    def dma_hidden_fraction(self) -> float:
        """Share of DMA busy time during which some compute lane is busy too."""
        dma = _union([(e.start_ms, e.end_ms) for e in self.events if e.kind != "compute"])
        comp = _union([(e.start_ms, e.end_ms) for e in self.events if e.kind == "compute"])
        total = sum(b - a for a, b in dma)
        return _overlap(dma, comp) / total if total else 1.0

    def layout(self, tensor: str) -> Layout | None:
        return next((lay for lay in self.layouts if lay.tensor == tensor), None)

    def span(self, index: int) -> GroupSpan | None:
        """Where the plan's group `index` landed (None for a view group)."""
        return next((g for g in self.groups if g.index == index), None)

    def group_of(self, name: str) -> GroupSpan | None:
        """The group a node (ONNX node name) or a group name belongs to."""
        for g in self.groups:
            if name == g.name or name in g.members:
                return g
        for g in self.groups:  # a node merged into another (conv+bn) by canonicalization
            if any(name in m.split("+") for m in g.members):
                return g
        return None


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _overlap(xs: list[tuple[float, float]], ys: list[tuple[float, float]]) -> float:
    total, j = 0.0, 0
    for a, b in xs:
        while j < len(ys) and ys[j][1] <= a:
            j += 1
        k = j
        while k < len(ys) and ys[k][0] < b:
            total += max(0.0, min(b, ys[k][1]) - max(a, ys[k][0]))
            k += 1
    return total


