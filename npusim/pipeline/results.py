"""What a pipeline run shows: latency per model (p50 / p99 over its runs), end-to-end latency
per frame through the dependency graph (per independent chain, and the worst of them),
throughput, unit utilization, DRAM bandwidth over time, and the bottleneck; as a
deterministic dict (the --json) and a rich table.
"""

from __future__ import annotations

import numpy as np

from npusim.cost.naming import connected_parts
from npusim.pipeline.run import PipelineRun

BINS = 50   # DRAM bandwidth over time: this many equal bins over the run


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs, dtype=float), q)) if xs else 0.0


def frame_completions(result: PipelineRun, chain: frozenset[str] | None = None) -> list[float]:
    """When each frame has left every sink entry (of `chain`, or of the whole pipeline): the
    last run holding it ends."""
    sinks = {e.name for e in result.spec.sinks if chain is None or e.name in chain}
    done = [0.0] * result.frames
    for r in result.runs:
        if r.entry in sinks:
            for f in r.frames:
                done[f] = max(done[f], r.executed.end_ms)
    return done


def chains(result: PipelineRun) -> list[frozenset[str]]:
    """The pipeline's independent chains: entries connected through `after` (a 30 Hz
    detector and a 10 Hz OCR chain beside it are two), in spec order."""
    models = result.spec.models
    at = {e.name: i for i, e in enumerate(models)}
    parts = connected_parts(range(len(models)), lambda i: (at[up] for up in models[i].after))
    return [frozenset(models[i].name for i in part) for part in parts]


def chain_latencies(result: PipelineRun, chain: frozenset[str]) -> list[float]:
    """Per frame: from the arrival of the chain's first source to its last sink's end. A
    chain's frames arrive at its own sources' rate, so chains at other rates do not pair
    their frame k with it."""
    from npusim.pipeline.run import _arrival
    sources = [e for e in result.spec.models if e.name in chain and e.is_source]
    done = frame_completions(result, chain)
    return [d - min(_arrival(e, f) for e in sources) for f, d in enumerate(done)]


def throughput_fps(result: PipelineRun) -> float:
    """Frames per second in steady state: the frames completed after the first fifth (the
    warm-up) over the time between their completions: #{c > c[k]} / (c[n-1] - c[k]) with
    k = n // 5; where those completions coincide (one batch), n / (c[n-1] - first arrival)."""
    done = sorted(frame_completions(result))
    n = len(done)
    k = n // 5
    after = sum(1 for c in done if c > done[k])   # frames completing after c[k]
    if n >= 2 and after:
        return 1e3 * after / (done[-1] - done[k])
    span = done[-1] - min(result.arrivals_ms)
    return 1e3 * n / span if span > 0 else 0.0


def summary(result: PipelineRun) -> dict:
    """The --json document (round to 6 decimals so platforms agree)."""
    end = max(r.executed.end_ms for r in result.runs)
    per_chain = [(c, chain_latencies(result, c)) for c in chains(result)]
    e2e = [max(lat[f] for _, lat in per_chain) for f in range(result.frames)]
    models = {}
    for entry in result.spec.models:
        mine = [r for r in result.runs if r.entry == entry.name]
        lat = [r.latency_ms for r in mine]
        stretch = [(r.executed.end_ms - r.executed.start_ms) - r.executed.alone_ms
                   for r in mine]
        first = min(r.executed.ready_ms for r in mine)
        last = max(r.executed.end_ms for r in mine)
        b = result.bindings[entry.name]
        models[entry.name] = {
            "model": entry.model, "units": list(b.units), "batch": b.batch,
            "runs": len(mine), "items": sum(r.items for r in mine),
            "latency_ms_p50": _r(_pct(lat, 50)), "latency_ms_p99": _r(_pct(lat, 99)),
            "latency_ms_max": _r(max(lat)),
            "run_ms_p50": _r(_pct([r.executed.end_ms - r.executed.start_ms for r in mine], 50)),
            "standalone_ms": {u: _r(result.standalone_ms[f"{entry.name}@{u}"])
                              for u in b.units},
            "contention_ms_mean": _r(float(np.mean(stretch))),
            "wait_ms_mean": _r(float(np.mean([r.executed.start_ms - r.executed.ready_ms
                                              for r in mine]))),
            "items_per_s": _r(1e3 * sum(r.items for r in mine) / (last - first)
                              if last > first else 0.0)}
    spans: dict[str, list[tuple[float, float]]] = {u: [] for u in result.units}
    for r in result.runs:
        spans[r.executed.unit].append((r.executed.start_ms, r.executed.end_ms))
        for unit, a, b in r.executed.borrowed:   # fallback work of runs bound elsewhere
            spans.setdefault(unit, []).append((a, b))
    util = {u: _r(_covered(s) / end if end else 0.0) for u, s in spans.items()}
    cap = result.chip.dram.achieved_bandwidth_GBps
    moved = sum((b - a) * g for a, b, g in result.dram)          # GB/s x ms = MB
    dram_util = moved / (cap * end) if end else 0.0
    busiest = max(util, key=lambda u: (util[u], u)) if util else None
    bottleneck = "dram" if busiest is None or dram_util > util[busiest] else busiest
    return {
        "chip": result.chip.name, "frames": result.frames,
        "throughput_fps": _r(throughput_fps(result)),
        "makespan_ms": _r(end),
        "end_to_end_ms_p50": _r(_pct(e2e, 50)), "end_to_end_ms_p99": _r(_pct(e2e, 99)),
        "end_to_end_ms": [_r(x) for x in e2e],
        "chains": [{"entries": [e.name for e in result.spec.models if e.name in c],
                    "end_to_end_ms_p50": _r(_pct(lat, 50)),
                    "end_to_end_ms_p99": _r(_pct(lat, 99))} for c, lat in per_chain],
        "models": models,
        "unit_utilization": util,
        "dram": {"achieved_bandwidth_GBps": _r(cap), "mean_GBps": _r(moved / end if end
                                                                       else 0.0),
                 "peak_GBps": _r(max((g for _, _, g in result.dram), default=0.0)),
                 "utilization": _r(dram_util),
                 "saturated_ms": _r(sum(b - a for a, b, g in result.dram
                                        if g >= cap * (1 - 1e-9))),
                 "bins_ms": _r(end / BINS), "GBps_over_time": _binned(result.dram, end)},
        "bottleneck": bottleneck,
        "estimated": bool(result.chip.estimated_figures()),
        "estimated_note": "every figure rests on profile figures, some of them estimated "
                          "(npusim simulate --chip PROFILE@UNIT lists which)"
        if result.chip.estimated_figures() else "",
    }


