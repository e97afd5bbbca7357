"""Where every tensor lives on the chip: level, address, size with padding, live interval.
`place` runs the allocator over a Timeline's buffers; `MemoryMap` answers questions about it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from npusim.errors import GraphError, NpusimError
from npusim.hw.layout import Layout
from npusim.schedule.placement import Request, greedy_by_size, peak_live_bytes
from npusim.schedule.timeline import Buffer, GroupSpan, TensorTraffic, Timeline


@dataclass(frozen=True, slots=True)
class Placement:
    """One buffer at its address: [address, address + size_bytes) over [start_ms, end_ms)."""

    name: str
    tensor: str | None
    kind: str
    level: str
    address: int
    size_bytes: int
    valid_bytes: int
    start_ms: float
    end_ms: float
    group: str | None      # the fused group (ONNX node names) using it; None for DDR homes
    spilled: bool = False

    @property
    def padding_bytes(self) -> int:
        return self.size_bytes - self.valid_bytes

    @property
    def end_address(self) -> int:
        return self.address + self.size_bytes

    def live_at(self, t_ms: float) -> bool:
        return self.start_ms <= t_ms < self.end_ms

    def live_during(self, start_ms: float, end_ms: float) -> bool:
        return self.start_ms < end_ms and start_ms < self.end_ms

    def to_dict(self) -> dict:
        return {"name": self.name, "tensor": self.tensor, "kind": self.kind,
                "level": self.level, "address": self.address, "size_bytes": self.size_bytes,
                "valid_bytes": self.valid_bytes, "padding_bytes": self.padding_bytes,
                "start_ms": round(self.start_ms, 9), "end_ms": round(self.end_ms, 9),
                "group": self.group, "spilled": self.spilled}


@dataclass(frozen=True, slots=True)
class LevelUsage:
    """A memory level of the chip and how this frame uses it."""

    name: str
    kind: str
    scope: str
    unit: str | None
    capacity_bytes: int
    bandwidth_GBps: float
    alignment_bytes: int
    buffers: int
    peak_bytes: int          # most bytes live at once
    peak_at_ms: float
    arena_bytes: int         # highest address used: what the level must offer
    padding_bytes: int       # layout padding inside the placed buffers
    fragmentation: float     # 1 - peak / arena: address space lost to gaps

    def to_dict(self) -> dict:
        return {k: (round(v, 9) if isinstance(v, float) else v)
                for k, v in ((f, getattr(self, f)) for f in self.__slots__)}


@dataclass(frozen=True, slots=True)
class MemoryMap:
    """Every buffer of one frame placed, per level, with queries over time and layers. It
    holds its Timeline (which holds its Plan)."""

    timeline: Timeline
    levels: tuple[LevelUsage, ...]
    placements: tuple[Placement, ...]

    @property
    def model(self) -> str:
        return self.timeline.model

    @property
    def chip(self) -> str:
        """The chip's name (the Chip itself is `timeline.plan.chip`)."""
        return self.timeline.plan.chip.name

    @property
    def layouts(self) -> tuple[Layout, ...]:
        return self.timeline.layouts

    @property
    def ddr_traffic(self) -> tuple[TensorTraffic, ...]:
        return self.timeline.ddr_traffic

    # -- the hierarchy --------------------------------------------------------------------------
    def hierarchy(self) -> tuple[LevelUsage, ...]:
        return self.levels

    def level(self, name: str) -> LevelUsage:
        for lv in self.levels:
            if lv.name == name:
                return lv
        raise NpusimError(f"chip '{self.chip}' has no memory level '{name}'; levels: "
                          f"{', '.join(lv.name for lv in self.levels)}")

    def peak(self, level: str) -> tuple[int, float]:
        """(bytes, time in ms) of the level's peak occupancy."""
        lv = self.level(level)
        return lv.peak_bytes, lv.peak_at_ms

    # -- tensors --------------------------------------------------------------------------------
    def tensor(self, name: str) -> tuple[Placement, ...]:
        """Every placement holding (part of) tensor `name`: its DDR home, SRAM tiles, ..."""
        found = tuple(p for p in self.placements if p.tensor == name or p.name == name)
        if not found:
            known = sorted({p.tensor for p in self.placements if p.tensor})
            close = difflib.get_close_matches(name, known, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise GraphError(f"no tensor named '{name}' is placed in {self.model} on "
                             f"{self.chip}{hint}")
        return found

    def layout(self, tensor: str) -> Layout:
        """Valid shape, aligned shape, strides and padding bytes of an activation."""
        for lay in self.layouts:
            if lay.tensor == tensor:
                return lay
        raise GraphError(f"no activation named '{tensor}' in {self.model} has a layout on "
                         f"{self.chip} (weights keep their packed size)")

    # -- time -----------------------------------------------------------------------------------
    def resident_at(self, t_ms: float, level: str | None = None) -> tuple[Placement, ...]:
        return tuple(p for p in self.placements if p.live_at(t_ms)
                     and (level is None or p.level == level))

    def window(self, layer: str) -> tuple[float, float]:
        """[start, end) in ms of the compute of the group holding `layer` (an ONNX node
        name or a group name)."""
        span = self._span(layer)
        return span.compute_start_ms, span.compute_end_ms

    def resident_during(self, layer: str, level: str | None = None) -> tuple[Placement, ...]:
        start, end = self.window(layer)
        return tuple(p for p in self.placements if p.live_during(start, end)
                     and (level is None or p.level == level))

    def occupancy(self, level: str) -> tuple[tuple[float, int], ...]:
        """Step function (time in ms, bytes live from then on) of one level."""
        deltas: dict[float, int] = {}
        for p in self.placements:
            if p.level == level:
                deltas[p.start_ms] = deltas.get(p.start_ms, 0) + p.size_bytes
                deltas[p.end_ms] = deltas.get(p.end_ms, 0) - p.size_bytes
        out, live = [], 0
        for t in sorted(deltas):
            live += deltas[t]
            out.append((t, live))
        return tuple(out)

    # -- totals ---------------------------------------------------------------------------------
    def padding_overhead(self) -> dict[str, tuple[int, float]]:
        """Per level: (layout padding bytes placed, as a fraction of the bytes placed)."""
        out = {}
        for lv in self.levels:
            total = sum(p.size_bytes for p in self.placements if p.level == lv.name)
            out[lv.name] = (lv.padding_bytes, lv.padding_bytes / total if total else 0.0)
        return out

    def ddr_bytes_by_tensor(self) -> dict[str, int]:
        """DDR bytes per frame (loaded + stored, padding and halos included) by tensor."""
        return {t.tensor: t.loaded_bytes + t.stored_bytes for t in self.ddr_traffic}

    @property
    def ddr_bytes(self) -> int:
        return self.timeline.ddr_bytes

    @property
    def spilled(self) -> tuple[str, ...]:
        return self.timeline.spilled

    def to_dict(self) -> dict:
        tl = self.timeline
        plan = tl.plan
        return {"model": self.model, "chip": self.chip, "precision": plan.precision.value,
                "strategy": plan.strategy, "objective": plan.objective,
                "latency_ms": round(tl.latency_ms, 9),
                "throughput_fps": round(tl.throughput_fps, 6),
                "ddr_bytes_per_frame": self.ddr_bytes,
                "dma_hidden_fraction": round(tl.dma_hidden_fraction, 6),
                "levels": [lv.to_dict() for lv in self.levels],
                "placements": [p.to_dict() for p in self.placements],
                "layouts": [lay.to_dict() for lay in self.layouts],
                "ddr_traffic": [{"tensor": t.tensor, "loaded": t.loaded_bytes,
                                 "stored": t.stored_bytes} for t in self.ddr_traffic],
                "spilled": list(tl.spilled)}

    def _span(self, layer: str) -> GroupSpan:
        span = self.timeline.group_of(layer)
        if span is None:
            names = [m for g in self.timeline.groups for m in g.members]
            close = difflib.get_close_matches(layer, names, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise GraphError(f"no layer named '{layer}' runs in {self.model} on "
                             f"{self.chip} (view ops take no time){hint}")
        return span


def place(timeline: Timeline) -> MemoryMap:
    """Give every buffer of the timeline an address in its level (greedy by size, best
    fit). A buffer an SRAM level cannot hold (the schedule normally spilled it already)
    moves to DDR and is marked spilled."""
    chip = timeline.plan.chip
    names = {g.index: g.name for g in timeline.groups}
    by_level: dict[str, list[Buffer]] = {}
    for b in timeline.buffers:
        by_level.setdefault(b.level, []).append(b)
    dram = chip.dram.name
    overflow: list[Buffer] = []
    placed: dict[str, list[Placement]] = {}
    for level in [m for m in chip.memory if m.kind != "dram"] + [chip.dram]:
        bufs = by_level.get(level.name, [])
        if level.name == dram:
            bufs = bufs + [Buffer(b.name, b.tensor, b.kind, dram, b.size_bytes, b.valid_bytes,
                                  b.start_ms, b.end_ms, b.group, True) for b in overflow]
        cap = None if level.kind == "dram" else int(level.capacity_bytes.value)
        arena = greedy_by_size([Request(b.name, b.size_bytes, b.start_ms, b.end_ms)
                                for b in bufs], int(level.alignment_bytes.value), cap)
        lost = set(arena.unplaced)
        overflow += [b for b in bufs if b.name in lost]
        placed[level.name] = [
            Placement(b.name, b.tensor, b.kind, b.level, arena.offsets[b.name], b.size_bytes,
                      b.valid_bytes, b.start_ms, b.end_ms,
                      names.get(b.group) if b.group is not None else None, b.spilled)
            for b in bufs if b.name in arena.offsets]
    levels, placements = [], []
    for m in chip.memory:
        ps = sorted(placed.get(m.name, []), key=lambda p: (p.start_ms, p.address, p.name))
        placements += ps
        peak, at = peak_live_bytes([Request(p.name, p.size_bytes, p.start_ms, p.end_ms)
                                    for p in ps])
        arena_bytes = max((p.end_address for p in ps), default=0)
        levels.append(LevelUsage(
            m.name, m.kind, m.scope, m.unit, int(m.capacity_bytes.value),
            float(m.bandwidth_GBps.value), int(m.alignment_bytes.value), len(ps), peak, at,
            arena_bytes, sum(p.padding_bytes for p in ps),
            1.0 - peak / arena_bytes if arena_bytes else 0.0))
    return MemoryMap(timeline, tuple(levels), tuple(placements))
