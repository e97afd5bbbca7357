"""Panels of the report: fusion strategies side by side, the memory picture and
tables, and the numerics table.
"""

from __future__ import annotations

import base64
import html
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path

from npusim.errors import NpusimError
from npusim.report.html.collect import ReportInputs
from npusim.report.html.pieces import (
    _bytes,
    _clip,
    _f,
    _figure,
    _figure_uri,
    _num,
    _provenance,
    _star,
)

# -- fusion strategies -------------------------------------------------------------------------

def _strategies(data: ReportInputs, estimated: Mapping[str, str]) -> str:
    timelines = data.timelines
    plans = [tl.plan for tl in timelines]
    base = next((tl for tl in timelines if tl.plan.strategy == "none"), timelines[0])
    worst_ms = max(tl.latency_ms for tl in timelines) or 1.0
    worst_mb = max(tl.ddr_bytes for tl in timelines) or 1
    rows = []
    for tl in timelines:
        p = tl.plan
        chosen = p.strategy == data.report.fusion
        star = _star(any(g.rests_on for g in p.groups))
        groups = sum(1 for g in p.groups if g.bound_by != "view")
        rows.append(
            f'<tr{" class=chosen" if chosen else ""}><td>{html.escape(p.strategy)}'
            f'{" <span class=tag>this report</span>" if chosen else ""}</td>'
            f'<td class="num bar" style="--p:{100 * tl.latency_ms / worst_ms:.1f}%" '
            f'data-v="{tl.latency_ms!r}">{tl.latency_ms:.3f}{star}</td>'
            + _num(tl.latency_ms / base.latency_ms if base.latency_ms else 0,
                   f"{tl.latency_ms / base.latency_ms:.2f}x" if base.latency_ms else "-")
            + f'<td class="num bar ddr" style="--p:{100 * tl.ddr_bytes / worst_mb:.1f}%" '
            f'data-v="{tl.ddr_bytes}">{tl.ddr_bytes / 1e6:.2f}</td>'
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
               f"{tl.throughput_fps:,.1f} FPS with frames in flight (bottleneck "
               f"{tl.bottleneck}), "
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
