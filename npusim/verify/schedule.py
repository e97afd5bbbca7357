"""Independent checks of a Timeline and a MemoryMap: they share no code with the scheduler
or the allocator, so tests can hold both to the invariants a user relies on.
"""

from __future__ import annotations

from collections import defaultdict

from npusim.hw.schema import Chip
from npusim.schedule.memory_map import MemoryMap
from npusim.schedule.timeline import Timeline

_EPS = 1e-9


def placement_problems(mm: MemoryMap, chip: Chip) -> list[str]:
    """Every violation of: no two buffers live at once share an address in one level;
    every address is aligned to its level; each level's arena fits its capacity."""
    problems = []
    levels = {m.name: m for m in chip.memory}
    by_level = defaultdict(list)
    for p in mm.placements:
        by_level[p.level].append(p)
        level = levels.get(p.level)
        if level is None:
            problems.append(f"{p.name}: unknown level {p.level}")
            continue
        if p.address % int(level.alignment_bytes.value):
            problems.append(f"{p.name}: address {p.address} not aligned to "
                            f"{int(level.alignment_bytes.value)} in {p.level}")
        if p.size_bytes <= 0 or p.end_ms <= p.start_ms:
            problems.append(f"{p.name}: empty size or live interval")
        if p.address < 0 or p.end_address > int(level.capacity_bytes.value):
            problems.append(f"{p.name}: [{p.address}, {p.end_address}) outside {p.level} "
                            f"capacity {int(level.capacity_bytes.value)}")
    for name, ps in by_level.items():
        names = [p.name for p in ps]
        if len(set(names)) != len(names):
            problems.append(f"{name}: buffer names repeat")
        # sweep over time: compare each buffer with those live when it starts or later
        ps = sorted(ps, key=lambda p: p.start_ms)
        for i, a in enumerate(ps):
            for b in ps[i + 1:]:
                if b.start_ms >= a.end_ms:
                    break
                if a.address < b.end_address and b.address < a.end_address:
                    problems.append(f"{name}: {a.name} [{a.address}, {a.end_address}) and "
                                    f"{b.name} [{b.address}, {b.end_address}) overlap while "
                                    f"both live ({max(a.start_ms, b.start_ms):.6f} ms)")
        lv = next(lv for lv in mm.levels if lv.name == name)
        if lv.peak_bytes > lv.arena_bytes or lv.arena_bytes > lv.capacity_bytes:
            problems.append(f"{name}: peak {lv.peak_bytes} / arena {lv.arena_bytes} / "
                            f"capacity {lv.capacity_bytes} out of order")
    return problems


def timeline_problems(tl: Timeline) -> list[str]:
    """Every violation of: a lane runs one event at a time; a group's compute starts after
    the groups producing its inputs finish and its loads complete; a load of a tensor starts
    after the tensor is stored; the makespan covers every lane's busy time."""
    problems = []
    by_lane = defaultdict(list)
    for e in tl.events:
        by_lane[e.lane].append(e)
        if e.end_ms <= e.start_ms or e.start_ms < 0:
            problems.append(f"{e.lane}: event {e.name} has no positive duration")
    for lane, es in by_lane.items():
        es = sorted(es, key=lambda e: e.start_ms)
        for a, b in zip(es, es[1:]):
            if b.start_ms < a.end_ms - _EPS:
                problems.append(f"{lane}: {a.name} and {b.name} overlap")
        busy = sum(e.end_ms - e.start_ms for e in es)
        if busy > tl.latency_ms + _EPS:
            problems.append(f"{lane}: busy {busy} ms > makespan {tl.latency_ms} ms")
    compute = defaultdict(list)
    loads = defaultdict(list)
    stores = defaultdict(list)
    runtime_end = 0.0  # no group computes before the per-inference runtime work is done
    for e in tl.events:
        if e.kind == "runtime":
            if e.name == "inference overhead":
                runtime_end = max(runtime_end, e.end_ms)
            continue
        {"compute": compute, "load": loads, "store": stores}[e.kind][e.group].append(e)
    spans = {g.index: g for g in tl.groups}
    available: dict[str, float] = {}  # tensor -> when its DDR copy is complete
    producer: dict[str, int] = {}
    for g in tl.groups:
        for t in g.writes:
            producer[t] = g.index
            ends = [e.end_ms for e in stores[g.index] if e.tensor == t]
            available[t] = max(ends) if ends else max(e.end_ms for e in compute[g.index])
    for g in tl.groups:
        if not compute[g.index]:
            problems.append(f"{g.name}: no compute event")
            continue
        first = min(e.start_ms for e in compute[g.index])
        if first < runtime_end - _EPS:
            problems.append(f"{g.name} computes before the inference overhead ends")
        for e in loads[g.index]:
            step_start = min(c.start_ms for c in compute[g.index] if c.step == e.step)
            if e.end_ms > step_start + _EPS:
                problems.append(f"{g.name}: step {e.step} computes before its load of "
                                f"{e.name} ends")
        for e in stores[g.index]:
            step_end = max(c.end_ms for c in compute[g.index] if c.step == e.step)
            if e.start_ms < step_end - _EPS:
                problems.append(f"{g.name}: stores {e.name} before computing it")
        for t in g.reads:
            p = producer.get(t)
            if p is None or p == g.index:
                continue
            p_end = max(e.end_ms for e in compute[p])
            if p_end > first + _EPS:
                problems.append(f"{g.name} starts before its producer {spans[p].name} ends")
            reads = [e.start_ms for e in loads[g.index] if e.tensor == t] or [first]
            if min(reads) < available[t] - _EPS:
                problems.append(f"{g.name} reads {t} before it is in DDR")
        if first < g.compute_start_ms - _EPS:
            problems.append(f"{g.name}: span does not cover its compute")
    ends = [e.end_ms for e in tl.events]
    if ends and abs(max(ends) - tl.latency_ms) > _EPS:
        problems.append("latency is not the makespan")
    return problems
