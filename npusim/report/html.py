"""The HTML report: one self-contained page (inline CSS, JS and SVG charts, no network) with
totals, the sortable layer table, latency breakdown, roofline, memory, strategies, numerics.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import math
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from npusim.errors import NpusimError
from npusim.fusion import STRATEGIES, Plan
from npusim.hw import Chip
from npusim.ir import Precision
from npusim.report.roofline import plot_roofline, roofline_points, roofs
from npusim.result import LayerRow, Report

BOUND_COLORS = {"compute": "#4C72B0", "memory": "#DD8452", "overhead": "#8C8C8C",
                "view": "#CCCCCC"}
TOP_GROUPS = 24       # the by-group chart shows this many groups, the rest summed
TOP_OP_TYPES = 12
SVG_SALT = "npusim-report"


@dataclass(frozen=True, slots=True)
class ReportInputs:
    """Everything the page shows, computed once: render it with `render_html`."""

    report: Report
    plans: tuple[Plan, ...]                 # the fusion strategies side by side
    chip: Chip
    memory_map: object | None               # npusim.schedule.MemoryMap, None if unavailable
    memory_problem: str | None              # why the memory map is missing
    numerics: object | None                 # npusim.numerics.NumericsResult when inputs given


# -- gathering ---------------------------------------------------------------------------------

def collect(model, chip, shapes=None, precision: str = "int8", fusion: str = "dp",
            objective: str = "latency", inputs: Mapping[str, np.ndarray] | None = None,
            target_sqnr_db: float | None = None) -> ReportInputs:
    """Run simulate (via the strategy comparison), memory layout and, with `inputs`, numerics."""
    from npusim import api
    if fusion not in STRATEGIES:
        raise NpusimError(f"unknown fusion strategy '{fusion}'; use one of "
                          f"{', '.join(STRATEGIES)}")
    graph, hw, prec, name = api.prepare(model, chip, shapes, precision)
    plans = api.compare_graph(graph, hw, prec, objective, name)
    # the layer table, the strategy rows and the memory picture all use the same plan
    chosen = next(p for p in plans if p.strategy == fusion)
    report = api.build_report(chosen, hw)
    memory_map, problem = None, None
    try:
        from npusim.schedule import layout_of
        memory_map = layout_of(chosen, graph, hw)
    except NpusimError as e:  # the rest of the page is still worth having
        problem = " ".join(str(e).split())
    numerics = None
    if inputs is not None:
        numerics = _numerics(model, inputs, shapes, precision, target_sqnr_db)
    return ReportInputs(report, plans, hw, memory_map, problem, numerics)


def _numerics(model, inputs, shapes, precision: str, target_sqnr_db: float | None):
    from npusim.numerics import PRECISIONS, run_numerics
    if isinstance(model, str) and model.startswith("zoo:"):
        from npusim import zoo
        model = zoo.build(model[len("zoo:"):])  # numerics needs real weight values
    return run_numerics(model, inputs, shapes=shapes,
                        precision=precision if precision in PRECISIONS else "int8",
                        target_sqnr_db=target_sqnr_db)


def write_report(path: str | os.PathLike, model, chip, **options) -> ReportInputs:
    """Collect and render the report of `model` on `chip` into the HTML file `path`;
    `options` are those of `collect`."""
    data = collect(model, chip, **options)
    text = render_html(data)
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as e:
        raise NpusimError(f"cannot write '{path}': {e.strerror}") from None
    return data


# -- the page ----------------------------------------------------------------------------------

def render_html(data: ReportInputs) -> str:
    """The page as one string; the same inputs give the same bytes."""
    r = data.report
    estimated = dict(data.chip.estimated_figures())
    sections = [
        ("summary", "Summary", _summary(data, estimated)),
        ("breakdown", "Latency breakdown", _breakdown(data, estimated)),
        ("layers", "Layers", _layers(r, estimated)),
        ("roofline", "Roofline and fusion strategies",
         f'<div class="grid2">{_roofline(data, estimated)}'
         f'<div id="strategies">{_strategies(data, estimated)}</div></div>'),
        ("memory", "Memory", _memory(data, estimated)),
    ]
    if data.numerics is not None:
        sections.append(("numerics", "Numerics", _numerics_section(data.numerics)))
    sections.append(("estimates", "Estimated figures", _estimates(r, estimated)))
    nav = "".join(f'<a href="#{sid}">{html.escape(label)}</a>' for sid, label in _nav(sections))
    body = "\n".join(
        f'<section id="{sid}"{" class=first" if i == 0 else ""}>'
        f"{'' if i == 0 else f'<h2>{html.escape(title)}</h2>'}{content}</section>"
        for i, (sid, title, content) in enumerate(sections))
    title = f"{r.model} on {r.chip}"
    from npusim import __version__
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="npusim {__version__}">
<title>npusim: {html.escape(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<header><div class="wrap">
<div class="brand">npusim report</div>
<h1>{html.escape(r.model)} <span class="on">on</span> {html.escape(r.chip)}</h1>
<div class="meta">{_meta(data)}</div>
<nav>{nav}</nav>
</div></header>
<main class="wrap">
{body}
</main>
<footer class="wrap">npusim {__version__}: predictions from a cost model and a chip profile, not
measurements. Figures marked <span class="est">*</span> rest on profile numbers the vendor
does not publish (see <a href="#estimates">Estimated figures</a>).</footer>
<script>{_JS}</script>
</body>
</html>
"""


