"""Write a simulate `Report` as JSON, CSV, or a rich table for the terminal."""

from __future__ import annotations

import csv
import io
import json

from rich.markup import escape
from rich.table import Table

from npusim.result import Report

CSV_COLUMNS = ("name", "op_types", "unit", "precision", "start_ms", "latency_ms", "percent",
               "compute_ms", "memory_ms", "overhead_ms", "bound_by", "macs", "bytes_loaded",
               "bytes_stored", "estimated", "rests_on")


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n"


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in report.layers:
        writer.writerow([r.name, "+".join(r.op_types), r.unit, r.precision,
                         f"{r.start_ms:.6f}", f"{r.latency_ms:.6f}", f"{r.percent:.3f}",
                         f"{r.compute_ms:.6f}", f"{r.memory_ms:.6f}", f"{r.overhead_ms:.6f}",
                         r.bound_by, r.macs, r.bytes_loaded, r.bytes_stored,
                         int(r.estimated), ";".join(r.rests_on)])
    return out.getvalue()


def layer_table(report: Report, *, show_views: bool = False) -> Table:
    """Per-layer table in the trtexec / hb_perf spirit; `*` marks estimate-based figures."""
    t = report.totals
    title = escape(f"{report.model} on {report.chip} ({report.precision}): "
             f"{t.latency_ms:.3f} ms latency, {t.fps:.1f} FPS, "
             f"{t.ddr_bytes_per_frame / 1e6:.2f} MB DDR/frame, {t.macs / 1e9:.3f} GMACs")
    title += " (* = rests on an estimated figure)" if t.estimated else ""
    table = Table(title=title, title_justify="left", show_lines=False)
    for col, justify in (("layer", "left"), ("op", "left"), ("unit", "left"),
                         ("latency ms", "right"), ("%", "right"), ("compute ms", "right"),
                         ("DDR ms", "right"), ("bound", "left"), ("MMACs", "right"),
                         ("DDR in KB", "right"), ("DDR out KB", "right")):
        table.add_column(col, justify=justify, overflow="fold")
    hidden = 0
    for r in report.layers:
        if r.bound_by == "view" and not show_views:
            hidden += 1
            continue
        mark = "*" if r.estimated else ""
        table.add_row(escape(r.name), "+".join(r.op_types), r.unit,
                      f"{r.latency_ms:.4f}{mark}", f"{r.percent:.1f}", f"{r.compute_ms:.4f}",
                      f"{r.memory_ms:.4f}", r.bound_by, f"{r.macs / 1e6:.2f}",
                      f"{r.bytes_loaded / 1e3:.1f}", f"{r.bytes_stored / 1e3:.1f}")
    notes = []
    if hidden:
        notes.append(f"{hidden} view ops (Reshape, Flatten, ...) cost nothing and are hidden; "
                     "--all shows them")
    if report.estimated_figures:
        notes.append(f"* rests on {len(report.estimated_figures)} estimated profile figure(s): "
                     + ", ".join(escape(p) for p in report.estimated_figures))
    table.caption = "\n".join(notes) or None
    table.caption_justify = "left"
    return table
