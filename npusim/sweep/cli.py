"""The `npusim sweep spec.yaml` subcommand: run a sweep, print the best point per model.

Writes the table (CSV / Parquet) and the Pareto plot when asked; wired in by `npusim.cli`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from npusim import outputs
from npusim.errors import NpusimError
from npusim.sweep.pareto import PLOT_SUFFIXES, plot_pareto, short_model
from npusim.sweep.run import (BACKENDS, LABEL_COLUMNS, METRIC_COLUMNS, SweepResult, check_models,
                              run_points)
from npusim.sweep.spec import (MAX_POINTS, SweepSpec, canonical_path, describe_count, expand,
                               load_spec)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="sweep spec YAML: base_chip, models, fusion, precision, "
                                "overrides (grid or points)")
    p.add_argument("-j", "--jobs", type=int, default=-1, metavar="N",
                   help="parallel workers (default -1: all cores)")
    p.add_argument("--backend", choices=BACKENDS, default="loky",
                   help="loky: local processes; dask: a Dask cluster (needs --scheduler)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler address, e.g. tcp://10.0.0.1:8786")
    p.add_argument("-o", "--output", metavar="FILE.csv|FILE.parquet",
                   help="write every row of the sweep")
    p.add_argument("--plot", metavar="FILE.png|FILE.svg", help="draw the Pareto fronts")
    p.add_argument("--x", metavar="PATH", default=None,
                   help="Pareto cost axis: a swept path (default: the first override path)")
    p.add_argument("--y", metavar="COLUMN", default="latency_ms",
                   help="Pareto metric axis (default latency_ms)")
    p.add_argument("--max-points", type=int, default=MAX_POINTS, metavar="N",
                   help=f"refuse a sweep of more points than this (default {MAX_POINTS})")


def main(args: argparse.Namespace, console: Console) -> int:
    spec = load_spec(args.spec)
    x = canonical_path(args.x) if args.x else next(iter(spec.override_paths), None)
    _check_outputs(args, spec, x)      # before a long run, not after
    console.print(f"sweep: {describe_count(spec)}")
    if args.max_points < 1:
        raise NpusimError(f"--max-points must be at least 1, got {args.max_points}")
    if args.jobs == 0:
        raise NpusimError("-j/--jobs 0 runs nothing: give N >= 1 workers, or -1 for all cores")
    points = expand(spec, args.max_points)   # every path and value checked before a point runs
    check_models(spec)                        # and every model loads
    result = run_points(spec, points, n_jobs=args.jobs, backend=args.backend,
                        scheduler=args.scheduler, progress=console.is_terminal)
    console.print(summary_table(result))
    if x is not None:
        front = result.pareto(x, args.y)
        console.print(f"Pareto front ({escape(args.y)} vs {escape(x)}, per model): "
                      f"{len(front)} of {len(result.rows)} points")
    if args.output:
        result.write(args.output)
        console.print(f"wrote {escape(args.output)} ({len(result.rows)} rows)")
    if args.plot:
        plot_pareto(result, args.plot, x=x, y=args.y)
        console.print(f"wrote {escape(args.plot)}")
    return 0


def summary_table(result: SweepResult) -> Table:
    """The lowest-latency point of each model, with the settings that reach it."""
    table = Table(title=f"sweep: {len(result.rows)} points, best latency per model",
                  title_justify="left")
    for col in ("model", "fusion", "precision", *result.override_paths, "latency ms", "FPS",
                "DDR MB/frame", "estimated"):
        table.add_column(escape(col), justify="left" if col in ("model", "fusion") else "right")
    for row in result.best("latency_ms"):
        table.add_row(escape(short_model(str(row["model"]))), row["fusion"], row["precision"],
                      *(_value(row[p]) for p in result.override_paths),
                      f"{row['latency_ms']:.3f}", f"{row['throughput_fps']:.1f}",
                      f"{row['ddr_bytes_per_frame'] / 1e6:.2f}",
                      "yes" if row["estimated"] else "no")
    return table


def _check_outputs(args: argparse.Namespace, spec: SweepSpec, x: str | None) -> None:
    if args.output and Path(args.output).suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise NpusimError(f"cannot write results to '{args.output}': use a .csv or .parquet "
                          "file")
    if args.plot and Path(args.plot).suffix.lower() not in PLOT_SUFFIXES:
        raise NpusimError(f"cannot plot to '{args.plot}': use a {', '.join(PLOT_SUFFIXES)} file")
    if args.plot and x is None:
        raise NpusimError("--plot needs --x PATH: the spec sweeps no profile field")
    outputs.check_outputs(args.output, args.plot, inputs=(args.spec,))
    columns = LABEL_COLUMNS + spec.override_paths + METRIC_COLUMNS
    for flag, name in (("--x", x), ("--y", args.y)):
        if name is not None and name not in columns:
            raise NpusimError(f"{flag} '{name}' is not a column of this sweep; columns: "
                              f"{', '.join(columns)}")


def _value(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)