def _nav(sections) -> list[tuple[str, str]]:
    out = []
    for sid, title, _ in sections:
        if sid == "roofline":
            out += [("roofline", "Roofline"), ("strategies", "Fusion strategies")]
        else:
            out.append((sid, title))
    return out


def _meta(data: ReportInputs) -> str:
    r = data.report
    shapes = ", ".join(f"{k}: {'x'.join(map(str, v))}" for k, v in r.input_shapes.items())
    items = [("precision", r.precision), ("fusion", r.fusion), ("objective", r.objective),
             ("inputs", shapes or "-"), ("chip", data.chip.description)]
    return "".join(f'<span><b>{html.escape(k)}</b> {html.escape(str(v))}</span>'
                   for k, v in items)


def _summary(data: ReportInputs, estimated: Mapping[str, str]) -> str:
    r, t = data.report, data.report.totals
    star = _star(t.estimated)
    busy = ", ".join(f"{u} {ms:.3f} ms" for u, ms in t.busy_ms_by_unit.items() if ms > 0)
    prec = Precision(r.precision)
    units = {u.name: u for u in data.chip.compute_units}
    # the peak a frame could reach: each unit's peak, weighted by the time it is busy
    peak = sum(units[u].peak_tops(prec) * ms for u, ms in t.busy_ms_by_unit.items()
               if u in units and prec in units[u].macs_per_cycle) / max(t.latency_ms, 1e-12)
    achieved = t.flops / (t.latency_ms * 1e-3) / 1e12 if t.latency_ms else 0.0
    cards = [
        ("latency", f"{t.latency_ms:.3f}{star}", "ms per frame, one group at a time"),
        ("throughput", f"{t.fps:,.1f}{star}", f"FPS; busy: {busy}"),
        ("DDR traffic", f"{t.ddr_bytes_per_frame / 1e6:.2f}", f"MB per frame; "
         f"{t.ddr_round_trips} activation round trips"),
        ("compute", f"{t.macs / 1e9:.3f}", f"GMACs; {t.flops / 1e9:.2f} G ops"),
        ("achieved", f"{achieved:.2f}{star}",
         f"TOPS = {100 * achieved / peak:.1f}% of peak" if peak else "TOPS"),
        ("groups", f"{t.layers}", f"fused groups run, {r.fusion} plan"
         + (f" (+{len(r.layers) - t.layers} views)" if len(r.layers) > t.layers else "")),
    ]
    html_cards = "".join(
        f'<div class="card"><div class="k">{html.escape(k)}</div><div class="v">{v}</div>'
        f'<div class="s">{html.escape(s)}</div></div>' for k, v, s in cards)
    return (f'<div class="cards">{html_cards}</div>'
            + _provenance(r.estimated_figures.keys(), estimated))


