"""Turn each group of a Plan into steps for the scheduler: which transfers each row tile (and
weight chunk) moves, how long it computes, which buffers it needs in SRAM. The traffic is the
plan's own (`OpCost.traffic`): halo rows, reloads and re-reads are never re-derived here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from npusim.cost import OpCost, Traffic
from npusim.fusion import Plan
from npusim.hw.layout import Layout
from npusim.hw.schema import ComputeUnit, MemoryLevel
from npusim.schedule.timeline import COPY_LANE, MIN_MS, BufferKind, Lane

MAX_WEIGHT_CHUNKS = 64  # streamed weights move in at most this many chunks per tile
MAX_STEPS = 256         # row tiles x weight chunks of one group, to bound the event count
PIPELINE_TILES = 8      # most row tiles an op processed in flight is pipelined over
_LOCKSTEP_KINDS = ("npu", "dla")


@dataclass(slots=True)
class Xfer:
    """One DMA transfer of a step, and the SRAM buffer it fills or drains."""

    buffer: str
    tensor: str
    kind: BufferKind
    traffic: int     # bytes moved over DDR
    size: int        # SRAM bytes (aligned)
    valid: int
    until: int = 0   # loads: last step that reads it; stores: step that writes it
    detail: str = ""
    setup: bool = True  # pays the DMA setup (a streamed tensor's later chunks do not)


@dataclass(slots=True)
class Step:
    loads: list[Xfer]
    compute_ms: float
    stores: list[Xfer]
    detail: str = ""


@dataclass(slots=True)
class Work:
    """A group as the scheduler runs it: staged (DMA into SRAM, compute, DMA out, step by
    step) on a unit with DMA channels and a fusion SRAM level, direct otherwise."""

    index: int
    cost: OpCost
    unit: ComputeUnit
    staged: bool
    level: MemoryLevel | None
    steps: list[Step]
    internals: list[Xfer]
    reads: list[tuple[str, int]]     # direct groups: DDR tensors read (bytes)
    writes: list[tuple[str, int]]    # direct groups: DDR tensors written (bytes)
    row_tiles: int = 1
    chunks: int = 1
    weights: str = "resident"
    peak_estimate: int = 0
    weight_share: list[tuple[str, float]] = field(default_factory=list)


class Staging:
    """Everything about a plan that does not depend on spill decisions."""

    def __init__(self, plan: Plan):
        self.plan, self.problem, self.chip = plan, plan.problem, plan.chip
        self.dram = self.chip.dram
        self._names: dict[tuple[str, str], int] = {}
        self.works = [self._work(i, c) for i, c in enumerate(plan.groups)]
        self.lanes = self._lanes()
        moved = {t.tensor for w in self.works if w is not None
                 for t in w.cost.traffic} | {x.tensor for w in self.works if w is not None
                                             for x in w.internals}
        self.layouts: tuple[Layout, ...] = tuple(
            self.problem.layouts[t] for t in sorted(moved) if t in self.problem.layouts)

    # -- lanes ------------------------------------------------------------------------------
    def _lanes(self) -> tuple[Lane, ...]:
        used = []
        for w in self.works:
            if w is not None and w.unit.name not in used:
                used.append(w.unit.name)
        lanes: list[Lane] = []
        runtime = self.chip.runtime
        if runtime is not None and (runtime.inference_overhead_us or runtime.kernel_enqueue_us):
            lanes.append(Lane("host", "host", "host", 0))
        if runtime is not None and (runtime.host_to_device_GBps or runtime.device_to_host_GBps):
            lanes.append(Lane(COPY_LANE, "host", "host", 0))
        for name in used:
            unit = self.chip.unit(name)
            lanes += [Lane(n, name, "compute", i) for i, n in enumerate(compute_lanes(unit))]
            lanes += [Lane(n, name, "dma", i) for i, n in enumerate(dma_lanes(unit))]
        return tuple(lanes)

    def padded(self, tensor: str, nbytes: float) -> int:
        return self.problem.padded(tensor, nbytes)

    def unique(self, level: str, name: str) -> str:
        n = self._names.get((level, name), 0) + 1
        self._names[(level, name)] = n
        return name if n == 1 else f"{name}#{n}"

    # -- groups -------------------------------------------------------------------------------
    def _work(self, index: int, c: OpCost) -> Work | None:
        if c.is_view:
            return None
        unit = self.chip.unit(c.unit)
        staged = unit.dma_channels is not None and unit.fusion is not None
        w = Work(index, c, unit, staged, None, [], [], [], [])
        if not staged:
            w.reads = [(t.tensor, t.bytes_moved) for t in c.loads]
            w.writes = [(t.tensor, t.bytes_moved) for t in c.stores]
            w.steps = [Step([], max(c.latency_ms, MIN_MS), [])]
            return w
        w.level = self.chip.level(unit.fusion.sram)
        self._stage(w)
        return w

    def _stage(self, w: Work) -> None:
        c, level = w.cost, w.level
        align = int(level.alignment_bytes.value)
        weights = [t for t in c.loads if t.constant]
        acts = [t for t in c.loads if not t.constant]
        fused = c.sram_level is not None
        tiles, mode = self._tiling(w, weights, acts)
        chunks = 1
        if mode == "streamed" and weights:
            chunks = max(2, min(MAX_WEIGHT_CHUNKS, MAX_STEPS // tiles, math.ceil(
                sum(t.tensor_bytes for t in weights)
                / max(1, self._largest_chunk(w.unit, weights)))))
        w.row_tiles, w.chunks, w.weights = tiles, chunks, mode
        steps = tiles * chunks
        first_ms = c.overhead_ms + c.transition_ms
        w.steps = [Step([], c.compute_ms / steps + (first_ms if s == 0 else 0.0), [],
                        _step_detail(s, tiles, chunks)) for s in range(steps)]
        sram = level.name
        if mode == "resident":
            for t in weights:
                w.steps[0].loads.append(Xfer(self.unique(sram, t.tensor), t.tensor, "weight",
                                             t.bytes_moved, _align(t.tensor_bytes, align),
                                             t.tensor_bytes, steps - 1))
        for t in acts:  # an activation every tile needs whole is loaded once, kept
            if fused and tiles > 1 and t.rows_per_tile is None:
                w.steps[0].loads.append(Xfer(
                    self.unique(sram, t.tensor), t.tensor, "activation",
                    self.padded(t.tensor, t.bytes_moved),
                    _align(self.padded(t.tensor, t.tensor_bytes), align), t.tensor_bytes,
                    steps - 1))
        for tile in range(tiles):
            self._stage_tile(w, tile, acts, fused, align)
            if mode == "streamed" and weights:
                self._stage_chunks(w, tile, weights, align)
        w_moved = sum(t.bytes_moved for t in weights)  # chunks carry each weight's share
        w.weight_share = [(t.tensor, t.bytes_moved / w_moved) for t in weights] if w_moved \
            else []
        for out in c.internal:  # what the plan keeps on chip between the members
            nbytes = self.problem.stored_bytes(out)
            per_tile = math.ceil(self.padded(out, nbytes) / tiles)
            w.internals.append(Xfer(self.unique(sram, out), out, "internal", 2 * per_tile,
                                    _align(per_tile, align), math.ceil(nbytes / tiles)))
        # what stays for the whole group: resident weights, and activations every tile
        # needs whole (loaded at step 0, kept to the last step)
        resident = sum(x.size for x in w.steps[0].loads
                       if x.kind == "weight" or (steps > 1 and x.until == steps - 1))
        step_peak = max(sum(x.size for x in s.loads if x.kind != "weight")
                        + sum(x.size for x in s.stores) for s in w.steps)
        w.peak_estimate = resident + sum(x.size for x in w.internals) + 2 * step_peak

    def _tiling(self, w: Work, weights: list[Traffic], acts: list[Traffic]) -> tuple[int, str]:
        """The plan's tiling for a fused group; for an op (or op + epilogue) processed in
        flight, the fewest row tiles whose double-buffered tiles fit beside the weights,
        and at least the tiles that pipeline its loads and stores best."""
        c = w.cost
        if c.sram_level is not None:
            return c.tiling.row_tiles, c.tiling.weights
        p = self.problem
        capacity = int(w.level.capacity_bytes.value)
        rows = max([p.rows[t.tensor] for t in c.stores] or [1])
        w_total = sum(t.tensor_bytes for t in weights)
        a_total = sum(self.padded(t.tensor, t.tensor_bytes) for t in acts)
        o_total = sum(self.padded(t.tensor, t.tensor_bytes) for t in c.stores)
        tiles, mode = _staging(w_total, a_total, o_total, capacity, rows)
        return max(tiles, min(rows, self._pipeline_tiles(w.unit, acts, c.stores))), mode

    def _stage_tile(self, w: Work, tile: int, acts: list[Traffic], fused: bool, align: int
                    ) -> None:
        """Row tile `tile`: its share of each activation (with its halo) in, its share of
        each output out. The traffic is the plan's bytes over the tiles."""
        c, sram, tiles = w.cost, w.level.name, w.row_tiles
        s0, s1 = tile * w.chunks, tile * w.chunks + w.chunks - 1
        tag = f"[{tile + 1}/{tiles}]" if tiles > 1 else ""
        kind = "tile" if tiles > 1 else "activation"
        p = self.problem
        for t in acts:
            if fused and tiles > 1 and t.rows_per_tile is None:
                continue  # loaded whole once, above
            share = (t.rows_per_tile / p.rows[t.tensor] if fused and t.rows_per_tile
                     else 1 / tiles)
            size = math.ceil(self.padded(t.tensor, t.tensor_bytes) * min(1.0, share))
            w.steps[s0].loads.append(Xfer(
                self.unique(sram, t.tensor + tag), t.tensor, kind,
                _share(self.padded(t.tensor, t.bytes_moved), tile, tiles), _align(size, align),
                math.ceil(t.tensor_bytes * min(1.0, share)), s1))
        for t in c.stores:
            traffic = _share(self.padded(t.tensor, t.bytes_moved), tile, tiles)
            w.steps[s1].stores.append(Xfer(self.unique(sram, t.tensor + tag), t.tensor, kind,
                                           traffic, _align(traffic, align),
                                           math.ceil(t.tensor_bytes / tiles), s0))

    def _stage_chunks(self, w: Work, tile: int, weights: list[Traffic], align: int) -> None:
        """Streamed weights: this tile's share of the weight traffic in `chunks` pieces."""
        sram, tiles, chunks = w.level.name, w.row_tiles, w.chunks
        steps = tiles * chunks
        total = sum(t.bytes_moved for t in weights)
        for k in range(chunks):
            s = tile * chunks + k
            nbytes = _share(total, s, steps)
            name = self.unique(sram, f"{w.cost.members[0]}::weights[{s + 1}/{steps}]")
            w.steps[s].loads.append(Xfer(name, "", "weight-chunk", nbytes,
                                         _align(nbytes, align), nbytes, s,
                                         f"weights chunk {k + 1}/{chunks}", setup=k == 0))

    def _pipeline_tiles(self, unit: ComputeUnit, acts: list[Traffic], stores) -> int:
        """Row tiles that pipeline an in-flight op best: more tiles hide more of the first
        load and last store ((L + S) / T exposed), but each tile pays the DMA setup once per
        tensor; T = sqrt((L + S) time / setup per tile) balances the two."""
        dma = unit.dma
        setup_ms = dma.setup_us.value / 1e3 if dma is not None else 0.0
        if setup_ms <= 0:
            return PIPELINE_TILES
        rate = self.dram.achieved_bandwidth_GBps * 1e6
        moved_ms = sum(self.padded(t.tensor, t.tensor_bytes) for t in (*acts, *stores)) / rate
        per_tile_ms = setup_ms * max(1, len(acts) + len(stores))
        return max(1, min(PIPELINE_TILES, round(math.sqrt(moved_ms / per_tile_ms))))

    def _largest_chunk(self, unit: ComputeUnit, weights: list[Traffic]) -> int:
        return max([math.ceil(self.problem.weight_chunk[t.tensor]) for t in weights] or [1])


def compute_lanes(unit: ComputeUnit) -> list[str]:
    """All instances of a lockstep unit (the 2 BPU cores) get a lane each."""
    if unit.kind in _LOCKSTEP_KINDS:
        return [f"{unit.name}#{i}" for i in range(max(1, int(unit.count.value)))]
    return [unit.name]


def dma_lanes(unit: ComputeUnit) -> list[str]:
    if unit.dma_channels is None:
        return []
    return [f"{unit.name}.dma#{i}" for i in range(max(1, int(unit.dma_channels.value)))]


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


def _share(total: int, k: int, n: int) -> int:
    """Part k of n of `total` bytes, the parts summing to `total` exactly."""
    return total * (k + 1) // n - total * k // n


def _align(nbytes: int, align: int) -> int:
    return max(align, -(-int(nbytes) // align) * align)


def _step_detail(s: int, tiles: int, chunks: int) -> str:
    parts = []
    if tiles > 1:
        parts.append(f"tile {s // chunks + 1}/{tiles}")
    if chunks > 1:
        parts.append(f"chunk {s % chunks + 1}/{chunks}")
    return ", ".join(parts)
