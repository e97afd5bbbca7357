"""Sections of the report: latency breakdowns (by op type, by group), the sortable
layer table and the roofline.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

from npusim.report.html.collect import (
    BOUND_COLORS,
    TOP_GROUPS,
    TOP_OP_TYPES,
    ReportInputs,
)
from npusim.report.html.pieces import (
    _clip,
    _figure,
    _name_cell,
    _num,
    _op_summary,
    _provenance,
    _short,
    _star,
)
from npusim.report.roofline import plot_roofline, roofline_points, roofs
from npusim.result import LayerRow, Report
from npusim.schedule import Timeline

# -- latency breakdown ---------------------------------------------------------------------------

def latency_by_op_type(report: Report, timelines: Sequence[Timeline]
                       ) -> list[tuple[str, float]]:
    """Each group's latency split over its members in proportion to what each costs alone
    (the `none` plan), summed by op type; sums to the total latency."""
    alone: dict[str, float] = {}
    none = next((tl.plan for tl in timelines if tl.plan.strategy == "none"), None)
    if none is not None:
        for g in none.groups:
            for m in g.members:
                alone[m] = g.latency_ms / len(g.members)
    out: dict[str, float] = defaultdict(float)
    for row in report.layers:
        if not row.members:  # a runtime row
            out[row.op_types[0]] += row.latency_ms
            continue
        weights = [alone.get(m, 0.0) for m in row.members]
        if not any(weights):
            weights = [1.0] * len(row.members)
        total = sum(weights) or 1.0
        for op, w in zip(row.op_types, weights):
            out[op] += row.latency_ms * w / total
    return sorted(((k, v) for k, v in out.items() if v > 0), key=lambda kv: (-kv[1], kv[0]))


def _breakdown(data: ReportInputs, estimated: Mapping[str, str]) -> str:
    r = data.report
    by_op = latency_by_op_type(r, data.timelines)
    if len(by_op) > TOP_OP_TYPES:
        rest = sum(v for _, v in by_op[TOP_OP_TYPES - 1:])
        by_op = by_op[:TOP_OP_TYPES - 1] + [(f"{len(by_op) - TOP_OP_TYPES + 1} other types",
                                             rest)]
    op_fig = _barh([k for k, _ in by_op], [v for _, v in by_op], ["#4C72B0"] * len(by_op), None)
    groups = [(i, row) for i, row in enumerate(r.layers, 1) if row.bound_by != "view"]
    if len(groups) > TOP_GROUPS:
        top = sorted(groups, key=lambda ir: -ir[1].latency_ms)[:TOP_GROUPS - 1]
        top_ids = {i for i, _ in top}
        rest = [row for i, row in groups if i not in top_ids]
        shown = [(f"#{i} {_short(row.members or (row.name,))}", row.latency_ms, row.bound_by)
                 for i, row in groups if i in top_ids]
        shown.append((f"{len(rest)} other groups", sum(x.latency_ms for x in rest), "overhead"))
        note = f"The {TOP_GROUPS - 1} slowest groups in execution order, the rest summed."
    else:
        shown = [(f"#{i} {_short(row.members or (row.name,))}", row.latency_ms, row.bound_by)
                 for i, row in groups]
        note = "Groups in execution order."
    legend = sorted({b for _, _, b in shown})
    group_fig = _barh([s[0] for s in shown], [s[1] for s in shown],
                      [BOUND_COLORS.get(s[2], "#999999") for s in shown], legend)
    none_rests = {p for tl in data.timelines if tl.plan.strategy == "none"
                  for g in tl.plan.groups for p in g.rests_on}
    op_text = (f"Milliseconds of the {r.totals.latency_ms:.3f} ms frame. Each fused group’s "
               "latency is split over its members in proportion to what each costs run alone "
               "(the unfused plan).")
    group_text = (f"Milliseconds. {note} Colour: what bounds the group: compute (MAC or vector "
                  "time), memory (DRAM time) or overhead (per-op dispatch). Numbers are the "
                  "layer table’s # column.")
    left = _figure(op_fig, "Latency by op type", op_text,
                   _provenance(set(r.estimated_figures) | none_rests, estimated))
    right = _figure(group_fig, "Latency by fused group", group_text,
                    _provenance(r.estimated_figures.keys(), estimated))
    return f'<div class="grid2">{left}{right}</div>'


def _barh(labels: Sequence[str], values: Sequence[float], colors: Sequence[str],
          legend: Sequence[str] | None):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    n = max(len(labels), 1)
    fig = Figure(figsize=(6.4, max(2.2, 0.9 + 0.26 * n)))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ys = list(range(len(labels)))
    ax.barh(ys, values, color=colors, height=0.7)
    ax.set_yticks(ys, [_clip(label, 38) for label in labels], fontsize=8)
    ax.invert_yaxis()
    top = max(values, default=0.0) or 1.0
    total = sum(values) or 1.0
    for y, v in zip(ys, values):
        ax.text(v + top * 0.01, y, f"{v:.4f}  ({100 * v / total:.0f}%)", va="center", fontsize=7,
                color="#333333")
    ax.set_xlim(0, top * 1.28)
    ax.tick_params(axis="x", labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if legend:
        ax.legend(handles=[Patch(color=BOUND_COLORS.get(b, "#999999"), label=f"{b} bound")
                           for b in legend], fontsize=7, loc="lower right", frameon=False,
                  bbox_to_anchor=(1.0, 1.0), ncol=len(legend), borderaxespad=0.2)
    fig.tight_layout()
    return fig


# -- the layer table ---------------------------------------------------------------------------

_LAYER_COLUMNS = (
    ("#", "position in execution order"), ("layer", "first ONNX node of the group; hover for all"),
    ("ops", "op types in the group"), ("unit", "compute unit"),
    ("latency ms", "max(compute, DDR) + overhead"), ("%", "share of the frame latency"),
    ("compute ms", "MAC-array and vector time"), ("DDR ms", "DRAM transfer time"),
    ("bound", "what sets the latency"), ("MMACs", "multiply-accumulates, millions"),
    ("ops/B", "arithmetic intensity: (2 MACs + vector ops) / DDR bytes"),
    ("DDR in KB", "bytes loaded from DRAM"), ("DDR out KB", "bytes stored to DRAM"),
    ("tiles", "row tiles"), ("weights", "resident in SRAM or streamed per tile"),
    ("SRAM KB", "working set in the fusion SRAM"))


def _layers(r: Report, estimated: Mapping[str, str]) -> str:
    text_columns = ("layer", "ops", "unit", "bound", "weights")
    head = "".join(f'<th title="{html.escape(tip)}"'
                   f'{"" if name in text_columns else " class=num"}>{html.escape(name)}</th>'
                   for name, tip in _LAYER_COLUMNS)
    slowest = max((row.latency_ms for row in r.layers), default=0.0) or 1.0
    rows = [_layer_row(i, row, slowest) for i, row in enumerate(r.layers, 1)]
    caption = (f"{len(r.layers)} groups in execution order; click a column header to sort "
               "(numbers largest first), again to reverse. Shading: latency relative to the "
               "slowest group. Hover a name for all its ONNX nodes.")
    return (f'<p class="note">{html.escape(caption)}</p>'
            f'<div class="tablewrap"><table class="sortable" id="layer-table">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
            + _provenance(r.estimated_figures.keys(), estimated))


def _layer_row(i: int, row: LayerRow, slowest_ms: float) -> str:
    star = _star(row.estimated)
    ops = 2 * row.macs + row.vector_ops
    ddr = row.bytes_loaded + row.bytes_stored
    intensity = ops / ddr if ddr else math.inf
    full = " + ".join(row.members)
    cells = [
        _num(i, str(i)),
        f'<td class="name" title="{html.escape(full)}">{_name_cell(row.members or (row.name,))}</td>',
        f'<td class="ops" title="{html.escape(" + ".join(row.op_types))}">'
        f"{html.escape(_op_summary(row.op_types))}</td>",
        f"<td>{html.escape(row.unit)}</td>",
        f'<td class="num bar" style="--p:{100 * row.latency_ms / slowest_ms:.1f}%" '
        f'data-v="{row.latency_ms!r}">{row.latency_ms:.4f}{star}</td>',
        _num(row.percent, f"{row.percent:.1f}"),
        _num(row.compute_ms, f"{row.compute_ms:.4f}{star}"),
        _num(row.memory_ms, f"{row.memory_ms:.4f}{star}"),
        f'<td><span class="pill {html.escape(row.bound_by)}">{html.escape(row.bound_by)}'
        "</span></td>",
        _num(row.macs, f"{row.macs / 1e6:.2f}"),
        _num(intensity, "-" if not ops else ("inf" if not ddr else f"{intensity:.1f}")),
        _num(row.bytes_loaded, f"{row.bytes_loaded / 1e3:.1f}"),
        _num(row.bytes_stored, f"{row.bytes_stored / 1e3:.1f}"),
        _num(row.row_tiles, str(row.row_tiles)),
        f"<td>{html.escape(row.weights)}</td>",
        _num(row.working_set_bytes, f"{row.working_set_bytes / 1e3:.1f}"
             if row.working_set_bytes else "-"),
    ]
    cls = ' class="view"' if row.bound_by == "view" else ""
    return f"<tr{cls}>{''.join(cells)}</tr>"


# -- roofline ----------------------------------------------------------------------------------

def _roofline(data: ReportInputs, estimated: Mapping[str, str]) -> str:
    r = data.report
    points = roofline_points(r.layers)
    ceilings = roofs(data.chip, r.precision, {row.unit for row in r.layers
                                              if row.bound_by not in ("view", "runtime")})
    fig = plot_roofline(points, ceilings, f"{r.model} on {r.chip}, {r.precision}, fusion "
                        f"{r.fusion}: every group")
    skipped = [p for p in points if not (p.ops > 0 and p.ddr_bytes > 0 and p.latency_ms > 0)]
    text = ("Arithmetic intensity = (2 × MACs + vector ops) / (DDR bytes loaded + stored); "
            "achieved throughput = ops / latency. Roofs: the compute peak of each unit at "
            f"{r.precision} and the DRAM slope at achieved bandwidth. Numbers are the table’s "
            "# column.")
    if skipped:
        text += (f" Not drawn ({len(skipped)}): groups without ops, DRAM traffic or time "
                 "(views).")
    rests = set(r.estimated_figures) | {p for c in ceilings for p in c.rests_on}
    return _figure(fig, "Roofline", text, _provenance(rests, estimated),
                   wide=False)
