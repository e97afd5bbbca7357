"""Run a sweep: each point a pure function, mapped with joblib (loky locally, or Dask).

Rows come back in the spec's enumeration order whatever the backend; `SweepResult` writes them.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import joblib

from npusim import outputs
from npusim.errors import NpusimError, ShapeError
from npusim.ir import Graph
from npusim.sweep.spec import MAX_POINTS, Point, SweepSpec, expand, load_spec

BACKENDS = ("loky", "dask")
LABEL_COLUMNS = ("model", "fusion", "precision")
METRIC_COLUMNS = ("latency_ms", "serial_latency_ms", "throughput_fps", "ddr_bytes_per_frame",
                  "estimated")


@dataclass(frozen=True, slots=True)
class SweepResult:
    """The rows of a sweep in enumeration order: labels, override values (one column per
    dotted path), then the metrics. Rows are plain dicts; do not modify them."""

    columns: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]

    @property
    def override_paths(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in LABEL_COLUMNS + METRIC_COLUMNS)

    def to_csv(self, path: str | Path | None = None) -> str:
        """The table as CSV (floats written shortest-exact, so equal results give equal
        bytes); written to `path` when given."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        text = buf.getvalue()
        if path is not None:
            _write_text(path, text)
        return text

    def to_parquet(self, path: str | Path) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise NpusimError("writing Parquet needs pyarrow (pip install 'npusim[parquet]'); "
                              "or write CSV") from None
        table = pa.Table.from_pylist([dict(r) for r in self.rows])
        with outputs.atomic_path(path) as tmp:
            pq.write_table(table, str(tmp))

    def write(self, path: str | Path) -> None:
        """CSV or Parquet, by the file's suffix."""
        suffix = Path(path).suffix.lower()
        if suffix == ".csv":
            self.to_csv(path)
        elif suffix in (".parquet", ".pq"):
            self.to_parquet(path)
        else:
            raise NpusimError(f"cannot write results to '{path}': use a .csv or .parquet file")

    def pareto(self, x: str = "memory.sram.capacity_bytes", y: str = "latency_ms",
               group_by: Sequence[str] = ("model",)) -> tuple[dict[str, Any], ...]:
        """The rows on the front that minimizes both `x` and `y`, per `group_by` group."""
        from npusim.sweep.pareto import pareto_front
        self._check_column(x)
        self._check_column(y)
        return pareto_front(self.rows, x, y, group_by)

    def best(self, by: str = "latency_ms", group_by: Sequence[str] = ("model",)
             ) -> tuple[dict[str, Any], ...]:
        """The row with the smallest `by` in each group, groups in first-seen order."""
        self._check_column(by)
        best: dict[tuple, dict[str, Any]] = {}
        for row in self.rows:
            key = tuple(row[g] for g in group_by)
            if key not in best or row[by] < best[key][by]:
                best[key] = row
        return tuple(best.values())

    def _check_column(self, name: str) -> None:
        if name not in self.columns:
            raise NpusimError(f"no column '{name}' in the sweep results; columns: "
                              f"{', '.join(self.columns)}")