# -- latency breakdown ---------------------------------------------------------------------------

def latency_by_op_type(report: Report, plans: Sequence[Plan]) -> list[tuple[str, float]]:
    """Each group's latency split over its members in proportion to what each costs alone
    (the `none` plan), summed by op type; sums to the total latency."""
    alone: dict[str, float] = {}
    none = next((p for p in plans if p.strategy == "none"), None)
    if none is not None:
        for g in none.groups:
            for m in g.members:
                alone[m] = g.latency_ms / len(g.members)
    out: dict[str, float] = defaultdict(float)
    for row in report.layers:
        weights = [alone.get(m, 0.0) for m in row.members]
        if not any(weights):
            weights = [1.0] * len(row.members)
        total = sum(weights) or 1.0
        for op, w in zip(row.op_types, weights):
            out[op] += row.latency_ms * w / total
    return sorted(((k, v) for k, v in out.items() if v > 0), key=lambda kv: (-kv[1], kv[0]))


def _breakdown(data: ReportInputs, estimated: Mapping[str, str]) -> str:
    r = data.report
    by_op = latency_by_op_type(r, data.plans)
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
        shown = [(f"#{i} {_short(row.members)}", row.latency_ms, row.bound_by)
                 for i, row in groups if i in top_ids]
        shown.append((f"{len(rest)} other groups", sum(x.latency_ms for x in rest), "overhead"))
        note = f"The {TOP_GROUPS - 1} slowest groups in execution order, the rest summed."
    else:
        shown = [(f"#{i} {_short(row.members)}", row.latency_ms, row.bound_by)
                 for i, row in groups]
        note = "Groups in execution order."
    legend = sorted({b for _, _, b in shown})
    group_fig = _barh([s[0] for s in shown], [s[1] for s in shown],
                      [BOUND_COLORS.get(s[2], "#999999") for s in shown], legend)
    none_rests = {p for pl in data.plans if pl.strategy == "none" for g in pl.groups
                  for p in g.rests_on}
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
        f'<td class="name" title="{html.escape(full)}">{_name_cell(row.members)}</td>',
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
                                              if row.bound_by != "view"})
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


# -- fusion strategies -------------------------------------------------------------------------

def _strategies(data: ReportInputs, estimated: Mapping[str, str]) -> str:
    plans = data.plans
    base = next((p for p in plans if p.strategy == "none"), plans[0])
    worst_ms = max(p.latency_ms for p in plans) or 1.0
    worst_mb = max(p.ddr_bytes for p in plans) or 1
    rows = []
    for p in plans:
        chosen = p.strategy == data.report.fusion
        star = _star(any(g.rests_on for g in p.groups))
        groups = sum(1 for g in p.groups if g.bound_by != "view")
        rows.append(
            f'<tr{" class=chosen" if chosen else ""}><td>{html.escape(p.strategy)}'
            f'{" <span class=tag>this report</span>" if chosen else ""}</td>'
            f'<td class="num bar" style="--p:{100 * p.latency_ms / worst_ms:.1f}%" '
            f'data-v="{p.latency_ms!r}">{p.latency_ms:.3f}{star}</td>'
            + _num(p.latency_ms / base.latency_ms if base.latency_ms else 0,
                   f"{p.latency_ms / base.latency_ms:.2f}x" if base.latency_ms else "-")
            + f'<td class="num bar ddr" style="--p:{100 * p.ddr_bytes / worst_mb:.1f}%" '
            f'data-v="{p.ddr_bytes}">{p.ddr_bytes / 1e6:.2f}</td>'
            + _num(p.ddr_round_trips, str(p.ddr_round_trips)) + _num(groups, str(groups))
            + "</tr>")
    head = "".join(f"<th{' class=num' if i else ''}>{h}</th>" for i, h in enumerate(
        ("strategy", "latency ms", "vs none", "DDR MB/frame", "DDR round trips", "groups")))
    rests = {path for p in plans for g in p.groups for path in g.rests_on}
    text = ("The planner’s four strategies on the same cost model: none (every op alone), "
            "rules (TensorRT-style conv + epilogue), greedy, and dp (the exact planner). "
            f"Objective: {data.report.objective}.")
    return ('<div class="panel"><h3>Fusion strategies</h3>'
            f'<table class="sortable" id="strategy-table"><thead><tr>'
            f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f'<p class="note">{html.escape(text)}</p>'
            + _provenance(rests, estimated) + "</div>")


