"""Numerics per fused group: the numerics layers gathered under the fused groups of the plan
(the names the latency table prints), so accuracy and time of a group sit on one row; and
the `npusim numerics` arguments that ask for it (--chip, --group, --precision-map, --keep)."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

from rich.markup import escape
from rich.table import Table

from npusim.outputs import json_number
from npusim.result import Report


@dataclass(frozen=True, slots=True)
class GroupRow:
    """One fused group: its time on the chip and the error of the layers inside it."""

    name: str
    unit: str
    precision: str
    latency_ms: float
    percent: float
    layers: tuple[str, ...]              # numerics layers inside the group, in graph order
    output_sqnr_db: float | None         # graphwise SQNR of the group's last layer
    worst_layerwise_output_sqnr_db: float | None
    saturation_count: int


def _precision_label(group, precisions) -> str:
    """The group's precision (its lead op's) and, after a '+', any other precision the map
    gives one of its members: int8+fp16 for an int8 conv group holding an fp16 Add."""
    mapped = {precisions[m] for m in (*(group.members or ()), group.name) if m in precisions}
    return "+".join([group.precision, *sorted(mapped - {group.precision})])


def group_rows(report: Report, numerics, precisions=None) -> tuple[GroupRow, ...]:
    """Every non-view group of `report` with the `numerics` (a NumericsResult) layers whose
    nodes it holds (a numerics layer belongs to the group holding its first node).
    `precisions`: the map both ran with, which labels a group whose members it splits."""
    owner: dict[str, int] = {}
    groups = [r for r in report.layers if r.bound_by not in ("view", "runtime")]
    for i, g in enumerate(groups):
        for m in g.members or (g.name,):
            owner[m] = i
            for piece in m.split("+"):       # an original node merged into one (conv+bn)
                owner.setdefault(piece, i)
    inside: dict[int, list] = {}
    last = 0
    for layer in numerics.layers:
        # a layer of ops the plan treats as views (Flatten) joins the group before it
        last = next((owner[n] for n in (layer.name, *layer.nodes) if n in owner), last)
        inside.setdefault(last, []).append(layer)
    out = []
    for i, g in enumerate(groups):
        ls = inside.get(i, [])
        lw = [x.layerwise_output_sqnr_db for x in ls if x.layerwise_output_sqnr_db is not None]
        out.append(GroupRow(g.name, g.unit, _precision_label(g, precisions or {}),
                            g.latency_ms, g.percent,
                            tuple(x.name for x in ls), ls[-1].sqnr_db if ls else None,
                            min(lw) if lw else None, sum(x.saturation_count for x in ls)))
    return tuple(out)


def group_table(report: Report, rows: tuple[GroupRow, ...]) -> Table:
    t = Table(title=f"{report.model} on {report.chip}: numerics per fused group "
              f"({report.fusion} plan, {report.totals.latency_ms:.4f} ms)",
              title_justify="left")
    for col in ("group", "unit", "precision", "latency ms", "%", "layers", "SQNR dB (out)",
                "worst layerwise out SQNR dB", "sat"):
        t.add_column(col, justify="left" if col in ("group", "unit", "precision") else "right")
    estimated = report.totals.estimated
    for r in rows:
        t.add_row(escape(r.name), r.unit, r.precision,
                  f"{r.latency_ms:.4f}{'*' if estimated else ''}", f"{r.percent:.1f}",
                  str(len(r.layers)), _fmt(r.output_sqnr_db),
                  _fmt(r.worst_layerwise_output_sqnr_db), str(r.saturation_count))
    return t


def _json_row(r: GroupRow) -> dict:
    return {"name": r.name, "unit": r.unit, "precision": r.precision,
            "latency_ms": r.latency_ms, "percent": r.percent, "layers": list(r.layers),
            "output_sqnr_db": json_number(r.output_sqnr_db),
            "worst_layerwise_output_sqnr_db": json_number(r.worst_layerwise_output_sqnr_db),
            "saturation_count": r.saturation_count}


def _fmt(v):
    if v is None:
        return "-"
    return "inf" if math.isinf(v) else f"{v:.2f}"


def add_arguments(n: argparse.ArgumentParser) -> None:
    """What `npusim numerics` takes besides its own arguments."""
    from npusim.cli_args import add_precision_map_args
    add_precision_map_args(n)
    n.add_argument("--chip", help="with --group: the chip whose fused groups to group by")
    n.add_argument("--group", action="store_true",
                   help="also print the table per fused group of the plan on --chip: "
                   "latency and accuracy on one row")
    from npusim.fusion import STRATEGIES
    n.add_argument("--fusion", default="dp", choices=STRATEGIES,
                   help="with --group: the fusion strategy")


def main(args: argparse.Namespace, console) -> int:
    from npusim.cli_args import precisions_of
    from npusim.errors import NpusimError
    from npusim.numerics import cli as numerics_cli
    if args.group and not args.chip:
        raise NpusimError("numerics --group needs --chip CHIP (whose fused groups to use)")
    precisions = precisions_of(args)
    after = None
    if args.group:
        from npusim import api
        report = api.simulate(args.model, args.chip, args.shapes, precisions=precisions,
                              fusion=args.fusion)

        def after(result):
            rows = group_rows(report, result, precisions)
            console.print(group_table(report, rows))
            return {"groups": [_json_row(r) for r in rows], "chip": report.chip,
                    "latency_ms": report.totals.latency_ms}
    return numerics_cli.main(args, console, precisions=precisions, after=after)
