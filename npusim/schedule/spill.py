"""`schedule(plan)`: the plan's groups as events on the chip's units and DMA channels, with the
SRAM buffers each needs; passes repeat until the allocator fits every buffer (spill loop).
"""

from __future__ import annotations

from npusim.fusion import Plan
from npusim.schedule.placement import Request, greedy_by_size
from npusim.schedule.scheduler import build
from npusim.schedule.staging import Staging
from npusim.schedule.timeline import Buffer, Timeline


def schedule(plan: Plan) -> Timeline:
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
    then wait for the group before to finish storing (drain), and the buffers that still do
    not fit are spilled to DDR; the pass is repeated after each decision."""
    ctx = Staging(plan)
    chip = plan.chip
    spilled: set[str] = set()
    no_prefetch: set[int] = set()
    drained: set[int] = set()
    for _ in range(64):
        tl = build(ctx, frozenset(spilled), frozenset(no_prefetch), frozenset(drained))
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
        near = {g for g0 in groups for g in (g0, g0 + 1)}
        if near - no_prefetch:
            no_prefetch |= near
        elif near - drained:
            drained |= near
        else:
            spilled |= {b.name for b in failed}
    return tl
