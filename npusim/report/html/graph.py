"""The graph view: the model as an inline SVG, fused groups of the plan outlined (as TensorRT's
engine explorer draws engines), each node filled by its precision and edged by its unit.

Layout is two-level layered: groups sit in ranks by their depth in the group graph, and inside
its outline each group lays its members out by depth along the edges between them. Above
MAX_NODES nodes each group is drawn as one box, so the picture stays a few hundred KB.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import networkx as nx

from npusim.report.html.pieces import _short
from npusim.result import LayerRow, Report

MAX_NODES = 1500
NODE_W, NODE_H = 112, 18         # one node's box
GAP_X, GAP_Y = 6, 6              # between nodes inside a group
PAD, LABEL_H = 3, 12             # inside a group outline; its title line (groups of 2+)
GROUP_GAP, RANK_GAP = 12, 12     # between outlines side by side, between ranks
LEGEND_H = 40

PRECISION_COLORS = {"int4": "#9ECAE1", "int8": "#4C72B0", "int16": "#64B5CD",
                    "fp8": "#CCB974", "fp16": "#DD8452", "bf16": "#8172B3",
                    "tf32": "#DA8BC3", "fp32": "#C44E52", "w4a16": "#937860",
                    "w8a16": "#8C613C"}
VIEW_COLOR = "#E4E7EB"           # views (reshape and the like): no kernel, no precision
UNIT_COLORS = ("#1F2933", "#2CA02C", "#D62728", "#9467BD", "#17BECF", "#BCBD22")
_LIGHT = {"int4", "int16", "fp8", "tf32"}


@dataclass(frozen=True, slots=True)
class _Box:
    """A drawn node (or a collapsed group) at (x, y), top-left."""

    key: str
    x: float
    y: float
    w: float
    h: float


def graph_view(report: Report) -> str:
    """The section's HTML: an explanation and the scrollable SVG."""
    if report.timeline is None:
        return '<p class="note">No scheduled plan to draw.</p>'
    plan = report.timeline.plan
    n = len(plan.graph.nodes)
    how = (f"{n} nodes in {len(plan.groups)} fused groups (outlined)" if n <= MAX_NODES else
           f"{n} nodes: too many to draw one by one, so each of the {len(plan.groups)} fused "
           "groups is one box, filled by its precision")
    return (f'<p class="note">The model as the {html.escape(plan.strategy)} plan runs it: '
            f"{how}. Fill: precision; edge: compute unit; hover a node for its name, op, unit, "
            "precision and its group's latency (* rests on estimated profile figures).</p>"
            '<div class="panel" style="overflow:auto;max-height:80vh">'
            f"{graph_svg(report)}</div>")


