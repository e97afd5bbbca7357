"""Chrome Trace Event JSON of a Timeline and its MemoryMap, loadable in Perfetto: a process
per chip (threads: unit instances, DMA channels) and per memory level (occupancy, buffers).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from npusim.schedule.memory_map import MemoryMap, Placement
from npusim.schedule.timeline import Timeline

CHIP_PID = 1


def trace_events(timeline: Timeline, memory_map: MemoryMap | None = None) -> dict:
    """The trace as a dict (`traceEvents`, ...); deterministic for the same inputs."""
    tl = timeline
    plan = tl.plan
    events: list[dict] = [_meta("process_name", CHIP_PID, 0,
                                f"{plan.chip.name}: {tl.model} ({plan.precision.value})"),
                          _meta("process_sort_index", CHIP_PID, 0, 0, key="sort_index")]
    tids = {lane.name: i + 1 for i, lane in enumerate(tl.lanes)}
    for lane in tl.lanes:
        label = lane.name if lane.kind == "compute" else f"{lane.name} (DMA)"
        events.append(_meta("thread_name", CHIP_PID, tids[lane.name], label))
        events.append(_meta("thread_sort_index", CHIP_PID, tids[lane.name], tids[lane.name],
                            key="sort_index"))
    spans = {g.index: g for g in tl.groups}
    for e in tl.events:
        span = spans.get(e.group)
        args = {"group": span.name if span is not None else "runtime", "step": e.step}
        if e.detail:
            args["detail"] = e.detail
        if e.kind == "compute":
            args["nodes"] = list(span.members)
        elif e.kind != "runtime":
            args["bytes"] = e.nbytes
            if e.tensor:
                args["tensor"] = e.tensor
        events.append(_complete(e.name, e.kind, CHIP_PID, tids[e.lane], e.start_ms,
                                e.end_ms, args))
    placements = memory_map.placements if memory_map is not None else _unplaced(tl)
    levels = list(dict.fromkeys(p.level for p in placements))
    for i, level in enumerate(levels):
        pid = CHIP_PID + 1 + i
        mine = [p for p in placements if p.level == level]
        events.append(_meta("process_name", pid, 0, f"memory: {level}"))
        events.append(_meta("process_sort_index", pid, 0, pid, key="sort_index"))
        events += _counter(level, pid, mine)
        for track, ps in enumerate(_tracks(mine)):
            tid = track + 1
            events.append(_meta("thread_name", pid, tid, f"{level} buffers {tid}"))
            for p in ps:
                events.append(_complete(p.name, p.kind, pid, tid, p.start_ms, p.end_ms, {
                    "tensor": p.tensor, "address": p.address, "size_bytes": p.size_bytes,
                    "padding_bytes": p.padding_bytes, "group": p.group}))
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"model": tl.model, "chip": plan.chip.name,
                          "precision": plan.precision.value, "strategy": plan.strategy,
                          "objective": plan.objective, "latency_ms": round(tl.latency_ms, 9),
                          "throughput_fps": round(tl.throughput_fps, 6)}}


def write_trace(timeline: Timeline, memory_map: MemoryMap | None, path: str | os.PathLike
                ) -> None:
    text = json.dumps(trace_events(timeline, memory_map), sort_keys=True,
                      separators=(",", ":"))
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def _us(ms: float) -> float:
    return round(ms * 1e3, 3)


def _complete(name, cat, pid, tid, start_ms, end_ms, args) -> dict:
    ts, end = _us(start_ms), _us(end_ms)
    return {"name": name, "cat": cat, "ph": "X", "pid": pid, "tid": tid, "ts": ts,
            "dur": round(max(0.0, end - ts), 3), "args": args}


def _meta(name, pid, tid, value, key="name") -> dict:
    return {"name": name, "ph": "M", "pid": pid, "tid": tid, "args": {key: value}}


def _counter(level: str, pid: int, placements: list[Placement]) -> list[dict]:
    deltas: dict[float, int] = {}
    for p in placements:
        deltas[_us(p.start_ms)] = deltas.get(_us(p.start_ms), 0) + p.size_bytes
        deltas[_us(p.end_ms)] = deltas.get(_us(p.end_ms), 0) - p.size_bytes
    out, live = [], 0
    for ts in sorted(deltas):
        live += deltas[ts]
        out.append({"name": f"{level} occupancy", "ph": "C", "pid": pid, "tid": 0, "ts": ts,
                    "args": {"bytes": live}})
    return out


def _tracks(placements: Iterable[Placement]) -> list[list[Placement]]:
    """Interval partitioning: each buffer on the first track free when it starts, so no
    track holds two overlapping events (Perfetto would nest them)."""
    tracks: list[list[Placement]] = []
    ends: list[float] = []
    for p in sorted(placements, key=lambda p: (_us(p.start_ms), p.address, p.name)):
        for i, end in enumerate(ends):
            if end <= _us(p.start_ms):
                tracks[i].append(p)
                ends[i] = _us(p.end_ms)
                break
        else:
            tracks.append([p])
            ends.append(_us(p.end_ms))
    return tracks


def _unplaced(tl: Timeline) -> list[Placement]:
    """Buffers of a timeline without addresses (address -1), for a trace with no map."""
    names = {g.index: g.name for g in tl.groups}
    return [Placement(b.name, b.tensor, b.kind, b.level, -1, b.size_bytes, b.valid_bytes,
                      b.start_ms, b.end_ms, names.get(b.group), b.spilled) for b in tl.buffers]

