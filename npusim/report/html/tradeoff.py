"""The accuracy-vs-latency panel of the HTML report (with --inputs): the points of
`npusim precision` (worst layers moved to int16 / fp16), the Pareto front and the chosen map."""

from __future__ import annotations

import html
import math

from npusim.report.html.pieces import _figure


def tradeoff_section(search) -> str:
    """The chart and the table of a `npusim.precision.search.Search`."""
    fig = _tradeoff_figure(search)
    estimated = any(p.estimated for p in search.points)
    prov = ('<div class="prov est">Latency rests on estimated profile figures (see Estimated '
            'figures); SQNR is bit-accurate.</div>' if estimated else
            '<div class="prov ok">Latency from sourced profile figures; SQNR is '
            "bit-accurate.</div>")
    text = (f"From all-int8, the worst layers (layerwise output SQNR) move one at a time to "
            f"{search.high}; each point is priced by the plan and measured by a bit-accurate "
            "run against the float model. Chosen: " + search.chosen_point.label
            + f" ({search.criterion}). npusim precision -o map.yaml writes it.")
    rows = []
    for i, p in enumerate(search.points):
        sqnr = "inf" if math.isinf(p.output_sqnr_db) else f"{p.output_sqnr_db:.2f}"
        last = "" if p.moved in ((), ("*",)) else p.moved[-1]
        rows.append(f"<tr><td>{html.escape(p.label)}</td><td>{html.escape(last)}</td>"
                    f'<td class="num">{p.latency_ms:.4f}{"*" if p.estimated else ""}</td>'
                    f'<td class="num">{sqnr}</td><td>{"yes" if p.pareto else ""}</td>'
                    f'<td>{"chosen" if i == search.chosen else ""}</td></tr>')
    head = "".join(f"<th>{c}</th>" for c in ("point", "last moved", "latency ms",
                                             "output SQNR dB", "Pareto", ""))
    return (_figure(fig, "Accuracy vs latency", text, prov, wide=False)
            + '<div class="tablewrap"><table id="tradeoff-table"><thead><tr>'
            f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def _tradeoff_figure(search):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6.4, 3.6))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    pts = [p for p in search.points if math.isfinite(p.output_sqnr_db)]
    ax.scatter([p.latency_ms for p in pts], [p.output_sqnr_db for p in pts], s=16,
               color="0.6", label="moved layers")
    front = sorted((p for p in pts if p.pareto), key=lambda p: p.latency_ms)
    ax.plot([p.latency_ms for p in front], [p.output_sqnr_db for p in front], "o-",
            color="#4C72B0", markersize=4, label="Pareto front")
    c = search.chosen_point
    if math.isfinite(c.output_sqnr_db):
        ax.scatter([c.latency_ms], [c.output_sqnr_db], s=120, facecolors="none",
                   edgecolors="#C44E52", label="chosen")
    ax.set_xlabel("latency ms" + (" (estimated figures)" if any(p.estimated for p in pts)
                                  else ""))
    ax.set_ylabel("output SQNR dB")
    ax.grid(True, linewidth=0.4, alpha=0.5)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