# -- memory ------------------------------------------------------------------------------------

def _memory(data: ReportInputs, estimated: Mapping[str, str]) -> str:
    mm = data.memory_map
    if mm is None:
        return f'<p class="note">No memory map: {html.escape(data.memory_problem or "")}</p>'
    from npusim.hw.schema import figure_path
    tl = mm.timeline
    rows = []
    for lv in mm.levels:
        rows.append("<tr>" + "".join((
            f"<td>{html.escape(lv.name)}</td><td>{html.escape(lv.kind)}</td>",
            f"<td>{html.escape(lv.unit or '-')}</td>",
            _num(lv.capacity_bytes, _bytes(lv.capacity_bytes)),
            _num(lv.buffers, str(lv.buffers)), _num(lv.peak_bytes, _bytes(lv.peak_bytes)),
            _num(lv.peak_at_ms, f"{lv.peak_at_ms * 1e3:.2f}"),
            _num(lv.arena_bytes, _bytes(lv.arena_bytes)),
            _num(lv.fragmentation, f"{100 * lv.fragmentation:.1f}%"),
            _num(lv.padding_bytes, _bytes(lv.padding_bytes)))) + "</tr>")
    head = "".join(f"<th{' class=num' if i > 2 else ''}>{h}</th>" for i, h in enumerate(
        ("level", "kind", "unit", "capacity", "buffers", "peak", "peak at µs", "arena",
         "fragm.", "padding")))
    used = [lv for lv in mm.levels if lv.buffers]
    rests = set(data.report.estimated_figures)
    for lv in used:
        level = data.chip.level(lv.name)
        rests |= {figure_path(level, f) for f in ("capacity_bytes", "alignment_bytes",
                                                  "bandwidth_GBps")}
    rests &= set(estimated)
    spilled = f", {len(mm.spilled)} buffers spilled to DDR" if mm.spilled else ""
    summary = (f"Scheduled on the units and DMA channels: {tl.latency_ms:.3f} ms per frame, "
               f"{tl.fps:,.1f} FPS with frames in flight (bottleneck {tl.bottleneck}), "
               f"DMA hidden behind compute {100 * tl.dma_hidden_fraction:.0f}%, DDR "
               f"{mm.ddr_bytes / 1e6:.2f} MB/frame{spilled}.")
    try:
        image = _memory_image(mm)
    except NpusimError as e:
        image = None
        summary += f" No picture: {' '.join(str(e).split())}"
    table = (f'<table class="compact" id="memory-table"><thead><tr>{head}</tr></thead>'
             f"<tbody>{''.join(rows)}</tbody></table>")
    text = ("One rectangle per buffer: time on x, address on y; the dashed line is the "
            "level’s capacity. Weights, activations, row tiles and internal tensors of fused "
            "groups are coloured by kind.")
    fig = (_figure_uri(image, "Memory over time", text, _provenance(rests, estimated), wide=True)
           if image else "")
    return (f'<p class="note">{html.escape(summary)}</p>{fig}'
            f'<div class="panel">{table}</div>')


def _memory_image(mm) -> str:
    """`plot_memory` writes a file; render it in a private temporary folder and embed it."""
    from npusim.report.plots import plot_memory
    with tempfile.TemporaryDirectory(prefix="npusim-report-") as tmp:
        path = Path(tmp) / "memory.svg"
        plot_memory(mm, path)
        return "data:image/svg+xml;base64," + base64.b64encode(path.read_bytes()).decode()


