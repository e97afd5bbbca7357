"""Write a simulate `Report` as JSON, CSV, or a rich table for the terminal."""

from __future__ import annotations

import csv
import io
import json

from rich.markup import escape
from rich.table import Table

from npusim.fusion import Plan
from npusim.result import Report

CSV_COLUMNS = ("name", "op_types", "unit", "fallback", "precision", "start_ms", "latency_ms",
               "percent", "compute_ms", "memory_ms", "overhead_ms", "transition_ms", "bound_by",
               "macs", "bytes_loaded", "bytes_stored", "estimated", "rests_on")


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n"


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in report.layers:
        writer.writerow([r.name, "+".join(r.op_types), r.unit, int(r.fallback), r.precision,
                         f"{r.start_ms:.6f}", f"{r.latency_ms:.6f}", f"{r.percent:.3f}",
                         f"{r.compute_ms:.6f}", f"{r.memory_ms:.6f}", f"{r.overhead_ms:.6f}",
                         f"{r.transition_ms:.6f}", r.bound_by, r.macs, r.bytes_loaded, r.bytes_stored,
                         int(r.estimated), ";".join(r.rests_on)])
    return out.getvalue()


def layer_table(report: Report, *, show_views: bool = False) -> Table:
    """Per-layer table in the trtexec / hb_perf spirit; `*` marks estimate-based figures."""
    t = report.totals
    title = escape(f"{report.model} on {report.chip} ({report.precision}, fusion "
                   f"{report.fusion}): "
             f"{t.latency_ms:.3f} ms latency, {t.fps:.1f} FPS, "
             f"{t.ddr_bytes_per_frame / 1e6:.2f} MB DDR/frame, {t.macs / 1e9:.3f} GMACs")
    title += " (* = rests on an estimated figure)" if t.estimated else ""
    table = Table(title=title, title_justify="left", show_lines=False)
    for col, justify in (("layer", "left"), ("op", "left"), ("unit", "left"),
                         ("latency ms", "right"), ("%", "right"), ("compute ms", "right"),
                         ("DDR ms", "right"), ("bound", "left"), ("MMACs", "right"),
                         ("DDR in KB", "right"), ("DDR out KB", "right")):
        table.add_column(col, justify=justify, overflow="fold")
    handoffs = any(r.transition_ms for r in report.layers)
    if handoffs:
        table.add_column("hand-off ms", justify="right")
    hidden = 0
    for r in report.layers:
        if r.bound_by == "view" and not show_views:
            hidden += 1
            continue
        mark = "*" if r.estimated else ""
        extra = (f"{r.transition_ms:.4f}",) if handoffs else ()
        table.add_row(escape(r.name), "+".join(r.op_types),
                      f"{r.unit} (fallback)" if r.fallback else r.unit,
                      f"{r.latency_ms:.4f}{mark}", f"{r.percent:.1f}", f"{r.compute_ms:.4f}",
                      f"{r.memory_ms:.4f}", r.bound_by, f"{r.macs / 1e6:.2f}",
                      f"{r.bytes_loaded / 1e3:.1f}", f"{r.bytes_stored / 1e3:.1f}", *extra)
    notes = []
    fallbacks = sum(r.fallback for r in report.layers)
    if fallbacks:
        notes.append(f"{fallbacks} layer(s) run on a fallback unit because "
                     f"{report.chip}'s first unit cannot run them; hand-off ms is the "
                     "reformat at each unit change")
    if hidden:
        notes.append(f"{hidden} view ops (Reshape, Flatten, Q/DQ folded into int kernels, ...) "
                     "cost nothing and are hidden; "
                     "--all shows them")
    if report.estimated_figures:
        notes.append(f"* rests on {len(report.estimated_figures)} estimated profile figure(s): "
                     + ", ".join(escape(p) for p in report.estimated_figures))
    table.caption = "\n".join(notes) or None
    table.caption_justify = "left"
    return table


def plan_table(plan: Plan) -> Table:
    """One row per group: members, unit, tiling, SRAM working set, DDR traffic, latency."""
    title = escape(f"{plan.model} on {plan.chip} ({plan.precision}), fusion {plan.strategy} "
                   f"minimizing {plan.objective}: {plan.latency_ms:.3f} ms, "
                   f"{plan.ddr_bytes / 1e6:.2f} MB DDR/frame, {len(plan.groups)} groups, "
                   f"{plan.ddr_round_trips} DDR round trips")
    table = Table(title=title, title_justify="left")
    for col, justify in (("group", "left"), ("unit", "left"), ("ops", "right"),
                         ("tiles", "right"), ("weights", "left"), ("SRAM KB", "right"),
                         ("DDR in KB", "right"), ("DDR out KB", "right"),
                         ("latency ms", "right"), ("bound", "left")):
        table.add_column(col, justify=justify, overflow="fold")
    for g in plan.groups:
        if g.bound_by == "view":
            continue
        sram = f"{g.working_set_bytes / 1e3:.1f}" if g.sram_level else "-"
        table.add_row(escape(g.name), g.unit, str(len(g.members)), str(g.tiling.row_tiles),
                      g.tiling.weights, sram, f"{g.bytes_loaded / 1e3:.1f}",
                      f"{g.bytes_stored / 1e3:.1f}",
                      f"{g.latency_ms:.4f}{'*' if g.rests_on else ''}", g.bound_by)
    return table


def compare_table(plans: tuple[Plan, ...]) -> Table:
    first = plans[0]
    table = Table(title=escape(f"{first.model} on {first.chip} ({first.precision}): fusion "
                               f"strategies minimizing {first.objective}"),
                  title_justify="left")
    for col in ("strategy", "latency ms", "vs none", "DDR MB/frame", "DDR round trips",
                "groups", "planning ms"):
        table.add_column(col, justify="left" if col == "strategy" else "right")
    base = first.latency_ms or 1.0
    for p in plans:
        groups = sum(1 for g in p.groups if g.bound_by != "view")
        table.add_row(p.strategy, f"{p.latency_ms:.3f}", f"{p.latency_ms / base:.2f}x",
                      f"{p.ddr_bytes / 1e6:.2f}", str(p.ddr_round_trips), str(groups),
                      f"{p.planning_ms:.0f}")
    return table


def plan_json(plans: tuple[Plan, ...]) -> str:
    """Plans as JSON; planning time is left out so the file is reproducible."""
    out = []
    for p in plans:
        out.append({
            "model": p.model, "chip": p.chip, "precision": p.precision,
            "strategy": p.strategy, "objective": p.objective,
            "latency_ms": p.latency_ms, "ddr_bytes": p.ddr_bytes,
            "ddr_round_trips": p.ddr_round_trips,
            "groups": [{"name": g.name, "members": list(g.members), "unit": g.unit,
                        "row_tiles": g.tiling.row_tiles, "weights": g.tiling.weights,
                        "resident": list(g.resident), "sram_level": g.sram_level,
                        "working_set_bytes": g.working_set_bytes,
                        "loads": dict(g.loads), "stores": dict(g.stores),
                        "bytes_loaded": g.bytes_loaded, "bytes_stored": g.bytes_stored,
                        "compute_ms": g.compute_ms, "memory_ms": g.memory_ms,
                        "latency_ms": g.latency_ms, "bound_by": g.bound_by,
                        "rests_on": list(g.rests_on)} for g in p.groups],
        })
    return json.dumps(out if len(out) > 1 else out[0], indent=2, sort_keys=True) + "\n"
