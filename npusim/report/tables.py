"""Write a simulate `Report` as JSON, CSV, or a rich table for the terminal, and a plan (or
the strategies side by side) as a table or JSON. Every latency printed is the scheduled
timeline's; the per-group figure priced alone is named `isolated`.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

from rich import box
from rich.markup import escape
from rich.table import Table

from npusim.cost import short_name
from npusim.result import Report
from npusim.schedule import Timeline

CSV_COLUMNS = ("name", "op_types", "unit", "fallback", "precision", "start_ms", "end_ms",
               "latency_ms", "percent", "isolated_ms", "compute_ms", "memory_ms",
               "overhead_ms", "transition_ms", "bound_by", "macs", "bytes_loaded",
               "bytes_stored", "estimated", "rests_on")
TABLE_WIDTH = 120  # the default per-layer table fits a 120-column terminal
MIN_NAME_WIDTH = 16
NAME_WIDTH = 34    # a group's short name in the plan table
OPS_WIDTH = 16


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n"


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in report.layers:
        writer.writerow([r.name, "+".join(r.op_types), r.unit, int(r.fallback), r.precision,
                         f"{r.start_ms:.6f}", f"{r.end_ms:.6f}", f"{r.latency_ms:.6f}",
                         f"{r.percent:.3f}", f"{r.isolated_ms:.6f}", f"{r.compute_ms:.6f}",
                         f"{r.memory_ms:.6f}", f"{r.overhead_ms:.6f}", f"{r.transition_ms:.6f}",
                         r.bound_by, r.macs, r.bytes_loaded, r.bytes_stored, int(r.estimated),
                         ";".join(r.rests_on)])
    return out.getvalue()


def summary_line(report: Report) -> str:
    """The one-line totals every command prints the same way."""
    t = report.totals
    spills = f", {t.spilled_buffers} buffers spilled to DDR" if t.spilled_buffers else ""
    if t.launch_bound_layers:
        spills += f", {t.launch_bound_layers} kernels launch-bound"
    return (f"{report.model} on {report.chip} ({report.precision}, fusion {report.fusion}): "
            f"latency {t.latency_ms:.3f} ms, throughput {t.throughput_fps:.1f} FPS, "
            f"DDR {t.ddr_bytes_per_frame / 1e6:.2f} MB/frame, {t.macs / 1e9:.3f} GMACs{spills}"
            + (" (* = rests on an estimated figure)" if t.estimated else ""))


def ops_summary(op_types: tuple[str, ...], width: int = OPS_WIDTH) -> str:
    """`Conv+Relu` for a short group; `Conv×5 Add×2 +3` (most frequent first) for a long."""
    plain = "+".join(op_types)
    if len(plain) <= width:
        return plain
    if len(set(op_types)) == 1 and len(op_types) == 1:
        return plain[:width - 1] + "…"
    counts = Counter(op_types).most_common()
    parts, used = [], 0
    for k, (op, n) in enumerate(counts):
        text = f"{op}×{n}" if n > 1 else op
        rest = f" +{len(counts) - k - 1}" if k + 1 < len(counts) else ""
        if parts and used + len(text) + 1 + len(rest) > width:
            parts.append(f"+{len(counts) - k}")
            break
        parts.append(text)
        used += len(text) + 1
    return " ".join(parts)


def layer_table(report: Report, *, show_views: bool = False, members: bool = False,
                width: int = TABLE_WIDTH) -> Table:
    """Per-layer table in the trtexec / hb_perf spirit, `width` columns wide: a fused group
    shows as `first ... last (+N)` in the room the other columns leave (`members=True`
    lists every node); start, duration and % are on the scheduled timeline; `*` marks
    figures that rest on an estimated profile number."""
    table = Table(title=escape(summary_line(report)), title_justify="left",
                  box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    columns = [("layer", "left"), ("ops", "left"), ("unit", "left"), ("start", "right"),
               ("ms", "right"), ("%", "right"), ("bound", "left"), ("MMACs", "right"),
               ("in KB", "right"), ("out KB", "right")]
    shown = [r for r in report.layers if show_views or not r.is_view]
    cells = [_cells(report, r) for r in shown]
    if any(r.transition_ms for r in shown):  # a reformat column, where the width allows
        wide = columns + [("reformat ms", "right")]
        with_reformat = [c + (f"{r.transition_ms:.4f}",) for r, c in zip(shown, cells)]
        if _name_width(wide, with_reformat, width) >= MIN_NAME_WIDTH:
            columns, cells = wide, with_reformat
    name_width = max(MIN_NAME_WIDTH, _name_width(columns, cells, width))
    for col, justify in columns:
        table.add_column(col, justify=justify, overflow="fold",
                         max_width=name_width if col == "layer" else None)
    for r, c in zip(shown, cells):
        if not r.members:  # a runtime row
            name = r.name
        else:
            name = "\n".join(r.members) if members else short_name(r.members, name_width)
        table.add_row(escape(name), *c)
    hidden = len(report.layers) - len(shown)
    table.caption = "\n".join(_notes(report, hidden, members)) or None
    table.caption_justify = "left"
    return table


def _cells(report: Report, r) -> tuple[str, ...]:
    """A row's cells after its name."""
    mark = "*" if r.estimated else ""
    unit = f"{r.unit} (fb)" if r.fallback else r.unit
    if r.precision not in (report.precision, "-"):  # e.g. fp16 layers in an int8 build
        unit += f" {r.precision}"
    return (ops_summary(r.op_types), unit, f"{r.start_ms:.4f}", f"{r.latency_ms:.4f}{mark}",
            f"{r.percent:.1f}", r.bound_by, f"{r.macs / 1e6:.1f}",
            f"{r.bytes_loaded / 1e3:.1f}", f"{r.bytes_stored / 1e3:.1f}")


