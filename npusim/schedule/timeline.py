"""Schedule a fusion Plan onto a chip's compute units and DMA channels: a frozen `Timeline`
of events per lane and the live interval of every buffer those events touch.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from npusim.cost import OpCost
from npusim.fusion import Plan
from npusim.hw.schema import Chip, ComputeUnit, MemoryLevel
from npusim.ir import FusionKind, Graph, Precision, op_work
from npusim.schedule.layout import Layout, element_bytes, layout_rule, tensor_layout

MIN_MS = 1e-6           # shortest event: 1 ns
MAX_WEIGHT_CHUNKS = 64  # streamed weights move in at most this many chunks per tile
MAX_STEPS = 256         # row tiles x weight chunks of one group, to bound the event count
STRIPE_BYTES = 4096     # a transfer of at least this many bytes per channel is striped
PIPELINE_TILES = 8      # most row tiles an op processed in flight is pipelined over
_LOCKSTEP_KINDS = ("npu", "dla")


@dataclass(frozen=True, slots=True)
class Lane:
    """A track of the timeline: one compute-unit instance or one DMA channel."""

    name: str
    unit: str
    kind: str        # "compute" | "dma"
    instance: int


@dataclass(frozen=True, slots=True)
class Event:
    """Something a lane does from `start_ms` to `end_ms`. Compute events are named by the
    group's ONNX node names; DMA events by the graph tensor they move."""

    name: str
    kind: str        # "compute" | "load" | "store"
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
    kind: str              # input | output | activation | weight | tile | weight-chunk | internal
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

    index: int
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


@dataclass(frozen=True, slots=True)
class Timeline:
    """One frame of a plan on a chip: events per lane, groups, buffers and their lifetimes."""

    model: str
    chip: str
    precision: str
    strategy: str
    lanes: tuple[Lane, ...]
    events: tuple[Event, ...]
    groups: tuple[GroupSpan, ...]
    buffers: tuple[Buffer, ...]
    layouts: tuple[Layout, ...]
    spilled: tuple[str, ...]                    # SRAM buffers that went to DDR
    ddr_traffic: tuple[tuple[str, int, int], ...]  # (tensor, bytes loaded, bytes stored)
    latency_ms: float                           # makespan of one frame
    _busy: dict = field(default_factory=dict, repr=False, compare=False)

    def busy_ms(self, lane: str) -> float:
        if lane not in self._busy:
            self._busy[lane] = sum(e.duration_ms for e in self.events if e.lane == lane)
        return self._busy[lane]

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
    def fps(self) -> float:
        """Throughput with frames in flight (differs from 1000 / latency_ms)."""
        return 1e3 / self.period_ms if self.period_ms else 0.0

    @property
    def ddr_bytes(self) -> int:
        return sum(ld + st for _, ld, st in self.ddr_traffic)

    @property
    def dma_hidden_fraction(self) -> float:
        """Share of DMA busy time during which some compute lane is busy too."""
        dma = _union([(e.start_ms, e.end_ms) for e in self.events if e.kind != "compute"])
        comp = _union([(e.start_ms, e.end_ms) for e in self.events if e.kind == "compute"])
        total = sum(b - a for a, b in dma)
        return _overlap(dma, comp) / total if total else 1.0

    def layout(self, tensor: str) -> Layout | None:
        return next((lay for lay in self.layouts if lay.tensor == tensor), None)

    def group_of(self, name: str) -> GroupSpan | None:
        """The group a node (ONNX node name) or a group name belongs to."""
        for g in self.groups:
            if name == g.name or name in g.members:
                return g
        for g in self.groups:  # a node merged into another (conv+bn) by canonicalization
            if any(name in m.split("+") for m in g.members):
                return g
        return None


# -- building ----------------------------------------------------------------------------------

@dataclass(slots=True)
class _Xfer:
    buffer: str
    tensor: str
    kind: str
    traffic: int     # bytes moved over DDR
    size: int        # SRAM bytes (aligned)
    valid: int
    until: int = 0   # loads: last step that reads it; stores: step that writes it
    detail: str = ""
    setup: bool = True  # pays the DMA setup (a streamed tensor's later chunks do not)


@dataclass(slots=True)
class _Step:
    loads: list[_Xfer]
    compute_ms: float
    stores: list[_Xfer]
    detail: str = ""