def graph_svg(report: Report) -> str:
    """The SVG (one `<g class="node">` per node, one `<rect class="group">` per plan group,
    or one `<g class="node group-node">` per group above MAX_NODES)."""
    plan = report.timeline.plan
    problem, graph = plan.problem, plan.graph
    nodes = graph.nodes
    group_of = {m: gi for gi, g in enumerate(plan.groups) for m in g.members}
    rows = {m: row for row in report.layers for m in row.members}
    units = [u.name for u in plan.chip.ordered_units]
    unit_color = {u: UNIT_COLORS[i % len(UNIT_COLORS)] for i, u in enumerate(units)}
    edges = [(graph.producer(t).name, n.name) for n in nodes for t in n.inputs
             if t and graph.producer(t) is not None]
    collapsed = len(nodes) > MAX_NODES
    shapes = [_group_shape(g.members, edges, collapsed) for g in plan.groups]
    sizes = [s for s, _ in shapes]
    inner = [o for _, o in shapes]
    origin = _place_groups(len(plan.groups), sizes, edges, group_of)
    parts: list[str] = []
    outlines: list[str] = []
    boxes: dict[str, _Box] = {}
    for gi, g in enumerate(plan.groups):
        gx, gy = origin[gi]
        gw, gh = sizes[gi]
        row = _row_of(g.members, rows)
        if collapsed:
            box = _Box(g.name, gx, gy, gw, gh)
            prec = g.precision.value
            fill = VIEW_COLOR if g.is_view else PRECISION_COLORS.get(prec, "#999")
            tip = _tip(_short(g.members), ", ".join(dict.fromkeys(g.op_types)), g.unit, prec,
                       g, row, len(g.members))
            parts.append(_node_svg(box, "node group-node", g.name, tip, fill,
                                   unit_color.get(g.unit, "#999"), g.is_view,
                                   f"{len(g.members)} nodes", prec))
            for m in g.members:
                boxes[m] = box
            continue
        label = "" if len(g.members) < 2 else _group_label(g, row, gx, gy)
        outlines.append(f'<rect class="group" data-group="{_a(g.name)}" x="{gx:g}" y="{gy:g}" '
                        f'width="{gw:g}" height="{gh:g}" rx="5"/>{label}')
        for m, (dx, dy) in inner[gi].items():
            i = problem.index[m]
            unit = problem.unit[i]
            view = unit is None
            prec = problem.precisions[m].value
            node = nodes[i]
            box = _Box(m, gx + dx, gy + dy, NODE_W, NODE_H)
            boxes[m] = box
            tip = _tip(m, node.op_type, "view" if view else unit.name, prec, g, row,
                       len(g.members))
            parts.append(_node_svg(box, "node", m, tip,
                                   VIEW_COLOR if view else PRECISION_COLORS.get(prec, "#999"),
                                   "#9AA5B1" if view else unit_color.get(unit.name, "#999"),
                                   view, node.op_type, prec))
    path = []
    for a, b in edges:
        s, d = boxes[a], boxes[b]
        if s is d:
            continue
        path.append(f"M{s.x + s.w / 2:g} {s.y + s.h:g}L{d.x + d.w / 2:g} {d.y:g}")
    width = max((x + w for (x, _), (w, _) in zip(origin, sizes)), default=0) + GROUP_GAP
    height = max((y + h for (_, y), (_, h) in zip(origin, sizes)), default=LEGEND_H) + RANK_GAP
    legend = _legend(sorted({problem.precisions[n.name].value for i, n in enumerate(nodes)
                             if problem.unit[i] is not None}), unit_color,
                     any(u is None for u in problem.unit))
    width = max(width, legend[1])
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="graphview" width="{width:g}" '
            f'height="{height:g}" viewBox="0 0 {width:g} {height:g}" font-family="sans-serif" '
            'font-size="10"><style>.group{fill:#F7F9FC;stroke:#2F6FB3;stroke-dasharray:4 2}'
            ".edges{fill:none;stroke:#9AA5B1;stroke-width:1}"
            ".glabel{fill:#2F6FB3;font-size:9px}</style>"
            f'{legend[0]}{"".join(outlines)}<path class="edges" d="{"".join(path)}"/>'
            f'{"".join(parts)}</svg>')


def _group_shape(members: Sequence[str], edges, collapsed: bool
                 ) -> tuple[tuple[float, float], dict[str, tuple[float, float]]]:
    """(width, height) of a group's outline and each member's offset inside it."""
    if collapsed:
        return (NODE_W, NODE_H), {}
    inside = set(members)
    depth: dict[str, int] = {m: 0 for m in members}
    preds: dict[str, list[str]] = {m: [] for m in members}
    for a, b in edges:
        if a in inside and b in inside:
            preds[b].append(a)
    for m in members:                       # members are in topological order
        depth[m] = max((depth[p] + 1 for p in preds[m]), default=0)
    levels: dict[int, list[str]] = {}
    for m in members:
        levels.setdefault(depth[m], []).append(m)
    top = PAD + (LABEL_H if len(members) > 1 else 0)
    offsets = {m: (PAD + k * (NODE_W + GAP_X), top + d * (NODE_H + GAP_Y))
               for d, ms in levels.items() for k, m in enumerate(ms)}
    widest = max(len(ms) for ms in levels.values())
    w = 2 * PAD + widest * NODE_W + (widest - 1) * GAP_X
    h = top + PAD + len(levels) * NODE_H + (len(levels) - 1) * GAP_Y
    return (w, h), offsets