def _name_width(columns, cells, width: int) -> int:
    """The room the other columns leave for the layer names."""
    others = sum(max([len(head)] + [len(c[k]) for c in cells])
                 for k, (head, _) in enumerate(columns[1:]))
    return width - others - 3 * len(columns) + 1


def _notes(report: Report, hidden: int, members: bool) -> list[str]:
    t = report.totals
    notes = [f"ms: time on the scheduled timeline (waits for inputs included); the groups "
             f"priced alone add up to {t.serial_latency_ms:.3f} ms (--json: isolated_ms)"]
    if not members and any(len(r.members) > 1 for r in report.layers):
        notes.append("a fused group shows as 'first ... last (+N more)'; --members lists "
                     "every node")
    if any(r.bound_by == "runtime" for r in report.layers):
        notes.append("(runtime) rows: the work around the kernels that the profile's runtime "
                     f"describes; the kernels alone take {t.kernels_ms:.3f} ms")
    if t.launch_bound_layers:
        notes.append("launch: the kernel waited for the CPU to enqueue it (the model is "
                     "launch-bound there)")
    if any(r.transition_ms for r in report.layers):
        notes.append("reformat: converting inputs handed over from another unit, or from "
                     "another precision (an int8 build keeps some ops in fp16); in the "
                     "`ms` of each row, and per row in --json / --csv (transition_ms)")
    fallbacks = sum(r.fallback for r in report.layers)
    if fallbacks:
        notes.append(f"(fb): {fallbacks} layer(s) run on a fallback unit because "
                     f"{report.chip}'s first unit cannot run them; a precision after the unit "
                     "is one the build keeps for that layer")
    if hidden:
        notes.append(f"{hidden} view ops (Reshape, Flatten, Q/DQ folded into int kernels, ...) "
                     "cost nothing and are hidden; --all shows them")
    if report.estimated_figures:
        notes.append(f"* rests on {len(report.estimated_figures)} estimated profile figure(s): "
                     + ", ".join(escape(p) for p in report.estimated_figures))
    return notes


def plan_title(timeline: Timeline) -> str:
    p = timeline.plan
    return (f"{p.model} on {p.chip.name} ({p.precision.value}), fusion {p.strategy} "
            f"minimizing {p.objective}: latency {timeline.latency_ms:.3f} ms, "
            f"DDR {timeline.ddr_bytes / 1e6:.2f} MB/frame, "
            f"{sum(1 for g in p.groups if not g.is_view)} groups, "
            f"{p.ddr_round_trips} DDR round trips")


