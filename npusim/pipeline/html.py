"""The pipeline page of the HTML report: summary cards, the per-model table, a Gantt chart
of the runs on each unit and DRAM bandwidth over time; self-contained and deterministic,
in the style of `npusim report` (its CSS and SVG conventions).
"""

from __future__ import annotations

import html

from npusim.pipeline.run import PipelineRun
from npusim.report.html.pieces import page_shell, svg_data_uri


def _gantt(result: PipelineRun) -> str:
    from matplotlib.figure import Figure
    fig = Figure(figsize=(9, 0.6 + 0.45 * len(result.units)))
    ax = fig.add_subplot()
    names = [e.name for e in result.spec.models]
    colors = {n: f"C{i % 10}" for i, n in enumerate(names)}
    for row, unit in enumerate(result.units):
        for r in result.runs:
            if r.executed.unit == unit:
                ax.broken_barh([(r.executed.start_ms, r.executed.end_ms - r.executed.start_ms)],
                               (row - 0.4, 0.8), facecolors=colors[r.entry])
    ax.set_yticks(range(len(result.units)), list(result.units))
    ax.invert_yaxis()
    ax.set_xlabel("time (ms)")
    for n in names:
        ax.plot([], [], color=colors[n], linewidth=6, label=n)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    return svg_data_uri(fig)


def _dram(result: PipelineRun) -> str:
    from matplotlib.figure import Figure
    fig = Figure(figsize=(9, 2.4))
    ax = fig.add_subplot()
    xs, ys = [], []
    for a, b, g in result.dram:
        xs += [a, b]
        ys += [g, g]
    ax.plot(xs, ys, linewidth=0.8)
    cap = result.chip.dram.achieved_bandwidth_GBps
    ax.axhline(cap, color="k", linestyle="--", linewidth=0.8, label=f"achieved {cap:.1f} GB/s")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("DRAM GB/s")
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    return svg_data_uri(fig)


def render_pipeline_html(result: PipelineRun, doc: dict) -> str:
    """The page as one string; the same run gives the same bytes."""
    esc = html.escape
    star = '<span class="est">*</span>' if doc["estimated"] else ""
    cards = [("throughput", f"{doc['throughput_fps']:.1f}{star}", "frames/s, steady state"),
             ("end-to-end p50", f"{doc['end_to_end_ms_p50']:.3f}{star}", "ms per frame"),
             ("end-to-end p99", f"{doc['end_to_end_ms_p99']:.3f}{star}", "ms per frame"),
             ("bottleneck", esc(doc["bottleneck"]), "busiest unit, or dram"),
             ("DRAM", f"{doc['dram']['mean_GBps']:.1f}", f"GB/s mean, peak "
              f"{doc['dram']['peak_GBps']:.1f} of {doc['dram']['achieved_bandwidth_GBps']:.1f}")]
    card_html = "".join(f'<div class="card"><div class="k">{esc(k)}</div><div class="v">{v}'
                        f'</div><div class="s">{esc(s)}</div></div>' for k, v, s in cards)
    head = ("model", "units", "batch", "runs", "alone ms", "run ms p50", "latency p50 ms",
            "latency p99 ms", "contention ms", "queue ms", "items/s")
    rows = "".join(
        "<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in (
            name, ",".join(m["units"]), m["batch"], m["runs"],
            "/".join(f"{v:.3f}" for v in m["standalone_ms"].values()),
            f"{m['run_ms_p50']:.3f}", f"{m['latency_ms_p50']:.3f}",
            f"{m['latency_ms_p99']:.3f}", f"{m['contention_ms_mean']:.3f}",
            f"{m['wait_ms_mean']:.3f}", f"{m['items_per_s']:.1f}")) + "</tr>"
        for name, m in doc["models"].items())
    util = "".join(f"<tr><td>{esc(u)}</td><td>{100 * v:.1f}%</td></tr>"
                   for u, v in doc["unit_utilization"].items())
    table = (f'<table><thead><tr>{"".join(f"<th>{esc(h)}</th>" for h in head)}</tr></thead>'
             f"<tbody>{rows}</tbody></table>")
    title = f"pipeline on {doc['chip']}"
    header = (f'<div class="brand">npusim pipeline report</div>\n'
              f"<h1>{esc(result.spec.description or title)}</h1>\n"
              f'<div class="meta"><span><b>chip</b> {esc(result.chip.description)}</span>\n'
              f"<span><b>frames</b> {doc['frames']}</span></div>")
    main = f"""<section class="first"><div class="cards">{card_html}</div></section>
<section><h2>Models</h2>{table}</section>
<section><h2>Units</h2><table><thead><tr><th>unit</th><th>utilization</th></tr></thead>
<tbody>{util}</tbody></table>
<figure class="panel wide"><h3>Runs on each unit</h3><img alt="runs" src="{_gantt(result)}">
</figure></section>
<section><h2>Shared DRAM</h2><figure class="panel wide"><h3>DRAM bandwidth over time</h3>
<img alt="DRAM bandwidth" src="{_dram(result)}"><figcaption>max-min fair share of the
achieved bandwidth among the units' DMA demand (npusim.pipeline.contention)</figcaption>
</figure></section>"""
    footer = ("predictions from a cost model and chip profiles,\nnot measurements. "
              f"{star} rests on profile figures the vendor does not publish.")
    return page_shell(title, header, main, footer)
