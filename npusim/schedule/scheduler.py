"""List-schedule a staged plan in plan order: DMA loads (prefetched when SRAM holds both
groups), compute on every instance of the unit, stores; one pass per spill decision.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from types import MappingProxyType

from npusim.hw.schema import ComputeUnit
from npusim.schedule.runtime import output_copy, runtime_work
from npusim.schedule.staging import (
    Staging,
    Work,
    Xfer,
    _align,
    compute_lanes,
    dma_lanes,
)
from npusim.schedule.timeline import (
    MIN_MS,
    Buffer,
    Event,
    GroupSpan,
    TensorTraffic,
    Timeline,
)

STRIPE_BYTES = 4096     # a transfer of at least this many bytes per channel is striped


class _Scheduler:
    """One list-scheduling pass in plan order, for given spill and no-prefetch decisions."""

    def __init__(self, ctx: Staging, spilled: frozenset[str], no_prefetch: frozenset[int],
                 drained: frozenset[int] = frozenset()):
        self.ctx, self.spilled, self.no_prefetch = ctx, spilled, no_prefetch
        self.drained = drained  # groups whose loads wait for the previous group's stores
        graph = ctx.problem.graph
        self.inputs, self.outputs = set(graph.inputs), set(graph.outputs)
        self.constant = {t for t, tensor in graph.tensors.items() if tensor.is_constant}
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
        self.input_ready = 0.0                   # graph inputs are in DDR from then on
        self.enqueued: Mapping[int, float] = {}  # group -> when the CPU has enqueued it
        self.launch_bound: set[int] = set()

    # DDR bandwidth in bytes per ms
    def _ddr_rate(self, unit: ComputeUnit) -> float:
        level = self.ctx.chip.level(unit.fusion.sram) if unit.fusion else None
        gbps = self.ctx.dram.achieved_bandwidth_GBps
        if level is not None:
            gbps = min(gbps, level.bandwidth_GBps.value)
        return gbps * 1e6

    def _dma_ms(self, unit: ComputeUnit, nbytes: int, setup: bool = True) -> float:
        channels = max(1, int(unit.dma_channels.value))
        dma = unit.dma
        setup_ms = 0.0
        if dma is not None:
            burst = int(dma.burst_bytes.value)
            nbytes = -(-nbytes // burst) * burst if burst > 0 else nbytes
            setup_ms = dma.setup_us.value / 1e3 if setup else 0.0
        return max(MIN_MS, setup_ms + nbytes * channels / self._ddr_rate(unit))

    def ready(self, tensor: str) -> float:
        if not tensor or tensor in self.constant:
            return 0.0
        if tensor in self.inputs:
            return self.input_ready
        return self.store_done.get(tensor, 0.0)

    def _available(self, tensor: str) -> bool:
        """Is the tensor's DDR copy complete (or will no group ever store it)?"""
        if not tensor or tensor in self.inputs or tensor in self.constant:
            return True
        return tensor in self.store_done or tensor not in self.producers

    def run(self) -> None:
        ctx = self.ctx
        self.producers = {t.tensor for w in ctx.works if w is not None for t in w.cost.stores}
        flat = [(w, s) for w in ctx.works if w is not None for s in range(len(w.steps))]
        self.flat = flat
        self.prev_on_unit: dict[int, tuple[int, int] | None] = {}
        last: dict[str, tuple[int, int]] = {}
        for i, (w, s) in enumerate(flat):
            self.prev_on_unit[i] = last.get(w.unit.name)
            last[w.unit.name] = (w.index, s)
        self.works_by_index = {w.index: w for w in ctx.works if w is not None}
        rt = runtime_work(ctx)
        self.events += rt.events
        for lane in ctx.lanes:
            self.free[lane.name] = max(rt.start_ms, rt.lane_free.get(lane.name, 0.0))
        self.input_ready, self.enqueued = rt.input_ready_ms, rt.enqueued
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
        if allow:
            return start
        if w.index in self.drained:  # SRAM is too full to overlap the previous stores
            return max([end] + [self.store_end[(prev[0], k)] for k in range(len(pw.steps))])
        return end

    def _issue_loads(self, i: int, only_available: bool) -> None:
        w, s = self.flat[i]
        if not w.staged or (only_available and s == 0 and w.index in self.drained):
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

    def _transfer(self, w: Work, s: int, x: Xfer, ready: float, kind: str, detail: str
                  ) -> tuple[float, float]:
        """Move `x` from `ready` on: a large transfer is striped over every channel (each
        moves its share at its share of the bandwidth), a small one takes the channel that
        frees first. Returns (start, end) of the whole transfer."""
        lanes = dma_lanes(w.unit)
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
        lanes = dma_lanes(unit)
        return min(lanes, key=lambda lane: (max(ready, self.free[lane]), lanes.index(lane)))

    # -- compute ------------------------------------------------------------------------------
    def _compute(self, i: int) -> None:
        w, s = self.flat[i]
        lanes = compute_lanes(w.unit)
        start = max(self.free[lane] for lane in lanes)
        step = w.steps[s]
        extra = 0.0
        full_rate = self.ctx.dram.achieved_bandwidth_GBps * 1e6
        if not w.staged:
            for t, _ in w.reads:
                start = max(start, self.ready(t))
            enqueued = self.enqueued.get(w.index, 0.0)
            if enqueued > start:
                start = enqueued
                self.launch_bound.add(w.index)
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

    def _count_load(self, w: Work, x: Xfer, end: float) -> None:
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
            for t in w.cost.stores:
                self.store_done[t.tensor] = self.tile_store_end.get(t.tensor, c_end)

    # -- buffers ------------------------------------------------------------------------------
    def _close_group(self, w: Work) -> None:
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
            self.spill_ms[w.index], tuple(t.tensor for t in w.cost.loads),
            tuple(t.tensor for t in w.cost.stores), w.index in self.launch_bound))

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
            for t in w.cost.traffic:
                if t.tensor not in sizes:
                    names.append(t.tensor)
                sizes[t.tensor] = max(sizes.get(t.tensor, 0), t.tensor_bytes)
        homes = []
        for t in names:
            valid = sizes[t]
            size = _align(ctx.padded(t, valid), align)
            if t in self.constant:
                kind, start, end = "weight", 0.0, makespan
            elif t in self.inputs:
                kind, start, end = "input", 0.0, self.last_read.get(t, 0.0)
            else:
                kind = "output" if t in self.outputs else "activation"
                start = self.first_write.get(t, 0.0)
                end = makespan if t in self.outputs else max(
                    self.last_read.get(t, 0.0), self.store_done.get(t, start))
            homes.append(Buffer(t, t, kind, dram.name, size, valid, start,
                                max(end, start + MIN_MS), None))
        return homes