def read_csv(path: str | Path) -> SweepResult:
    """A result written by `SweepResult.to_csv`, with numbers and booleans typed again."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise NpusimError(f"cannot read '{path}': {e.strerror}") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = tuple(reader.fieldnames or ())
    rows = tuple({k: v if k in LABEL_COLUMNS else _parse(v) for k, v in r.items()}
                 for r in reader)
    return SweepResult(columns, rows)


def run_sweep(spec_or_path: SweepSpec | dict | str | Path, *, n_jobs: int = -1,
              backend: str = "loky", scheduler: str | None = None,
              progress: bool = False, max_points: int | None = MAX_POINTS) -> SweepResult:
    """Evaluate every point of the spec. `backend="loky"`: local processes (`n_jobs`, -1 =
    all cores); `backend="dask"`: the Dask cluster whose scheduler is at `scheduler`.
    A spec of more than `max_points` points (None: no limit) is refused before any runs."""
    spec = load_spec(spec_or_path)
    points = expand(spec, max_points)
    check_models(spec)
    return run_points(spec, points, n_jobs=n_jobs, backend=backend, scheduler=scheduler,
                      progress=progress)


def check_models(spec: SweepSpec) -> None:
    """Load every model of the spec once, here, so a model that cannot be loaded (dims left
    dynamic, an unsupported op) is said with its name before any point runs in a worker."""
    for m in spec.models:
        try:
            _graph(m.model, m.shapes)
        except ShapeError as e:
            raise ShapeError(f"models: {m.label or m.model}: {e} (in a sweep spec: that "
                             "model entry's `shapes:`)") from None
        except NpusimError as e:
            raise type(e)(f"models: {m.label or m.model}: {e}") from None


def run_points(spec: SweepSpec, points: Sequence[Point], *, n_jobs: int = -1,
               backend: str = "loky", scheduler: str | None = None,
               progress: bool = False) -> SweepResult:
    """Evaluate the points `expand(spec)` gave (see `run_sweep`)."""
    columns = LABEL_COLUMNS + spec.override_paths + METRIC_COLUMNS
    with parallel(backend, scheduler, n_jobs) as workers:
        results = workers(joblib.delayed(evaluate)(p) for p in points)
        rows = _collect(results, len(points), progress)
    return SweepResult(columns, tuple(rows))


def evaluate(point: Point) -> dict[str, Any]:
    """One row: the point's labels and override values, then latency, FPS, DDR bytes and
    whether the result rests on estimated figures. Pure: same point, same row."""
    from npusim import api
    from npusim.hw import Chip
    chip = Chip.model_validate(point.chip)
    report = api.simulate(_graph(point.model, point.shapes), chip, precision=point.precision,
                          fusion=point.fusion, objective=point.objective)
    t = report.totals
    return {"model": point.label or point.model, "fusion": point.fusion,
            "precision": point.precision,
            **dict(point.overrides),
            "latency_ms": t.latency_ms, "serial_latency_ms": t.serial_latency_ms,
            "throughput_fps": t.throughput_fps,
            "ddr_bytes_per_frame": t.ddr_bytes_per_frame, "estimated": t.estimated}


@lru_cache(maxsize=16)
def _graph(model: str, shapes: str | None) -> Graph:
    # Loading (ONNX checks, shape inference, folding) is the slow part of a point; a worker
    # process loads each model once and reuses it for every chip variant.
    from npusim import api
    return api.load(model, shapes, zoo_weights="light")


@contextlib.contextmanager
def parallel(backend: str, scheduler: str | None, n_jobs: int) -> Iterator[joblib.Parallel]:
    """A joblib.Parallel yielding results as they come: local processes (`loky`) or the
    Dask cluster whose scheduler is at `scheduler` (`dask`). Sweeps and pipeline searches."""
    if backend not in BACKENDS:
        raise NpusimError(f"unknown sweep backend '{backend}'; use {' or '.join(BACKENDS)}")
    if backend == "loky":
        if scheduler is not None:
            raise NpusimError("--scheduler needs --backend dask")
        yield joblib.Parallel(n_jobs=n_jobs, return_as="generator")
        return
    if not scheduler:
        raise NpusimError("--backend dask needs --scheduler ADDRESS (e.g. tcp://host:8786)")
    try:
        from distributed import Client
    except ImportError:
        raise NpusimError("--backend dask needs dask.distributed: pip install "
                          "'npusim[dask]'") from None
    try:
        client = Client(scheduler, timeout="15s")
    except (OSError, TimeoutError, ValueError) as e:
        raise NpusimError(f"cannot reach the Dask scheduler at '{scheduler}': {e}") from None
    with client, joblib.parallel_config(backend="dask"):
        yield joblib.Parallel(n_jobs=n_jobs, return_as="generator")


def _collect(results: Iterator[dict], total: int, progress: bool) -> list[dict]:
    if not progress:
        return list(results)
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)
    columns = (TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn())
    rows = []
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("sweep", total=total)
        for row in results:
            rows.append(row)
            bar.advance(task)
    return rows


def _parse(text: str) -> Any:
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _write_text(path: str | Path, text: str) -> None:
    outputs.write_text(path, text)

