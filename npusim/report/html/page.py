"""The page: header, navigation, summary cards and the estimated-figures section,
assembled from the section renderers.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from pathlib import Path

from npusim.errors import NpusimError
from npusim.ir import Precision
from npusim.report.html.assets import _JS
from npusim.report.html.collect import ReportInputs, collect
from npusim.report.html.graph import graph_view
from npusim.report.html.panels import _memory, _numerics_section, _strategies
from npusim.report.html.pieces import _provenance, _star, page_shell
from npusim.report.html.sections import _breakdown, _layers, _roofline
from npusim.result import Report

# -- the page ----------------------------------------------------------------------------------

def render_html(data: ReportInputs) -> str:
    """The page as one string; the same inputs give the same bytes."""
    r = data.report
    estimated = dict(data.chip.estimated_figures())
    sections = [
        ("summary", "Summary", _summary(data, estimated)),
        ("breakdown", "Latency breakdown", _breakdown(data, estimated)),
        ("layers", "Layers", _layers(r, estimated)),
        ("graph", "Graph", graph_view(r)),
        ("roofline", "Roofline and fusion strategies",
         f'<div class="grid2">{_roofline(data, estimated)}'
         f'<div id="strategies">{_strategies(data, estimated)}</div></div>'),
        ("memory", "Memory", _memory(data, estimated)),
    ]
    if data.numerics is not None:
        sections.append(("numerics", "Numerics", _numerics_section(data.numerics)))
    if data.tradeoff is not None:
        from npusim.report.html.tradeoff import tradeoff_section
        sections.append(("tradeoff", "Accuracy vs latency", tradeoff_section(data.tradeoff)))
    sections.append(("estimates", "Estimated figures", _estimates(r, estimated)))
    nav = "".join(f'<a href="#{sid}">{html.escape(label)}</a>' for sid, label in _nav(sections))
    body = "\n".join(
        f'<section id="{sid}"{" class=first" if i == 0 else ""}>'
        f"{'' if i == 0 else f'<h2>{html.escape(title)}</h2>'}{content}</section>"
        for i, (sid, title, content) in enumerate(sections))
    header = (f'<div class="brand">npusim report</div>\n'
              f'<h1>{html.escape(r.model)} <span class="on">on</span> {html.escape(r.chip)}</h1>\n'
              f'<div class="meta">{_meta(data)}</div>\n<nav>{nav}</nav>')
    footer = ("predictions from a cost model and a chip profile, not\nmeasurements. Figures "
              'marked <span class="est">*</span> rest on profile numbers the vendor\ndoes not '
              'publish (see <a href="#estimates">Estimated figures</a>).')
    return page_shell(f"{r.model} on {r.chip}", header, body, footer, _JS)


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
        ("latency", f"{t.latency_ms:.3f}{star}", "ms per frame on the scheduled timeline"),
        ("throughput", f"{t.throughput_fps:,.1f}{star}",
         f"FPS with frames in flight; busy: {busy}"),
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