def _covered(spans: list[tuple[float, float]]) -> float:
    """Time inside the union of the intervals."""
    total, reach = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b > reach:
            total += b - max(a, reach)
            reach = b
    return total


def _binned(dram: tuple[tuple[float, float, float], ...], end: float) -> list[float]:
    if end <= 0:
        return []
    width = end / BINS
    out = [0.0] * BINS
    for a, b, g in dram:
        i = int(a // width)
        while a < b and i < BINS:
            hi = min(b, (i + 1) * width)
            out[i] += g * (hi - a) / width
            a, i = hi, i + 1
    return [_r(x) for x in out]


def _r(x: float) -> float:
    return round(float(x), 6) + 0.0   # no -0.0


def table(doc: dict, console) -> None:
    """Print the per-model table and the totals."""
    from rich.table import Table
    t = Table(title=f"pipeline on {doc['chip']}: {doc['frames']} frames "
              "(* every time rests on estimated profile figures)")
    for col in ("model", "units", "batch", "runs", "alone ms", "run ms p50", "p50 ms",
                "p99 ms", "contention ms", "queue ms", "items/s"):
        t.add_column(col, justify="left" if col in ("model", "units") else "right")
    for name, m in doc["models"].items():
        alone = "/".join(f"{v:.3f}" for v in m["standalone_ms"].values())
        t.add_row(name, ",".join(m["units"]), str(m["batch"]), str(m["runs"]), alone,
                  f"{m['run_ms_p50']:.3f}", f"{m['latency_ms_p50']:.3f}",
                  f"{m['latency_ms_p99']:.3f}", f"{m['contention_ms_mean']:.3f}", f"{m['wait_ms_mean']:.3f}",
                  f"{m['items_per_s']:.1f}")
    console.print(t)
    util = ", ".join(f"{u} {100 * v:.0f}%" for u, v in doc["unit_utilization"].items())
    d = doc["dram"]
    console.print(f"end-to-end latency p50 {doc['end_to_end_ms_p50']:.3f} ms, p99 "
                  f"{doc['end_to_end_ms_p99']:.3f} ms; throughput "
                  f"{doc['throughput_fps']:.1f} frames/s*")
    if len(doc["chains"]) > 1:  # independent chains, each from its own sources' frames
        console.print("per chain: " + "; ".join(
            f"{' -> '.join(c['entries'])} p50 {c['end_to_end_ms_p50']:.3f} / p99 "
            f"{c['end_to_end_ms_p99']:.3f} ms" for c in doc["chains"]))
    console.print(f"utilization: {util}; DRAM mean {d['mean_GBps']:.1f} / peak "
                  f"{d['peak_GBps']:.1f} of {d['achieved_bandwidth_GBps']:.1f} GB/s "
                  f"(saturated {d['saturated_ms']:.2f} ms); bottleneck: {doc['bottleneck']}")
