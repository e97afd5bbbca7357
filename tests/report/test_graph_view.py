"""The report's graph view: the SVG parses, one element per node, one outline per fused group
of the plan (each node inside its own), fills by precision, tooltips, and size bounds on a
500-node model."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import numpy as np
from onnx import helper, numpy_helper

from npusim import api
from npusim.report import html as report_html
from npusim.report.html import graph as graph_view
from tests.conftest import make_model, vi

SVG = "{http://www.w3.org/2000/svg}"
INT8, FP16 = "#4C72B0", "#DD8452"        # the legend's colours, written out by hand


def _small():
    rng = np.random.default_rng(0)
    w = [numpy_helper.from_array(rng.standard_normal((8, 8, 3, 3)).astype(np.float32), f"w{i}")
         for i in (1, 2)]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1] * 4),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", pads=[1] * 4),
             helper.make_node("Add", ["c2", "r1"], ["a"], name="add"),
             helper.make_node("Relu", ["a"], ["y"], name="relu2")]
    return make_model(nodes, [vi("x", [1, 8, 16, 16])], [vi("y", [1, 8, 16, 16])], w)


def _chain(blocks: int):
    """4 nodes per block: Relu -> (Sigmoid, Neg) -> Mul, so 2 nodes share each rank."""
    nodes, prev = [], "x"
    for b in range(blocks):
        out = "y" if b == blocks - 1 else f"m{b}"
        nodes += [helper.make_node("Relu", [prev], [f"r{b}"], name=f"relu{b}"),
                  helper.make_node("Sigmoid", [f"r{b}"], [f"s{b}"], name=f"sig{b}"),
                  helper.make_node("Neg", [f"r{b}"], [f"n{b}"], name=f"neg{b}"),
                  helper.make_node("Mul", [f"s{b}", f"n{b}"], [out], name=f"mul{b}")]
        prev = out
    return make_model(nodes, [vi("x", [1, 16, 8, 8])], [vi("y", [1, 16, 8, 8])])


def _report(model, chip, precision="int8", precisions=None, strategy=None):
    p = api.prepare(model, chip, None, precision, precisions=precisions)
    plan = api.plan(p, strategy=strategy) if strategy else api.plan(p)
    return api.report(api.schedule(plan))


def _nodes(root):
    return [g for g in root.iter(f"{SVG}g") if "node" in g.get("class", "").split()]


def test_svg_has_a_node_per_node_an_outline_per_group_and_precision_fills():
    r = _report(_small(), "orin-agx-gpu", "int8", {"conv2": "fp16", "conv1": "int8"})
    plan = r.timeline.plan
    root = ET.fromstring(graph_view.graph_svg(r))
    nodes = {g.get("data-node"): g for g in _nodes(root)}
    assert sorted(nodes) == sorted(n.name for n in plan.graph.nodes)
    outlines = {e.get("data-group"): e for e in root.iter(f"{SVG}rect")
                if e.get("class") == "group"}
    assert sorted(outlines) == sorted(g.name for g in plan.groups)
    fill = {k: g.find(f"{SVG}rect").get("fill") for k, g in nodes.items()}
    assert fill["conv2"] == FP16 and fill["conv1"] == INT8
    for g in plan.groups:                       # each node drawn inside its group's outline
        o = outlines[g.name]
        ox, oy, ow, oh = (float(o.get(k)) for k in ("x", "y", "width", "height"))
        for m in g.members:
            rect = nodes[m].find(f"{SVG}rect")
            x, y, w, h = (float(rect.get(k)) for k in ("x", "y", "width", "height"))
            assert ox <= x and x + w <= ox + ow and oy <= y and y + h <= oy + oh, m
    tip = nodes["conv2"].find(f"{SVG}title").text
    row = next(x for x in r.layers if "conv2" in x.members)
    assert "conv2\nop: Conv\n" in tip and "precision: fp16" in tip
    assert f"unit: {row.unit}" in tip and f"{row.latency_ms:.4f} ms" in tip
    legend = {e.get("data-precision") for e in root.iter(f"{SVG}rect")
              if e.get("class") == "swatch"}
    assert {"int8", "fp16"} <= legend


def test_report_page_mounts_the_graph_section():
    data = report_html.collect(_small(), "j5")
    page = report_html.render_html(data)
    assert '<section id="graph">' in page and 'href="#graph"' in page
    start = page.index('<svg xmlns="http://www.w3.org/2000/svg" class="graphview"')
    svg = ET.fromstring(page[start:page.index("</svg>", start) + 6])
    assert len(_nodes(svg)) == 5


def test_500_nodes_stay_small_and_collapse_above_the_bound(monkeypatch):
    r = _report(_chain(125), "j5", strategy="none")
    assert len(r.timeline.plan.graph.nodes) == 500
    t = time.perf_counter()
    text = graph_view.graph_svg(r)
    assert time.perf_counter() - t < 2.0
    root = ET.fromstring(text)
    assert len(_nodes(root)) == 500
    # 125 blocks of three ranks (Relu, Sigmoid||Neg, Mul): at most 40 px a rank
    assert float(root.get("height")) <= 40 * 3 * 125 + 100
    assert float(root.get("width")) <= 2 * 130 + 200
    assert len(text) < 700 * 500
    monkeypatch.setattr(graph_view, "MAX_NODES", 100)
    root = ET.fromstring(graph_view.graph_svg(r))
    groups = [g for g in _nodes(root) if "group-node" in g.get("class")]
    assert len(groups) == len(_nodes(root)) == len(r.timeline.plan.groups)