def build(ctx: Staging, spilled: frozenset[str] = frozenset(),
          no_prefetch: frozenset[int] = frozenset(), drained: frozenset[int] = frozenset()
          ) -> Timeline:
    """One scheduling pass of a staged plan for given spill / no-prefetch / drain
    decisions."""
    sch = _Scheduler(ctx, spilled, no_prefetch, drained)
    sch.run()
    copy = output_copy(ctx, sch.events)
    if copy is not None:
        sch.events.append(copy)
    makespan = max((e.end_ms for e in sch.events), default=0.0)
    order = {lane.name: i for i, lane in enumerate(ctx.lanes)}
    events = sorted(sch.events, key=lambda e: (e.start_ms, order.get(e.lane, len(order)),
                                               e.end_ms))
    buffers = sch.buffers + sch.ddr_homes(makespan)
    tensors = sorted(set(sch.loaded) | set(sch.stored))
    traffic = tuple(TensorTraffic(t, round(sch.loaded.get(t, 0)), sch.stored.get(t, 0))
                    for t in tensors)
    busy: dict[str, float] = {}
    for e in events:
        busy[e.lane] = busy.get(e.lane, 0.0) + e.duration_ms
    return Timeline(ctx.plan, ctx.lanes, tuple(events), tuple(sch.spans), tuple(buffers),
                    ctx.layouts, tuple(sorted(spilled)), traffic, makespan,
                    MappingProxyType(busy))