# -- numerics ----------------------------------------------------------------------------------

def _numerics_section(result) -> str:
    rank = {name: i for i, name in enumerate(result.worst_layers, 1)}
    head = "".join(f"<th{' class=num' if h not in ('layer', 'op', 'precision') else ''}>"
                   f"{h}</th>" for h in ("#", "layer", "op", "precision", "SQNR dB", "cosine",
                                         "max |err|", "sat", "sat %", "layerwise out SQNR dB",
                                         "worst rank"))
    rows = []
    for i, row in enumerate(result.layers, 1):
        worst = rank.get(row.name)
        cls = ' class="worst"' if worst is not None and worst <= 5 else ""
        rows.append(
            f"<tr{cls}>" + _num(i, str(i))
            + f'<td class="name" title="{html.escape(" + ".join(row.nodes))}">'
            f"{html.escape(_clip(row.name, 60))}</td><td>{html.escape(row.op_type)}</td>"
            f"<td>{html.escape(row.precision)}</td>"
            + _num(row.sqnr_db, _f(row.sqnr_db, 2)) + _num(row.cosine, _f(row.cosine, 6))
            + _num(row.max_abs_error, _f(row.max_abs_error, 4))
            + _num(row.saturation_count, str(row.saturation_count))
            + _num(row.saturation_rate, _f(100 * row.saturation_rate, 2))
            + _num(row.layerwise_output_sqnr_db, _f(row.layerwise_output_sqnr_db, 2))
            + _num(worst if worst is not None else math.inf, str(worst or "-")) + "</tr>")
    outs = "; ".join(f"output {k}: SQNR {_f(v, 2)} dB" for k, v in
                     sorted(result.output_sqnr_db.items()))
    lines = [f"{result.model}: {result.precision}, scheme {result.scheme}. {outs}."]
    if result.worst_layers:
        lines.append("Worst layers (by layerwise output SQNR): "
                     + ", ".join(result.worst_layers[:5]) + ".")
    mp = result.mixed_precision
    if mp is not None:
        verdict = "reaches" if mp.reached else "does not reach"
        lines.append(f"Mixed precision: keep {len(mp.keep)} layer(s) in {mp.keep_precision} "
                     f"({', '.join(mp.keep) or 'none'}) → predicted SQNR "
                     f"{_f(mp.predicted_sqnr_db, 2)} dB ({verdict} {mp.target_sqnr_db:g} dB).")
    lines += list(result.notes)
    fig = _sqnr_figure(result)
    text = ("Graphwise: everything quantized, error accumulated up to the layer. Layerwise: "
            "only that layer quantized, measured at the model output.")
    return ("".join(f'<p class="note">{html.escape(x)}</p>' for x in lines)
            + (_figure(fig, "SQNR per layer", text, '<div class="prov ok">Bit-accurate '
                       "arithmetic: rests on no chip-profile figure.</div>", wide=True)
               if fig is not None else "")
            + '<div class="tablewrap"><table class="sortable" id="numerics-table"><thead><tr>'
            f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def _sqnr_figure(result):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    rows = result.layers
    if not rows:
        return None
    fig = Figure(figsize=(13, 2.8))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    xs = list(range(1, len(rows) + 1))
    cap = 100.0   # exact layers have infinite SQNR; draw them at the top
    ax.plot(xs, [min(r.sqnr_db, cap) for r in rows], marker="o", markersize=3, linewidth=1.2,
            color="#4C72B0", label="graphwise SQNR dB")
    lw = [(x, min(r.layerwise_output_sqnr_db, cap)) for x, r in zip(xs, rows)
          if r.layerwise_output_sqnr_db is not None]
    if lw:
        ax.scatter([x for x, _ in lw], [y for _, y in lw], s=14, color="#C44E52", zorder=3,
                   label="layerwise output SQNR dB")
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("layer # (as in the table)")
    ax.set_ylabel("dB")
    ax.grid(True, linewidth=0.4, alpha=0.5)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


# -- estimated figures -------------------------------------------------------------------------

def _estimates(r: Report, estimated: Mapping[str, str]) -> str:
    used = set(r.estimated_figures)
    rows = "".join(
        f"<tr{' class=used' if p in used else ''}><td><code>{html.escape(p)}</code></td>"
        f"<td>{'yes' if p in used else ''}</td><td>{html.escape(why)}</td></tr>"
        for p, why in sorted(estimated.items()))
    if not rows:
        return '<p class="note">The chip profile marks no figure as estimated.</p>'
    return (f'<p class="note">Every figure of the chip profile <b>{html.escape(r.chip)}</b> '
            "marked estimated (the vendor does not publish it), and whether this report’s "
            "latency rests on it.</p>"
            '<div class="panel"><table class="compact" id="estimates-table"><thead><tr>'
            "<th>profile figure</th><th>used here</th><th>why it is an estimate</th></tr>"
            f"</thead><tbody>{rows}</tbody></table></div>")


# -- small pieces ------------------------------------------------------------------------------

def _provenance(paths: Iterable[str], estimated: Mapping[str, str]) -> str:
    """The badge under a figure: which estimated profile figures it rests on, and why each
    is an estimate (folded)."""
    paths = sorted(p for p in set(paths) if p in estimated)
    if not paths:
        return '<div class="prov ok">Rests on published profile figures only.</div>'
    items = "".join(f"<li><code>{html.escape(p)}</code>: {html.escape(estimated[p])}</li>"
                    for p in paths)
    return (f'<details class="prov est"><summary><span class="badge">estimated</span> '
            f"Rests on {len(paths)} estimated profile figure{'s' if len(paths) != 1 else ''}"
            "</summary><ul>" + items + "</ul></details>")


def _figure(fig, title: str, text: str, provenance: str, wide: bool = False) -> str:
    return _figure_uri(svg_data_uri(fig), title, text, provenance, wide)


def _figure_uri(uri: str, title: str, text: str, provenance: str, wide: bool = False) -> str:
    return (f'<figure class="panel{" wide" if wide else ""}"><h3>{html.escape(title)}</h3>'
            f'<img alt="{html.escape(title)}" src="{uri}">'
            f"<figcaption>{html.escape(text)}</figcaption>{provenance}</figure>")


def svg_data_uri(fig) -> str:
    """A matplotlib Figure as a base64 SVG data URI, with no date and fixed ids."""
    import matplotlib
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": SVG_SALT, "svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode()


def _num(value, text: str) -> str:
    if value is None:
        v = "-Infinity"
    elif isinstance(value, float) and math.isinf(value):
        v = "Infinity" if value > 0 else "-Infinity"
    elif isinstance(value, float) and math.isnan(value):
        v = "-Infinity"
    else:
        v = repr(value) if isinstance(value, float) else str(value)
    return f'<td class="num" data-v="{v}">{text}</td>'


def _f(v, digits: int) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.{digits}f}"


