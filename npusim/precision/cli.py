"""`npusim precision MODEL --chip CHIP --inputs data.npz`: the accuracy / latency points of
moving the worst layers to the chip's higher precision, a Pareto table and plot, and the
chosen map written as a file `--precision-map` reads. npusim/cli.py mounts these."""

from __future__ import annotations

import argparse
import json
import math

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from npusim import outputs
from npusim.cli_types import count, finite
from npusim.errors import NpusimError
from npusim.fusion import STRATEGIES
from npusim.precision.search import Search


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="ONNX model (float, or QDQ / QAT with its own Q/DQ), or "
                   "zoo:NAME")
    p.add_argument("--chip", required=True, help="bundled profile name or YAML path")
    p.add_argument("--inputs", required=True, help=".npz with one array per model input")
    p.add_argument("--shapes", metavar="NAME:DIMS,...", help="bind dynamic input dims")
    pick = p.add_mutually_exclusive_group()
    pick.add_argument("--target-sqnr", type=finite, metavar="DB",
                      help="choose the fastest map whose output SQNR reaches DB")
    pick.add_argument("--latency-budget-ms", type=finite, metavar="MS",
                      help="choose the most accurate map within MS milliseconds")
    p.add_argument("--max-moves", type=count, default=8, metavar="N",
                   help="move at most the N worst layers (default 8)")
    p.add_argument("--fusion", default="dp", choices=STRATEGIES)
    p.add_argument("-o", "--output", metavar="MAP.yaml",
                   help="write the chosen precision map (for --precision-map)")
    p.add_argument("--json", metavar="FILE", help="write every point as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="write the SQNR-vs-latency plot")


def main(args: argparse.Namespace, console: Console) -> int:
    from npusim.numerics.cli import load_npz
    from npusim.precision.map import dump_precision_map
    from npusim.precision.search import search
    outputs.check_outputs(args.output, args.json, args.plot,
                          inputs=(args.model, args.chip, args.inputs))
    if args.plot and not args.plot.lower().endswith((".png", ".svg")):
        raise NpusimError(f"plot '{args.plot}': use a .png or .svg file name")
    inputs = load_npz(args.inputs, "inputs")
    s = search(args.model, args.chip, inputs, shapes=args.shapes, max_moves=args.max_moves,
               target_sqnr_db=args.target_sqnr, latency_budget_ms=args.latency_budget_ms,
               fusion=args.fusion)
    console.print(pareto_table(s))
    if s.kept_high:
        console.print(escape(
            f"every int8 point is the builder's int8 build: it keeps {s.kept_high} node(s) in "
            f"{s.high} where int8 is not faster (TensorRT: INT8 is a permission), so the "
            f"search moves only layers it runs in int8"))
    c = s.chosen_point
    console.print(escape(f"chosen: {c.label} ({s.criterion}): {c.latency_ms:.4f} ms, output "
                         f"SQNR {c.output_sqnr_db:.2f} dB"
                         + ("" if s.reached else " (target not reached)")))
    if args.output:
        moved = {} if c.moved == () else dict(c.precisions)
        outputs.write_text(args.output, dump_precision_map(
            moved, model=s.model, chip=s.chip,
            note=f"npusim precision: {c.label}, {c.latency_ms:.4f} ms, "
                 f"{c.output_sqnr_db:.2f} dB output SQNR ({s.criterion})"))
    if args.json:
        outputs.write_text(args.json, json.dumps(s.to_dict(), indent=1, sort_keys=True) + "\n")
    if args.plot:
        with outputs.atomic_path(args.plot) as tmp:
            plot_pareto(s, tmp, args.plot.rsplit(".", 1)[-1].lower())
    return 0


def pareto_table(s: Search) -> Table:
    start = "its own Q/DQ" if s.points[0].label == "as quantized" else "int8"
    t = Table(title=f"{s.model} on {s.chip}: worst layers moved {start} -> {s.high} "
              "(latency from the plan, SQNR of a bit-accurate run against float)",
              title_justify="left")
    for col in ("point", "layers moved", "last moved", "latency ms", "output SQNR dB",
                "Pareto", "chosen"):
        t.add_column(col, justify="right" if col in ("layers moved", "latency ms",
                                                     "output SQNR dB") else "left")
    for i, p in enumerate(s.points):
        n = "all" if p.moved == ("*",) else str(len(p.moved))
        last = "" if p.moved in ((), ("*",)) else p.moved[-1]
        sqnr = "inf" if math.isinf(p.output_sqnr_db) else f"{p.output_sqnr_db:.2f}"
        t.add_row(escape(p.label), n, escape(last),
                  f"{p.latency_ms:.4f}{'*' if p.estimated else ''}", sqnr,
                  "yes" if p.pareto else "", "<-" if i == s.chosen else "")
    return t


def plot_pareto(s: Search, path, fmt: str = "png") -> None:
    """Output SQNR against latency, every point, the Pareto front joined, the chosen ringed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    finite = [p for p in s.points if math.isfinite(p.output_sqnr_db)]
    ax.scatter([p.latency_ms for p in finite], [p.output_sqnr_db for p in finite],
               color="0.6", label="moved layers")
    front = sorted((p for p in finite if p.pareto), key=lambda p: p.latency_ms)
    ax.plot([p.latency_ms for p in front], [p.output_sqnr_db for p in front], "o-",
            color="tab:blue", label="Pareto front")
    c = s.chosen_point
    if math.isfinite(c.output_sqnr_db):
        ax.scatter([c.latency_ms], [c.output_sqnr_db], s=160, facecolors="none",
                   edgecolors="tab:red", label=f"chosen ({c.label})")
    for p in finite:
        ax.annotate(p.label, (p.latency_ms, p.output_sqnr_db), fontsize=7,
                    textcoords="offset points", xytext=(4, 4))
    estimated = any(p.estimated for p in s.points)
    ax.set_xlabel("latency (ms)" + (" (rests on estimated figures)" if estimated else ""))
    ax.set_ylabel("output SQNR (dB)")
    start = "own Q/DQ" if s.points[0].label == "as quantized" else "int8"
    ax.set_title(f"{s.model} on {s.chip}: {start} -> {s.high}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format=fmt)
