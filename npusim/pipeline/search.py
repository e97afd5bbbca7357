"""`npusim pipeline SPEC --search`: every binding of the entries left `unit: auto` (distinct
candidate units per replica) and every batch of those left `batch: auto` (the divisors of
`streams`, or 1, 2, 4, 8 for a single stream), each run as a pipeline, in parallel with
joblib (local processes or a Dask cluster, as sweeps); the Pareto front of end-to-end latency (p50) against throughput.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import joblib

from npusim.hw import load_chip
from npusim.pipeline.run import Binding, candidate_units, default_binding, run_spec
from npusim.pipeline.spec import AUTO, ModelEntry, PipelineError, chip_ref, load_spec
from npusim.sweep.run import parallel

MAX_POINTS = 256


@dataclass(frozen=True, slots=True)
class SearchPoint:
    """One binding of the pipeline and what it achieved."""

    bindings: tuple[tuple[str, tuple[str, ...], int], ...]   # (entry, units, batch)
    end_to_end_ms_p50: float
    end_to_end_ms_p99: float
    throughput_fps: float
    bottleneck: str
    pareto: bool = False

    def to_dict(self) -> dict:
        return {"bindings": {e: {"units": list(u), "batch": b} for e, u, b in self.bindings},
                "end_to_end_ms_p50": self.end_to_end_ms_p50,
                "end_to_end_ms_p99": self.end_to_end_ms_p99,
                "throughput_fps": self.throughput_fps, "bottleneck": self.bottleneck,
                "pareto": self.pareto}


def choices(entry: ModelEntry, units: tuple[str, ...]) -> list[Binding]:
    """The bindings --search tries for one entry."""
    if entry.batch == AUTO:
        s = entry.streams
        batches = [b for b in range(1, s + 1) if s % b == 0] if s > 1 else [1, 2, 4, 8]
    else:
        batches = [int(entry.batch)]
    if entry.unit == AUTO:
        placements = list(itertools.combinations(units, entry.replica_count))
    else:
        placements = [tuple(entry.unit) if isinstance(entry.unit, list) else (entry.unit,)]
    return [Binding(p, b) for p in placements for b in batches]


def search(path: str | Path, frames: int | None = None, n_jobs: int = 1,
           backend: str = "loky", scheduler: str | None = None) -> tuple[SearchPoint, ...]:
    """Every combination of the spec's `auto` choices, evaluated on local processes or a Dask
    cluster (`backend`, `scheduler`, as sweeps); Pareto points marked."""
    spec, root = load_spec(path)
    chip = load_chip(chip_ref(spec, root))
    units = candidate_units(chip)
    per_entry = [choices(e, units) if (e.unit == AUTO or e.batch == AUTO)
                 else [default_binding(e, chip)] for e in spec.models]
    combos = list(itertools.product(*per_entry))
    if len(combos) > MAX_POINTS:
        raise PipelineError(f"--search would try {len(combos)} bindings (more than "
                            f"{MAX_POINTS}); fix some units or batches in the spec")
    names = [e.name for e in spec.models]
    with parallel(backend, scheduler, n_jobs) as workers:
        rows = list(workers(joblib.delayed(_evaluate)(spec, root, frames, dict(zip(names, c)))
                            for c in combos))
    front = _front(rows)
    return tuple(SearchPoint(**r, pareto=i in front) for i, r in enumerate(rows))


def _evaluate(spec, root, frames, bindings) -> dict:
    from npusim.pipeline.results import summary
    doc = summary(run_spec(spec, root, frames, bindings))
    return {"bindings": tuple((n, b.units, b.batch) for n, b in bindings.items()),
            "end_to_end_ms_p50": doc["end_to_end_ms_p50"],
            "end_to_end_ms_p99": doc["end_to_end_ms_p99"],
            "throughput_fps": doc["throughput_fps"], "bottleneck": doc["bottleneck"]}


def _front(rows: list[dict]) -> set[int]:
    """Points no other beats on both latency (lower) and throughput (higher)."""
    def beats(a: dict, b: dict) -> bool:
        return (a["end_to_end_ms_p50"] <= b["end_to_end_ms_p50"]
                and a["throughput_fps"] >= b["throughput_fps"]
                and (a["end_to_end_ms_p50"] < b["end_to_end_ms_p50"]
                     or a["throughput_fps"] > b["throughput_fps"]))
    return {i for i, r in enumerate(rows) if not any(beats(o, r) for o in rows)}


def pareto_table(points: tuple[SearchPoint, ...], console) -> None:
    from rich.table import Table
    t = Table(title=f"{len(points)} bindings tried; * = on the Pareto front of end-to-end "
              "latency vs throughput")
    for col in ("", "bindings (entry: units x batch)", "e2e p50 ms", "e2e p99 ms",
                "frames/s", "bottleneck"):
        t.add_column(col, justify="left" if col.startswith(("b", "")) else "right")
    order = sorted(points, key=lambda p: (p.end_to_end_ms_p50, -p.throughput_fps))
    for p in order:
        binds = "; ".join(f"{e}: {','.join(u)} x{b}" for e, u, b in p.bindings)
        t.add_row("*" if p.pareto else "", binds, f"{p.end_to_end_ms_p50:.3f}",
                  f"{p.end_to_end_ms_p99:.3f}", f"{p.throughput_fps:.1f}", p.bottleneck)
    console.print(t)