@dataclass(slots=True)
class _Work:
    index: int
    cost: OpCost
    unit: ComputeUnit
    staged: bool
    level: MemoryLevel | None
    steps: list[_Step]
    internals: list[_Xfer]
    reads: list[tuple[str, int]]     # direct groups: DDR tensors read (bytes)
    writes: list[tuple[str, int]]    # direct groups: DDR tensors written (bytes)
    row_tiles: int = 1
    chunks: int = 1
    weights: str = "resident"
    peak_estimate: int = 0
    weight_share: list[tuple[str, float]] = field(default_factory=list)


class _Context:
    """Everything about (plan, graph, chip) that does not depend on spill decisions."""

    def __init__(self, plan: Plan, graph: Graph, chip: Chip):
        self.plan, self.graph, self.chip = plan, graph, chip
        self.precision = Precision(plan.precision)
        self.dram = chip.dram
        self.inputs = set(graph.inputs)
        self.outputs = set(graph.outputs)
        self.is_view = {n.name: op_work(n, graph).kind is FusionKind.SHAPE_ONLY
                        for n in graph.nodes}
        self.layouts = self._layouts()
        self._names: dict[tuple[str, str], int] = {}
        self.works = [self._work(i, c) for i, c in enumerate(plan.groups)]
        self.lanes = self._lanes()

    # -- lanes ------------------------------------------------------------------------------
    def _lanes(self) -> tuple[Lane, ...]:
        used = []
        for w in self.works:
            if w is not None and w.unit.name not in used:
                used.append(w.unit.name)
        lanes: list[Lane] = []
        for name in used:
            unit = self.chip.unit(name)
            lanes += [Lane(n, name, "compute", i) for i, n in enumerate(self.compute_lanes(unit))]
            lanes += [Lane(n, name, "dma", i) for i, n in enumerate(self.dma_lanes(unit))]
        return tuple(lanes)

    @staticmethod
    def compute_lanes(unit: ComputeUnit) -> list[str]:
        if unit.kind in _LOCKSTEP_KINDS:
            return [f"{unit.name}#{i}" for i in range(max(1, int(unit.count.value)))]
        return [unit.name]

    @staticmethod
    def dma_lanes(unit: ComputeUnit) -> list[str]:
        if unit.dma_channels is None:
            return []
        return [f"{unit.name}.dma#{i}" for i in range(max(1, int(unit.dma_channels.value)))]

    # -- layouts ------------------------------------------------------------------------------
    def _layouts(self) -> dict[str, Layout]:
        """Layout of every activation a group loads, stores or keeps: the producer's unit
        decides it (the first consumer's for graph inputs)."""
        unit_of: dict[str, str] = {}
        for c in self.plan.groups:
            if c.bound_by == "view":
                continue
            for m in c.members:
                for out in self.graph.node(m).outputs:
                    if out:
                        unit_of.setdefault(out, c.unit)
        for c in self.plan.groups:
            if c.bound_by != "view":
                for t, _ in c.loads:
                    unit_of.setdefault(t, c.unit)
        layouts = {}
        for t, unit in unit_of.items():
            tensor = self.graph.tensor(t)
            if tensor.is_constant:
                continue
            rule = layout_rule(self.chip, unit, self.precision)
            layouts[t] = tensor_layout(t, tensor.shape,
                                       element_bytes(self.graph, t, self.precision), rule)
        return layouts

    def padded(self, tensor: str, nbytes: int) -> int:
        """`nbytes` of `tensor` scaled by its layout's padding."""
        lay = self.layouts.get(tensor)
        if lay is None or lay.valid_bytes == 0:
            return nbytes
        return math.ceil(nbytes * lay.aligned_bytes / lay.valid_bytes)

    def unique(self, level: str, name: str) -> str:
        n = self._names.get((level, name), 0) + 1
        self._names[(level, name)] = n
        return name if n == 1 else f"{name}#{n}"

    # -- groups -------------------------------------------------------------------------------
    def _work(self, index: int, c: OpCost) -> _Work | None:
        if c.bound_by == "view" or all(self.is_view.get(m, False) for m in c.members):
            return None
        unit = self.chip.unit(c.unit)
        staged = unit.dma_channels is not None and unit.fusion is not None
        w = _Work(index, c, unit, staged, None, [], [], [], [])
        if not staged:
            w.reads = [(t, b) for t, b in c.loads]
            w.writes = [(t, b) for t, b in c.stores]
            w.steps = [_Step([], max(c.latency_ms, MIN_MS), [])]
            return w
        w.level = self.chip.level(unit.fusion.sram)
        self._stage(w)
        return w

    def _stage(self, w: _Work) -> None:
        c, graph, level = w.cost, self.graph, w.level
        align = int(level.alignment_bytes.value)
        capacity = int(level.capacity_bytes.value)
        weights = [(t, b) for t, b in c.loads if graph.tensor(t).is_constant]
        acts = [(t, b) for t, b in c.loads if not graph.tensor(t).is_constant]
        w_total = sum(b for _, b in weights)
        a_total = sum(self.padded(t, b) for t, b in acts)
        o_total = sum(self.padded(t, b) for t, b in c.stores)
        internals: list[tuple[str, int]] = []
        if c.sram_level is not None:
            stored = {t for t, _ in c.stores}
            for m in c.members:
                if self.is_view.get(m, False):
                    continue
                for out in graph.node(m).outputs:
                    if out and out not in stored and out not in self.outputs:
                        nbytes = math.ceil(graph.tensor(out).size
                                           * element_bytes(graph, out, self.precision))
                        internals.append((out, nbytes))
        rows = max([_rows(graph, t) for t, _ in c.stores] or [1])
        # Tiling: the plan's for a fused group; for an op (or op + epilogue) processed in
        # flight, the fewest row tiles whose double-buffered tiles fit beside the weights.
        if c.sram_level is not None:
            tiles, mode = c.tiling.row_tiles, c.tiling.weights
        else:
            tiles, mode = _staging(w_total, a_total, o_total, capacity, rows)
            tiles = max(tiles, min(rows, self._pipeline_tiles(w.unit, acts, c.stores)))
        chunks = 1
        if mode == "streamed" and weights:
            chunks = max(2, min(MAX_WEIGHT_CHUNKS, MAX_STEPS // tiles, math.ceil(
                w_total / max(1, self._largest_chunk(w.unit, weights)))))
        w.row_tiles, w.chunks, w.weights = tiles, chunks, mode
        # Bytes each activation moves in all: the plan's loads less weight traffic (halos).
        w_traffic = w_total * (tiles if mode == "streamed" and c.sram_level is not None else 1)
        a_valid = sum(b for _, b in acts)
        halo = max(1.0, (c.bytes_loaded - w_traffic) / a_valid) if a_valid else 1.0
        steps = tiles * chunks
        compute = max(c.compute_ms, 0.0) / steps
        first = c.members[0]
        sram = level.name
        first_ms = c.overhead_ms + getattr(c, "transition_ms", 0.0)
        w.steps = [_Step([], compute + (first_ms if s == 0 else 0.0), [],
                         _step_detail(s, tiles, chunks)) for s in range(steps)]
        if mode == "resident":
            for t, b in weights:
                w.steps[0].loads.append(_Xfer(self.unique(sram, t), t, "weight", b,
                                              _align(b, align), b, steps - 1))
        for tile in range(tiles):
            s0, s1 = tile * chunks, tile * chunks + chunks - 1
            tag = f"[{tile + 1}/{tiles}]" if tiles > 1 else ""
            for t, b in acts:
                # Traffic carries halos (and any re-reads the cost model charges); the
                # buffer holds one tile with its halo, never more than the whole tensor.
                traffic = math.ceil(self.padded(t, b) * halo / tiles)
                share = min(1.0, halo / tiles)
                size = math.ceil(self.padded(t, b) * share)
                w.steps[s0].loads.append(_Xfer(self.unique(sram, t + tag), t,
                                               "tile" if tiles > 1 else "activation",
                                               traffic, _align(size, align),
                                               math.ceil(b * share), s1))
            for t, b in c.stores:
                traffic = math.ceil(self.padded(t, b) / tiles)
                w.steps[s1].stores.append(_Xfer(self.unique(sram, t + tag), t,
                                                "tile" if tiles > 1 else "activation",
                                                traffic, _align(traffic, align),
                                                math.ceil(b / tiles), s0))
            if mode == "streamed" and weights:
                per_tile = w_total if c.sram_level is not None else w_total / tiles
                for k in range(chunks):
                    s = s0 + k
                    nbytes = math.ceil(per_tile / chunks)
                    name = self.unique(sram, f"{first}::weights[{s + 1}/{steps}]")
                    w.steps[s].loads.append(_Xfer(name, "", "weight-chunk", nbytes,
                                                  _align(nbytes, align), nbytes, s,
                                                  f"weights chunk {k + 1}/{chunks}",
                                                  setup=k == 0))
        w.weight_share = [(t, b / w_total) for t, b in weights] if w_total else []
        for t, b in internals:
            size = self.padded(t, b)
            per_tile = math.ceil(size / tiles)
            w.internals.append(_Xfer(self.unique(sram, t), t, "internal", 2 * per_tile,
                                     _align(per_tile, align), math.ceil(b / tiles)))
        resident = sum(x.size for x in w.steps[0].loads if x.kind == "weight")
        step_peak = max(sum(x.size for x in s.loads if x.kind != "weight")
                        + sum(x.size for x in s.stores) for s in w.steps)
        w.peak_estimate = resident + sum(x.size for x in w.internals) + 2 * step_peak

    def _pipeline_tiles(self, unit: ComputeUnit, acts, stores) -> int:
        """Row tiles that pipeline an in-flight op best: more tiles hide more of the first
        load and last store ((L + S) / T exposed), but each tile pays the DMA setup once per
        tensor; T = sqrt((L + S) time / setup per tile) balances the two."""
        dma = getattr(unit, "dma", None)
        setup_ms = getattr(dma, "setup_us").value / 1e3 if dma is not None else 0.0
        if setup_ms <= 0:
            return PIPELINE_TILES
        rate = self.dram.achieved_bandwidth_GBps * 1e6
        moved_ms = sum(self.padded(t, b) for t, b in (*acts, *stores)) / rate
        per_tile_ms = setup_ms * max(1, len(acts) + len(stores))
        return max(1, min(PIPELINE_TILES, round(math.sqrt(moved_ms / per_tile_ms))))

    def _largest_chunk(self, unit: ComputeUnit, weights: list[tuple[str, int]]) -> int:
        block = int(unit.fusion.weight_block_channels.value) if unit.fusion else 64
        chunk = 1
        for t, b in weights:
            shape = self.graph.shape(t)
            channels = shape[0] if len(shape) == 4 else shape[-1] if shape else 1
            chunk = max(chunk, math.ceil(b / math.ceil(max(channels, 1) / block)))
        return chunk