def plan_table(timeline: Timeline, *, members: bool = False) -> Table:
    """One row per group: members, unit, tiling, SRAM working set, DDR traffic, and its
    latency priced alone (the planner's figure; the title gives the scheduled latency)."""
    table = Table(title=escape(plan_title(timeline)), title_justify="left",
                  box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    for col, justify in (("group", "left"), ("unit", "left"), ("ops", "right"),
                         ("tiles", "right"), ("weights", "left"), ("SRAM KB", "right"),
                         ("in KB", "right"), ("out KB", "right"),
                         ("isolated ms", "right"), ("bound", "left")):
        table.add_column(col, justify=justify, overflow="fold")
    for g in timeline.plan.groups:
        if g.is_view:
            continue
        sram = f"{g.working_set_bytes / 1e3:.1f}" if g.sram_level else "-"
        name = "\n".join(g.members) if members else short_name(g.members, NAME_WIDTH)
        table.add_row(escape(name), g.unit, str(len(g.members)), str(g.tiling.row_tiles),
                      g.tiling.weights, sram, f"{g.bytes_loaded / 1e3:.1f}",
                      f"{g.bytes_stored / 1e3:.1f}",
                      f"{g.latency_ms:.4f}{'*' if g.rests_on else ''}", g.bound_by.value)
    return table


def compare_table(timelines: tuple[Timeline, ...]) -> Table:
    first = timelines[0].plan
    table = Table(title=escape(f"{first.model} on {first.chip.name} ({first.precision.value}): "
                               f"fusion strategies minimizing {first.objective}"),
                  title_justify="left")
    for col in ("strategy", "latency ms", "vs none", "DDR MB/frame", "DDR round trips",
                "groups", "planning ms"):
        table.add_column(col, justify="left" if col == "strategy" else "right")
    base = timelines[0].latency_ms or 1.0
    for tl in timelines:
        p = tl.plan
        groups = sum(1 for g in p.groups if not g.is_view)
        table.add_row(p.strategy, f"{tl.latency_ms:.3f}", f"{tl.latency_ms / base:.2f}x",
                      f"{tl.ddr_bytes / 1e6:.2f}", str(p.ddr_round_trips), str(groups),
                      f"{p.planning_ms:.0f}")
    return table


def plan_json(timelines: tuple[Timeline, ...]) -> str:
    """Plans as JSON, each with its scheduled latency; planning time is left out so the
    file is reproducible."""
    out = []
    for tl in timelines:
        p = tl.plan
        out.append({
            "model": p.model, "chip": p.chip.name, "precision": p.precision.value,
            "strategy": p.strategy, "objective": p.objective,
            "latency_ms": tl.latency_ms, "serial_latency_ms": p.serial_latency_ms,
            "ddr_bytes": tl.ddr_bytes, "priced_ddr_bytes": p.ddr_bytes,
            "ddr_round_trips": p.ddr_round_trips,
            "groups": [{"name": g.name, "members": list(g.members), "unit": g.unit,
                        "row_tiles": g.tiling.row_tiles, "weights": g.tiling.weights,
                        "resident": list(g.resident), "sram_level": g.sram_level,
                        "working_set_bytes": g.working_set_bytes,
                        "traffic": [{"tensor": t.tensor, "direction": t.direction,
                                     "constant": t.constant, "tensor_bytes": t.tensor_bytes,
                                     "bytes_moved": t.bytes_moved,
                                     "rows_per_tile": t.rows_per_tile} for t in g.traffic],
                        "bytes_loaded": g.bytes_loaded, "bytes_stored": g.bytes_stored,
                        "compute_ms": g.compute_ms, "memory_ms": g.memory_ms,
                        "isolated_ms": g.latency_ms, "bound_by": g.bound_by.value,
                        "rests_on": list(g.rests_on)} for g in p.groups],
        })
    return json.dumps(out if len(out) > 1 else out[0], indent=2, sort_keys=True) + "\n"


def format_bytes(n: int) -> str:
    """Bytes in binary units, as memory tables print them."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"