def _place_groups(n: int, sizes, edges, group_of: Mapping[str, int]
                  ) -> list[tuple[float, float]]:
    """Top-left corner of each group: ranks by depth in the group graph (networkx), each rank
    ordered by the mean position of its groups' predecessors, centred on the widest rank."""
    dag = nx.DiGraph()
    dag.add_nodes_from(range(n))
    dag.add_edges_from((group_of[a], group_of[b]) for a, b in edges
                       if group_of[a] != group_of[b])
    if nx.is_directed_acyclic_graph(dag):
        depth: dict[int, int] = {}
        for g in nx.topological_sort(dag):
            depth[g] = max((depth[p] + 1 for p in dag.predecessors(g)), default=0)
    else:                                   # execution order, one group per rank
        depth = {g: g for g in range(n)}
    ranks: dict[int, list[int]] = {}
    for g in range(n):
        ranks.setdefault(depth[g], []).append(g)
    centre: dict[int, float] = {}
    xs: dict[int, float] = {}
    ys: dict[int, float] = {}
    y = LEGEND_H
    widths: dict[int, float] = {}
    for d in sorted(ranks):
        def bary(g):
            ps = [centre[p] for p in dag.predecessors(g) if p in centre]
            return (sum(ps) / len(ps) if ps else float("inf"), g)
        x = 0.0
        for g in sorted(ranks[d], key=bary):
            xs[g], ys[g] = x, y
            centre[g] = x + sizes[g][0] / 2
            x += sizes[g][0] + GROUP_GAP
        widths[d] = x - GROUP_GAP
        y += max(sizes[g][1] for g in ranks[d]) + RANK_GAP
    widest = max(widths.values(), default=0.0)
    return [(GROUP_GAP + xs[g] + (widest - widths[depth[g]]) / 2, ys[g]) for g in range(n)]


def _row_of(members: Sequence[str], rows: Mapping[str, LayerRow]) -> LayerRow | None:
    return next((rows[m] for m in members if m in rows), None)


def _tip(name: str, op: str, unit: str, precision: str, group, row: LayerRow | None,
         count: int) -> str:
    if row is not None:
        star = "*" if row.rests_on else ""
        latency = f"{row.latency_ms:.4f} ms{star} (scheduled)"
    else:
        latency = f"{group.latency_ms:.4f} ms{'*' if group.rests_on else ''} (alone)"
    return (f"{name}\nop: {op}\nunit: {unit}\nprecision: {precision}\n"
            f"group: {_short(group.members)} ({count} node{'s' if count != 1 else ''})\n"
            f"group latency: {latency}")


def _node_svg(box: _Box, cls: str, key: str, tip: str, fill: str, stroke: str, view: bool,
              text: str, precision: str) -> str:
    dash = ' stroke-dasharray="3 2"' if view else ""
    ink = "#1F2933" if view or precision in _LIGHT else "#FFFFFF"
    label = text if len(text) <= 18 else text[:17] + "…"
    return (f'<g class="{cls}" data-node="{_a(key)}" data-precision="{_a(precision)}">'
            f"<title>{html.escape(tip, quote=False)}</title>"
            f'<rect x="{box.x:g}" y="{box.y:g}" width="{box.w:g}" height="{box.h:g}" rx="3" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="2"{dash}/>'
            f'<text x="{box.x + box.w / 2:g}" y="{box.y + box.h - 5:g}" text-anchor="middle" '
            f'fill="{ink}">{html.escape(label, quote=False)}</text></g>')


def _group_label(group, row: LayerRow | None, x: float, y: float) -> str:
    ms = row.latency_ms if row is not None else group.latency_ms
    star = "*" if (row.rests_on if row is not None else group.rests_on) else ""
    return (f'<text class="glabel" x="{x + PAD:g}" y="{y + PAD + 8:g}">'
            f"{len(group.members)} nodes, {ms:.3f} ms{star}</text>")


def _legend(precisions: Sequence[str], unit_color: Mapping[str, str], views: bool
            ) -> tuple[str, float]:
    items = [(p, PRECISION_COLORS.get(p, "#999"), "#FFFFFF") for p in precisions]
    if views:
        items.append(("view", VIEW_COLOR, "#9AA5B1"))
    x, out = GROUP_GAP, ['<g class="legend">']
    out.append(f'<text x="{x}" y="14">fill = precision:</text>')
    x += 90
    for label, fill, stroke in items:
        out.append(f'<rect class="swatch" data-precision="{_a(label)}" x="{x}" y="4" '
                   f'width="14" height="12" fill="{fill}" stroke="{stroke}"/>'
                   f'<text x="{x + 18}" y="14">{html.escape(label)}</text>')
        x += 24 + 7 * len(label)
    x2 = GROUP_GAP
    out.append(f'<text x="{x2}" y="32">edge = unit:</text>')
    x2 += 90
    for unit, colour in unit_color.items():
        out.append(f'<rect x="{x2}" y="22" width="14" height="12" fill="#FFFFFF" '
                   f'stroke="{colour}" stroke-width="2"/>'
                   f'<text x="{x2 + 18}" y="32">{html.escape(unit)}</text>')
        x2 += 24 + 7 * len(unit)
    out.append("</g>")
    return "".join(out), max(x, x2) + GROUP_GAP


def _a(text: str) -> str:
    return html.escape(text, quote=True)