def _staging(w_total: int, a_total: int, o_total: int, capacity: int, rows: int
             ) -> tuple[int, str]:
    if w_total + a_total + o_total <= capacity:
        return 1, "resident"
    mode = "resident" if w_total <= capacity // 2 else "streamed"
    fixed = w_total if mode == "resident" else 0
    for tiles in range(2, max(2, rows) + 1):
        if fixed + 2 * (a_total + o_total) / tiles <= capacity - (
                0 if mode == "resident" else capacity // 4):
            return tiles, mode
    return max(1, rows), mode


def _rows(graph: Graph, tensor: str) -> int:
    shape = graph.shape(tensor)
    return shape[-2] if len(shape) >= 2 else 1


def _align(nbytes: int, align: int) -> int:
    return max(align, -(-int(nbytes) // align) * align)


def _step_detail(s: int, tiles: int, chunks: int) -> str:
    parts = []
    if tiles > 1:
        parts.append(f"tile {s // chunks + 1}/{tiles}")
    if chunks > 1:
        parts.append(f"chunk {s % chunks + 1}/{chunks}")
    return ", ".join(parts)


# -- scheduling ----------------------------------------------------------------------------------

class _Scheduler:
    """One list-scheduling pass in plan order, for given spill and no-prefetch decisions."""

    def __init__(self, ctx: _Context, spilled: frozenset[str], no_prefetch: frozenset[int]):
        self.ctx, self.spilled, self.no_prefetch = ctx, spilled, no_prefetch
        self.free: dict[str, float] = defaultdict(float)
        self.events: list[Event] = []
        self.store_done: dict[str, float] = {}
        self.first_write: dict[str, float] = {}
        self.last_read: dict[str, float] = defaultdict(float)
        self.loaded: dict[str, float] = defaultdict(float)
        self.stored: dict[str, int] = defaultdict(int)
        self.buffers: list[Buffer] = []
        self.spans: list[GroupSpan] = []
        # per flat step: compute (start, end), load ends, store ends
        self.compute: dict[tuple[int, int], tuple[float, float]] = {}
        self.load_end: dict[tuple[int, int], float] = defaultdict(float)
        self.load_start: dict[tuple[int, int, str], float] = {}
        self.store_end: dict[tuple[int, int], float] = defaultdict(float)
        self.store_event: dict[tuple[int, str], tuple[float, float]] = {}
        self.tile_store_end: dict[str, float] = {}
        self.issued: set[tuple[int, int, str]] = set()
        self.prefetched: dict[int, bool] = {}
        self.spill_ms: dict[int, float] = defaultdict(float)
        self.first_load: dict[int, float] = {}

    # DDR bandwidth in bytes per ms
    def _ddr_rate(self, unit: ComputeUnit) -> float:
        level = self.ctx.chip.level(unit.fusion.sram) if unit.fusion else None
        gbps = self.ctx.dram.achieved_bandwidth_GBps
        if level is not None:
            gbps = min(gbps, level.bandwidth_GBps.value)
        return gbps * 1e6

    def _dma_ms(self, unit: ComputeUnit, nbytes: int, setup: bool = True) -> float:
        channels = max(1, int(unit.dma_channels.value))
        dma = getattr(unit, "dma", None)
        setup_ms = 0.0
        if dma is not None:
            burst = int(getattr(dma, "burst_bytes").value)
            nbytes = -(-nbytes // burst) * burst if burst > 0 else nbytes
            setup_ms = getattr(dma, "setup_us").value / 1e3 if setup else 0.0
        return max(MIN_MS, setup_ms + nbytes * channels / self._ddr_rate(unit))

    def ready(self, tensor: str) -> float:
        if tensor in self.ctx.inputs or not tensor or self.ctx.graph.tensor(tensor).is_constant:
            return 0.0
        return self.store_done.get(tensor, 0.0)

    def _available(self, tensor: str) -> bool:
        """Is the tensor's DDR copy complete (or will no group ever store it)?"""
        if tensor in self.ctx.inputs or not tensor or self.ctx.graph.tensor(tensor).is_constant:
            return True
        return tensor in self.store_done or tensor not in self.producers

    def run(self) -> None:
        ctx = self.ctx
        self.producers = {t for w in ctx.works if w is not None for t, _ in w.cost.stores}
        flat = [(w, s) for w in ctx.works if w is not None for s in range(len(w.steps))]
        self.flat = flat
        self.prev_on_unit: dict[int, tuple[int, int] | None] = {}
        last: dict[str, tuple[int, int]] = {}
        for i, (w, s) in enumerate(flat):
            self.prev_on_unit[i] = last.get(w.unit.name)
            last[w.unit.name] = (w.index, s)
        self.works_by_index = {w.index: w for w in ctx.works if w is not None}
        if flat:
            self._issue_loads(0, only_available=False)
        for i, (w, s) in enumerate(flat):
            self._issue_loads(i, only_available=False)
            self._compute(i)
            if i + 1 < len(flat):
                self._issue_loads(i + 1, only_available=True)
            self._issue_stores(i)
            if s == len(w.steps) - 1:
                self._close_group(w)

    # -- loads --------------------------------------------------------------------------------
    def _issue_time(self, i: int) -> float:
        w, s = self.flat[i]
        if s > 0:
            return self.compute[(w.index, s - 1)][0]
        prev = self.prev_on_unit[i]
        if prev is None:
            return 0.0
        pw = self.works_by_index[prev[0]]
        start, end = self.compute[prev]
        allow = (w.index not in self.no_prefetch
                 and pw.peak_estimate + sum(x.size for x in w.steps[0].loads)
                 <= int(w.level.capacity_bytes.value))
        self.prefetched[w.index] = allow
        return start if allow else end

    def _issue_loads(self, i: int, only_available: bool) -> None:
        w, s = self.flat[i]
        if not w.staged:
            return
        step = w.steps[s]
        issue = None
        for x in step.loads:
            key = (w.index, s, x.buffer)
            if key in self.issued:
                continue
            if x.buffer in self.spilled:
                self.issued.add(key)
                continue
            if only_available and not self._available(x.tensor):
                continue
            if issue is None:
                issue = self._issue_time(i)
            self.issued.add(key)
            ready = max(issue, self.ready(x.tensor))
            start, end = self._transfer(w, s, x, ready, "load", x.detail or step.detail)
            self.load_end[(w.index, s)] = max(self.load_end[(w.index, s)], end)
            self.load_start[key] = start
            self.first_load[w.index] = min(self.first_load.get(w.index, start), start)
            self._count_load(w, x, end)

    def _transfer(self, w: _Work, s: int, x: _Xfer, ready: float, kind: str, detail: str
                  ) -> tuple[float, float]:
        """Move `x` from `ready` on: a large transfer is striped over every channel (each
        moves its share at its share of the bandwidth), a small one takes the channel that
        frees first. Returns (start, end) of the whole transfer."""
        lanes = self.ctx.dma_lanes(w.unit)
        if x.traffic >= STRIPE_BYTES * len(lanes) and len(lanes) > 1:
            start = max([ready] + [self.free[lane] for lane in lanes])
            parts = [x.traffic // len(lanes) + (1 if k < x.traffic % len(lanes) else 0)
                     for k in range(len(lanes))]
            assigned = list(zip(lanes, parts))
        else:
            lane = self._channel(w.unit, ready)
            start = max(ready, self.free[lane])
            assigned = [(lane, x.traffic)]
        end = start
        for lane, nbytes in assigned:
            stop = start + self._dma_ms(w.unit, nbytes, x.setup)
            self.free[lane] = stop
            end = max(end, stop)
            self.events.append(Event(x.tensor or x.buffer, kind, lane, start, stop, w.index, s,
                                     x.tensor or None, nbytes, detail))
        return start, end

    def _channel(self, unit: ComputeUnit, ready: float) -> str:
        lanes = self.ctx.dma_lanes(unit)
        return min(lanes, key=lambda lane: (max(ready, self.free[lane]), lanes.index(lane)))

    # -- compute ------------------------------------------------------------------------------
    def _compute(self, i: int) -> None:
        w, s = self.flat[i]
        lanes = self.ctx.compute_lanes(w.unit)
        start = max(self.free[lane] for lane in lanes)
        step = w.steps[s]
        extra = 0.0
        full_rate = self.ctx.dram.achieved_bandwidth_GBps * 1e6
        if not w.staged:
            for t, _ in w.reads:
                start = max(start, self.ready(t))
        else:
            start = max(start, self.load_end[(w.index, s)])
            if s >= 2:
                start = max(start, self.store_end[(w.index, s - 2)])
            for x in step.loads:
                if x.buffer in self.spilled:
                    start = max(start, self.ready(x.tensor))
                    extra += x.traffic / full_rate
            extra += sum(x.traffic for x in step.stores if x.buffer in self.spilled) / full_rate
            extra += sum(x.traffic for x in w.internals
                         if x.buffer in self.spilled) / full_rate / len(w.steps)
        end = start + max(MIN_MS, step.compute_ms + extra)
        self.spill_ms[w.index] += extra
        for lane in lanes:
            self.events.append(Event(w.cost.name, "compute", lane, start, end, w.index, s,
                                     None, 0, step.detail))
            self.free[lane] = end
        self.compute[(w.index, s)] = (start, end)
        if not w.staged:
            for t, b in w.reads:
                self.loaded[t] += b
                self.last_read[t] = max(self.last_read[t], end)
            for t, b in w.writes:
                self.stored[t] += b
                self.first_write.setdefault(t, start)
                self.store_done[t] = end
            return
        for x in step.loads:
            if x.buffer in self.spilled:
                self._count_load(w, x, end)

    def _count_load(self, w: _Work, x: _Xfer, end: float) -> None:
        """DDR bytes read by a load; a weight chunk's bytes go to its group's weights."""
        for t, share in ([(x.tensor, 1.0)] if x.tensor else w.weight_share):
            self.loaded[t] += x.traffic * share
            self.last_read[t] = max(self.last_read[t], end)

    # -- stores -------------------------------------------------------------------------------
    def _issue_stores(self, i: int) -> None:
        w, s = self.flat[i]
        if not w.staged:
            return
        c_start, c_end = self.compute[(w.index, s)]
        for x in w.steps[s].stores:
            if x.buffer in self.spilled:
                start, end = c_start, c_end
                self.first_write.setdefault(x.tensor, c_start)
            else:
                start, end = self._transfer(w, s, x, c_end, "store", w.steps[s].detail)
                self.first_write.setdefault(x.tensor, start)
            self.store_event[(w.index, x.buffer)] = (start, end)
            self.store_end[(w.index, s)] = max(self.store_end[(w.index, s)], end)
            self.tile_store_end[x.tensor] = max(self.tile_store_end.get(x.tensor, 0.0), end)
            self.stored[x.tensor] += x.traffic
        if s == len(w.steps) - 1:  # a tensor is in DDR once its last tile is stored
            for t, _ in w.cost.stores:
                self.store_done[t] = self.tile_store_end.get(t, c_end)

    # -- buffers ------------------------------------------------------------------------------
    def _close_group(self, w: _Work) -> None:
        starts = [self.compute[(w.index, s)][0] for s in range(len(w.steps))]
        ends = [self.compute[(w.index, s)][1] for s in range(len(w.steps))]
        last_store = max([self.store_end[(w.index, s)] for s in range(len(w.steps))]
                         + [ends[-1]])
        if w.staged:
            level = w.level.name
            for s, step in enumerate(w.steps):
                for x in step.loads:
                    if x.buffer in self.spilled:
                        continue
                    start = self.load_start[(w.index, s, x.buffer)]
                    self.buffers.append(Buffer(x.buffer, x.tensor or None, x.kind, level, x.size,
                                               x.valid, start, ends[x.until], w.index))
                for x in step.stores:
                    if x.buffer in self.spilled:
                        continue
                    _, end = self.store_event[(w.index, x.buffer)]
                    self.buffers.append(Buffer(x.buffer, x.tensor, x.kind, level, x.size,
                                               x.valid, starts[x.until], end, w.index))
            for x in w.internals:
                spilled = x.buffer in self.spilled
                where = self.ctx.dram.name if spilled else level
                size = _align(x.size, int(self.ctx.dram.alignment_bytes.value)) if spilled \
                    else x.size
                self.buffers.append(Buffer(x.buffer, x.tensor, "internal", where, size,
                                           x.valid, starts[0], ends[-1], w.index, spilled))
                if spilled:
                    self.loaded[x.tensor] += x.traffic // 2
                    self.stored[x.tensor] += x.traffic // 2
        self.spans.append(GroupSpan(
            w.index, w.cost.name, w.cost.members, w.unit.name, w.staged, len(w.steps),
            w.row_tiles, w.chunks, w.weights, self.prefetched.get(w.index, False),
            self.first_load.get(w.index, starts[0]), starts[0], ends[-1], last_store,
            self.spill_ms[w.index], tuple(t for t, _ in w.cost.loads),
            tuple(t for t, _ in w.cost.stores)))

    def ddr_homes(self, makespan: float) -> list[Buffer]:
        """Every tensor that lives in DDR: weights for the whole frame, graph inputs from
        0 to their last read, other activations from first write to last read (graph outputs
        to the end of the frame)."""
        ctx = self.ctx
        dram = ctx.dram
        align = int(dram.alignment_bytes.value)
        names: list[str] = []
        sizes: dict[str, int] = {}
        for w in ctx.works:
            if w is None:
                continue
            for t, b in (*w.cost.loads, *w.cost.stores):
                if t not in sizes:
                    names.append(t)
                sizes[t] = max(sizes.get(t, 0), b)
        homes = []
        for t in names:
            tensor = ctx.graph.tensor(t)
            valid = sizes[t]
            size = _align(ctx.padded(t, valid), align)
            if tensor.is_constant:
                kind, start, end = "weight", 0.0, makespan
            elif t in ctx.inputs:
                kind, start, end = "input", 0.0, self.last_read.get(t, 0.0)
            else:
                kind = "output" if t in ctx.outputs else "activation"
                start = self.first_write.get(t, 0.0)
                end = makespan if t in ctx.outputs else max(
                    self.last_read.get(t, 0.0), self.store_done.get(t, start))
            homes.append(Buffer(t, t, kind, dram.name, size, valid, start,
                                max(end, start + MIN_MS), None))
        return homes


def build(plan: Plan, graph: Graph, chip: Chip, ctx: _Context | None = None,
          spilled: frozenset[str] = frozenset(), no_prefetch: frozenset[int] = frozenset()
          ) -> Timeline:
    """One scheduling pass for given spill / no-prefetch decisions (see `schedule`)."""
    ctx = ctx or _Context(plan, graph, chip)
    sch = _Scheduler(ctx, spilled, no_prefetch)
    sch.run()
    makespan = max((e.end_ms for e in sch.events), default=0.0)
    events = sorted(sch.events, key=lambda e: (e.start_ms, _lane_order(ctx.lanes, e.lane),
                                               e.end_ms))
    buffers = sch.buffers + sch.ddr_homes(makespan)
    tensors = sorted(set(sch.loaded) | set(sch.stored))
    traffic = tuple((t, round(sch.loaded.get(t, 0)), sch.stored.get(t, 0)) for t in tensors)
    layouts = tuple(ctx.layouts[t] for t in sorted(ctx.layouts))
    return Timeline(plan.model, chip.name, plan.precision, plan.strategy, ctx.lanes,
                    tuple(events), tuple(sch.spans), tuple(buffers), layouts,
                    tuple(sorted(spilled)), traffic, makespan)


def _lane_order(lanes: tuple[Lane, ...], name: str) -> int:
    for i, lane in enumerate(lanes):
        if lane.name == name:
            return i
    return len(lanes)


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


def schedule(plan: Plan, graph: Graph, chip: Chip) -> Timeline:
    """Schedule `plan` on `chip`, refining the cost model's groups into events.

    - A group on a unit with DMA channels and a fusion SRAM level (J5 BPU, DLA) is
      *staged*: it runs as steps (row tiles x weight chunks). A step's inputs are DMA'd
      from DDR into SRAM, the unit computes, its outputs are DMA'd back. The next step's
      loads run while this step computes (double buffering); across groups they do so when
      SRAM holds both groups (prefetch), else they wait for this group to finish. Stores
      overlap the next step.
    - A group on a unit without DMA (GPU SMs, CPU) reads and writes DDR itself: one event
      of the cost model's latency.
    - All instances of a unit (the 2 BPU cores) run each group in lockstep, the work split
      evenly over them as the cost model assumes: one lane per instance, identical events.
    - A DMA channel moves a transfer at its share of the DRAM bandwidth (achieved bandwidth
      / channels; large transfers are striped over all channels), paying the unit's DMA
      setup (once per tensor per tile) and burst rounding when the profile gives them.
    - Activations move in the layout of the unit that produces them, padding included.
    - A buffer the placement cannot fit in SRAM (`spilled`) is not staged: the unit reads
      or writes it in DDR while computing, and that step lasts bytes / DRAM bandwidth longer.
    - Every event lasts at least 1 ns, so every live interval is non-empty.

    Which SRAM buffers fit is settled here: each pass is placed with the allocator the
    MemoryMap uses; where a level overflows, the groups involved first give up prefetching,
    then the buffers that still do not fit are spilled to DDR, and the pass is repeated."""
    from npusim.schedule.placement import Request, greedy_by_size
    ctx = _Context(plan, graph, chip)
    spilled: set[str] = set()
    no_prefetch: set[int] = set()
    for _ in range(64):
        tl = build(plan, graph, chip, ctx, frozenset(spilled), frozenset(no_prefetch))
        failed: list[Buffer] = []
        for level in chip.memory:
            if level.kind == "dram":
                continue
            bufs = [b for b in tl.buffers if b.level == level.name]
            if not bufs:
                continue
            arena = greedy_by_size([Request(b.name, b.size_bytes, b.start_ms, b.end_ms)
                                    for b in bufs], int(level.alignment_bytes.value),
                                   int(level.capacity_bytes.value))
            lost = set(arena.unplaced)
            failed += [b for b in bufs if b.name in lost]
        if not failed:
            return tl
        groups = {b.group for b in failed if b.group is not None}
        fresh = {g for g0 in groups for g in (g0, g0 + 1)} - no_prefetch
        if fresh:
            no_prefetch |= fresh
        else:
            spilled |= {b.name for b in failed}
    return tl
