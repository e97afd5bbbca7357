"""One Chrome / Perfetto trace of a pipeline run, in npusim.report.trace's conventions: a
track per unit's compute lanes and DMA channels (fallback lanes of a model on another unit
get a track of their own, named after the unit the model is bound to), a track of runs per
unit, and a counter of DRAM bandwidth. No track holds two overlapping events.
"""

from __future__ import annotations

import json

import numpy as np

from npusim.pipeline.contention import segments_of
from npusim.pipeline.run import PipelineRun, Run
from npusim.report.trace import _complete, _meta, _us

PID = 1


def _track(run: Run, lane_name: str, lane_unit: str) -> str:
    unit = run.executed.unit
    base = lane_name if lane_unit == unit else f"{unit} > {lane_name} (fallback)"
    kind = next(lane.kind for lane in run.timeline.lanes if lane.name == lane_name)
    return f"{base} (DMA)" if kind == "dma" else base


def _warp(run: Run, durations: list[float]):
    """Standalone time of the run's timeline -> time on the pipeline timeline."""
    log = [s for s in run.executed.segments if s[2] != "copy"]
    alone = np.cumsum([0.0] + durations)
    real = np.asarray([log[0][0]] + [b for _, b, *_ in log]) if log else np.zeros(1)
    n = min(len(alone), len(real))
    return lambda x: float(np.interp(x, alone[:n], real[:n]))


def pipeline_trace(result: PipelineRun) -> dict:
    """The trace as a dict; deterministic for the same run."""
    events: list[dict] = [_meta("process_name", PID, 0, f"{result.chip.name}: pipeline"),
                          _meta("process_sort_index", PID, 0, 0, key="sort_index")]
    tracks: dict[str, int] = {}

    def tid(name: str) -> int:
        if name not in tracks:
            tracks[name] = len(tracks) + 1
            events.append(_meta("thread_name", PID, tracks[name], name))
            events.append(_meta("thread_sort_index", PID, tracks[name], tracks[name],
                                key="sort_index"))
        return tracks[name]

    for unit in result.units:
        tid(f"{unit} runs")
    body: list[dict] = []
    durations: dict[int, list[float]] = {}
    for run in result.runs:
        ex = run.executed
        label = f"{run.entry}[{run.index}]"
        body.append(_complete(label, "run", PID, tid(f"{ex.unit} runs"), ex.start_ms,
                              ex.end_ms, {"frames": list(run.frames), "items": run.items,
                                          "ready_ms": round(ex.ready_ms, 6),
                                          "alone_ms": round(ex.alone_ms, 6)}))
        for a, b, seg, gbps in ex.segments:
            if seg == "copy":
                body.append(_complete(f"{label} copy in", "copy", PID,
                                      tid(f"{ex.unit} copy"), a, b, {"GBps": round(gbps, 3)}))
        if id(run.timeline) not in durations:
            durations[id(run.timeline)] = [s.duration_ms for s in segments_of(run.timeline)]
        warp = _warp(run, durations[id(run.timeline)])
        units = {lane.name: lane.unit for lane in run.timeline.lanes}
        for e in run.timeline.events:
            if e.kind == "runtime" and units[e.lane] == "host":
                track = f"{ex.unit} host"
            else:
                track = _track(run, e.lane, units[e.lane])
            body.append(_complete(f"{label} {e.name}", e.kind, PID, tid(track),
                                  warp(e.start_ms), warp(e.end_ms),
                                  {"model": run.entry, "bytes": e.nbytes}))
    events += body
    for a, _, g in result.dram:
        events.append({"name": "DRAM GB/s", "ph": "C", "pid": PID, "tid": 0, "ts": _us(a),
                       "args": {"GBps": round(g, 3)}})
    if result.dram:
        events.append({"name": "DRAM GB/s", "ph": "C", "pid": PID, "tid": 0,
                       "ts": _us(result.dram[-1][1]), "args": {"GBps": 0.0}})
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"chip": result.chip.name, "frames": result.frames}}


def trace_text(result: PipelineRun) -> str:
    return json.dumps(pipeline_trace(result), sort_keys=True, separators=(",", ":")) + "\n"