def _star(flag: bool) -> str:
    return '<span class="est">*</span>' if flag else ""


def _short(members: Sequence[str]) -> str:
    """A group's first ONNX node name (without folded BN) and how many more it holds."""
    first = members[0].split("+")[0] if members else "?"
    return first if len(members) <= 1 else f"{first} +{len(members) - 1}"


def _name_cell(members: Sequence[str]) -> str:
    """First node name (clipped by CSS) and the count of the others (never clipped)."""
    first = members[0].split("+")[0] if members else "?"
    more = f'<span class="more">+{len(members) - 1}</span>' if len(members) > 1 else ""
    return f'<span class="n">{html.escape(first)}</span>{more}'


def _op_summary(op_types: Sequence[str]) -> str:
    counts = Counter(op_types)
    seen = dict.fromkeys(op_types)
    return ", ".join(f"{counts[o]} {o}" if counts[o] > 1 else o for o in seen)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def _bytes(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"


# -- command line ------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`npusim report MODEL --chip CHIP -o report.html [--inputs data.npz] ...`"""
    from npusim.cli_args import add_fusion_args, add_model_args
    add_model_args(parser)
    add_fusion_args(parser)
    parser.add_argument("--inputs", metavar="DATA.npz",
                        help="one array per model input: adds the numerics table")
    parser.add_argument("--target-sqnr", type=float, metavar="DB",
                        help="with --inputs: suggest layers to keep in fp16 to reach this "
                             "output SQNR")
    parser.add_argument("-o", "--output", required=True, metavar="REPORT.html",
                        help="write the self-contained HTML page here")


def main(args: argparse.Namespace, console) -> int:
    from npusim.numerics.cli import load_npz
    inputs = load_npz(args.inputs, "inputs") if args.inputs else None
    if args.target_sqnr is not None and inputs is None:
        raise NpusimError("--target-sqnr needs --inputs DATA.npz")
    data = write_report(args.output, args.model, args.chip, shapes=args.shapes,
                        precision=args.precision, fusion=args.fusion, objective=args.objective,
                        inputs=inputs, target_sqnr_db=args.target_sqnr)
    t = data.report.totals
    size_kb = Path(args.output).stat().st_size / 1e3
    from rich.markup import escape
    console.print(escape(f"wrote {args.output} ({size_kb:.0f} KB): {data.report.model} on "
                         f"{data.report.chip}, {t.latency_ms:.3f} ms, {t.fps:.1f} FPS, "
                         f"{len(data.report.layers)} groups"
                         + (", numerics" if data.numerics is not None else "")))
    return 0


_CSS = """
:root{--bg:#f4f6f9;--panel:#fff;--ink:#1f2933;--mute:#616e7c;--line:#e4e7eb;--accent:#2f6fb3;
--est:#b7791f;--estbg:#fff8e6;--okbg:#eef8f1;--ok:#2f855a}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","DejaVu Sans",sans-serif}
.wrap{max-width:1360px;margin:0 auto;padding:0 24px}
header{background:#1d2b3a;color:#fff;padding:18px 0 0}
header .brand{font-size:12px;letter-spacing:.08em;text-transform:uppercase;color:#9fb3c8}
header h1{margin:2px 0 6px;font-size:24px;font-weight:600}
header h1 .on{color:#9fb3c8;font-weight:400}
.meta{display:flex;flex-wrap:wrap;gap:6px 18px;font-size:13px;color:#d9e2ec}
.meta b{color:#9fb3c8;font-weight:500;margin-right:4px}
nav{display:flex;gap:4px;margin-top:12px;flex-wrap:wrap}
nav a{color:#d9e2ec;text-decoration:none;padding:7px 12px;border-radius:6px 6px 0 0;font-size:13px}
nav a:hover{background:#2b3d50;color:#fff}
section{margin:26px 0}
section.first{margin-top:20px}
h2{font-size:17px;margin:0 0 10px;font-weight:600;border-bottom:1px solid var(--line);padding-bottom:6px}
h3{font-size:14px;margin:0 0 8px;font-weight:600}
.cards{display:grid;grid-template-columns:repeat(6,1fr);gap:12px}
.card{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.card .k{font-size:12px;color:var(--mute);text-transform:uppercase;letter-spacing:.05em}
.card .v{font-size:26px;font-weight:600;margin:2px 0;font-variant-numeric:tabular-nums}
.card .s{font-size:12px;color:var(--mute)}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:16px;align-items:start}
.panel{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin:0 0 14px}
figure{margin:0}
figure img{width:100%;height:auto;display:block}
figcaption,.note{font-size:12.5px;color:var(--mute);margin:6px 0}
.prov{font-size:12px;margin-top:8px;padding:6px 10px;border-radius:6px}
.prov.ok{background:var(--okbg);color:var(--ok)}
.prov.est{background:var(--estbg);color:#744210}
.prov summary{cursor:pointer}
.prov ul{margin:6px 0 2px;padding-left:18px}
.badge{background:var(--est);color:#fff;border-radius:4px;padding:1px 6px;font-size:11px;margin-right:4px}
.est{color:var(--est);font-weight:700}
.tablewrap{background:var(--panel);border:1px solid var(--line);border-radius:8px;overflow:auto;max-height:720px}
table{border-collapse:collapse;width:100%;font-size:12px;font-variant-numeric:tabular-nums}
th,td{padding:5px 6px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
th{background:#f0f3f7;position:sticky;top:0;font-weight:600;color:#3e4c59;cursor:default}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th:hover{background:#e3e9f0}
th[aria-sort=ascending]::after{content:" \\25B2";font-size:9px}
th[aria-sort=descending]::after{content:" \\25BC";font-size:9px}
td.num,th.num{text-align:right}
td.ops{white-space:normal;min-width:140px;max-width:210px;font-size:12px}
td.name .n{display:inline-block;max-width:215px;overflow:hidden;text-overflow:ellipsis;vertical-align:bottom}
td.name .more{color:var(--mute);margin-left:5px}
td.name{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px}
tbody tr:nth-child(even){background:#fafbfc}
tbody tr:hover{background:#eef4fb}
tr.view{color:#9aa5b1}
tr.chosen{font-weight:600}
tr.worst td{background:#fff1f0}
td.bar{background:linear-gradient(90deg,#dbe7f5 var(--p),transparent var(--p))}
td.bar.ddr{background:linear-gradient(90deg,#fbe3d0 var(--p),transparent var(--p))}
.pill{border-radius:10px;padding:1px 8px;font-size:11.5px;color:#fff;background:#8c8c8c}
.pill.compute{background:#4C72B0}.pill.memory{background:#DD8452}.pill.view{background:#bbb}
.tag{background:var(--accent);color:#fff;border-radius:4px;padding:1px 6px;font-size:11px;font-weight:500}
table.compact{width:auto;min-width:60%}
code{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px}
footer{color:var(--mute);font-size:12px;padding:10px 24px 30px}
@media (max-width:1000px){.cards{grid-template-columns:repeat(3,1fr)}.grid2{grid-template-columns:1fr}}
"""

_JS = r"""
(function () {
  var root = document.documentElement;
  window.onerror = function (msg) { root.setAttribute("data-js-error", String(msg)); };
  function key(td) {
    var v = td.getAttribute("data-v");
    return v === null ? td.textContent.trim().toLowerCase() : parseFloat(v);
  }
  function sortBy(table, col, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var numeric = rows.length > 0 && rows[0].cells[col].hasAttribute("data-v");
    var current = th.getAttribute("aria-sort");
    // numbers sort largest first on the first click: the slowest layer is what you look for
    var asc = current ? current === "descending" : !numeric;
    rows.forEach(function (r, i) { if (!r.hasAttribute("data-i")) r.setAttribute("data-i", i); });
    rows.sort(function (a, b) {
      var x = key(a.cells[col]), y = key(b.cells[col]);
      var c = (typeof x === "number" && typeof y === "number") ? (x < y ? -1 : x > y ? 1 : 0)
        : String(x).localeCompare(String(y));
      if (!asc) c = -c;
      return c || (+a.getAttribute("data-i") - +b.getAttribute("data-i"));
    });
    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    rows.forEach(function (r) { body.appendChild(r); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortBy(table, col, th); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortBy(table, col, th); });
    });
  });
  if (location.hash === "#selftest") {
    // headless check: sort the layer table by latency, record the order of the # column
    var t = document.getElementById("layer-table");
    t.tHead.rows[0].cells[4].click();
    var order = Array.prototype.map.call(t.tBodies[0].rows, function (r) { return r.cells[0].textContent; });
    root.setAttribute("data-selftest", order.join(","));
  }
  root.setAttribute("data-js-ok", "1");
})();
"""
