"""The HTML report: self-contained, every section present, one table row per group, images
that decode, byte-identical across runs, roofline numbers by hand; the page in Chromium."""

from __future__ import annotations

import argparse
import base64
import importlib.util
import io
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from npusim.errors import NpusimError
from npusim.hw import load_chip
from npusim.report import html as report_html
from npusim.report.roofline import roofline_points, roofs
from tests.conftest import DATA

ROOT = Path(__file__).resolve().parents[2]
CNN = DATA / "small_cnn_dynamo.onnx"      # 1x3x64x64, 8 nodes; 7 groups on the DLA
CHROMIUM = Path("/usr/bin/chromium")


def _inputs() -> dict[str, np.ndarray]:
    return {"image": np.random.default_rng(0).normal(size=(1, 3, 64, 64)).astype(np.float32)}


@pytest.fixture(scope="module")
def dla():
    data = report_html.collect(str(CNN), "orin-agx-dla")
    return data, report_html.render_html(data)


@pytest.fixture(scope="module")
def with_numerics():
    data = report_html.collect(str(CNN), "j5", inputs=_inputs(), target_sqnr_db=40.0)
    return data, report_html.render_html(data)


class _Page(HTMLParser):
    """Tags with their attributes, and the rows of each table by id."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.rows: dict[str, list[list[str]]] = {}
        self._table: list[str | None] = []
        self._section: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "table":
            self._table.append(a.get("id"))
        elif tag in ("thead", "tbody"):
            self._section = tag
        elif tag == "tr" and self._section == "tbody" and self._table[-1]:
            self.rows.setdefault(self._table[-1], []).append([])
        elif tag == "td" and self._section == "tbody" and self._table[-1]:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._table.pop()
        elif tag == "td" and self._cell is not None:
            self.rows[self._table[-1]][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def test_page_is_self_contained(dla, with_numerics):
    for _, text in (dla, with_numerics):
        page = _parse(text)
        for tag, attrs in page.tags:
            for key in ("src", "href"):
                value = attrs.get(key)
                if value is not None:
                    assert value.startswith(("data:", "#")), (tag, key, value[:80])
            assert tag not in ("link", "iframe", "object", "embed")
            if tag == "script":
                assert "src" not in attrs
        assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", text)
        assert "@import" not in text and "url(" not in text


def test_page_has_every_section(dla, with_numerics):
    for sid in ("summary", "breakdown", "layers", "roofline", "strategies", "memory",
                "estimates"):
        assert f'id="{sid}"' in dla[1] and f'href="#{sid}"' in dla[1]
    assert 'id="numerics"' not in dla[1]          # no inputs, no numerics table
    text = with_numerics[1]
    assert 'id="numerics"' in text and 'id="numerics-table"' in text
    for title in ("Latency by op type", "Latency by fused group", "Roofline",
                  "Fusion strategies", "Memory over time", "SQNR per layer"):
        assert f"<h3>{title}</h3>" in text


def test_layer_table_has_one_row_per_group(dla, with_numerics):
    for data, text in (dla, with_numerics):
        rows = _parse(text).rows["layer-table"]
        assert len(rows) == len(data.report.layers)
        assert [r[0] for r in rows] == [str(i) for i in range(1, len(rows) + 1)]
        for row, layer in zip(rows, data.report.layers):
            assert row[3] == layer.unit
            assert float(row[4].rstrip("*")) == pytest.approx(layer.latency_ms, abs=5e-5)
    # 7 fused groups, and the per-inference runtime the Orin profile describes
    assert len(_parse(dla[1]).rows["layer-table"]) == 8
    strategies = _parse(dla[1]).rows["strategy-table"]
    assert [r[0].split()[0] for r in strategies] == ["none", "rules", "greedy", "dp"]
    data, text = with_numerics
    assert len(_parse(text).rows["numerics-table"]) == len(data.numerics.layers)


def test_embedded_images_decode(dla, with_numerics):
    for _, text in (dla, with_numerics):
        uris = re.findall(r'src="data:(image/[a-z+]+);base64,([A-Za-z0-9+/=]+)"', text)
        # op types, fused groups, roofline, memory (+ SQNR with numerics)
        assert len(uris) >= 4
        for mime, payload in uris:
            raw = base64.b64decode(payload, validate=True)
            if mime == "image/svg+xml":
                root = ET.fromstring(raw)
                assert root.tag == "{http://www.w3.org/2000/svg}svg"
                assert b"<dc:date>" not in raw     # no date: the same bytes every run
            else:
                assert mime == "image/png" and raw.startswith(b"\x89PNG\r\n\x1a\n")
    # + SQNR per layer and accuracy vs latency (the precision search) with numerics
    assert len(re.findall(r'src="data:image', with_numerics[1])) == 6


def test_same_inputs_give_the_same_bytes(with_numerics):
    again = report_html.collect(str(CNN), "j5", inputs=_inputs(), target_sqnr_db=40.0)
    assert report_html.render_html(again) == with_numerics[1]


def test_every_figure_says_what_it_rests_on(dla):
    data, text = dla
    figures = text.count('<figure class="panel')
    # each figure, the totals, the layer table and the strategy table carry a provenance line
    assert text.count('class="prov') == figures + 3
    used = sorted(data.report.estimated_figures)
    assert used, "orin-agx-dla rests on estimated figures"
    assert f"<code>{used[0]}</code>" in text
    assert "Rests on published profile figures only" not in text.split('id="numerics"')[0]


def test_a_chip_without_estimates_says_so(tmp_path):
    chip = tmp_path / "exact.yaml"
    chip.write_text(EXACT_CHIP)
    data = report_html.collect(str(CNN), str(chip), precision="fp32")
    text = report_html.render_html(data)
    assert not data.report.estimated_figures
    assert 'class="badge">estimated' not in text
    assert text.count("Rests on published profile figures only") == text.count('class="prov')


def test_roofline_points_and_roofs_by_hand(dla):
    data, _ = dla
    first = next(i for i, r in enumerate(data.report.layers) if r.kind != "runtime")
    row = data.report.layers[first]
    p = roofline_points(data.report.layers)[first]
    assert p.index == first + 1 and p.ops == 2 * row.macs + row.vector_ops
    assert p.intensity == pytest.approx(p.ops / (row.bytes_loaded + row.bytes_stored))
    assert p.ops_per_s == pytest.approx(p.ops / (row.latency_ms / 1e3))
    j5 = {r.label.split()[0]: r for r in roofs(load_chip("j5"), "int8", ["bpu"])}
    # J5 profile: 2 cores x 32768 MACs/cycle x 1 GHz x 2 ops; 68.3 GB/s x 0.8 achieved
    assert j5["bpu"].value == pytest.approx(2 * 32768 * 1e9 * 2)
    assert j5["ddr"].value == pytest.approx(68.3e9 * 0.8)
    assert "compute_units[bpu].clock_MHz" in j5["bpu"].rests_on
    assert "memory[ddr].bandwidth_GBps" in j5["ddr"].rests_on


def test_op_type_breakdown_sums_to_the_latency(dla):
    data, _ = dla
    parts = report_html.latency_by_op_type(data.report, data.timelines)
    assert sum(v for _, v in parts) == pytest.approx(data.report.totals.latency_ms)
    assert {k for k, _ in parts} <= {op for r in data.report.layers for op in r.op_types}


def _cli(argv: list[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    report_html.add_arguments(parser)
    out = io.StringIO()
    rc = report_html.main(parser.parse_args(argv), Console(file=out, width=200))
    return rc, out.getvalue()


def test_command_line_writes_the_page(tmp_path):
    npz = tmp_path / "x.npz"
    np.savez(npz, **_inputs())
    out = tmp_path / "report.html"
    rc, printed = _cli([str(CNN), "--chip", "j5", "--inputs", str(npz), "-o", str(out)])
    assert rc == 0 and "wrote" in printed and "numerics" in printed
    assert 'id="numerics-table"' in out.read_text()


def test_command_line_mistakes_are_npusim_errors(tmp_path):
    with pytest.raises(NpusimError, match="does not exist"):
        _cli([str(CNN), "--chip", "j5", "--inputs", str(tmp_path / "no.npz"), "-o",
              str(tmp_path / "r.html")])
    with pytest.raises(NpusimError, match="needs --inputs"):
        _cli([str(CNN), "--chip", "j5", "--target-sqnr", "30", "-o", str(tmp_path / "r.html")])
    with pytest.raises(NpusimError, match="cannot write"):
        _cli([str(CNN), "--chip", "j5", "-o", str(tmp_path / "missing" / "r.html")])


def _screenshot_script():
    spec = importlib.util.spec_from_file_location(
        "screenshot_report", ROOT / "scripts" / "screenshot_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium "
                    "(apt-get install -y chromium)")
def test_resnet50_report_renders_in_chromium(tmp_path):
    shot = _screenshot_script()
    page, png = tmp_path / "report.html", tmp_path / "report.png"
    data = report_html.write_report(page, "zoo:resnet50", "j5")
    assert shot.screenshot(page, png, str(CHROMIUM)) == []
    dom = shot.dom_after_scripts(page, str(CHROMIUM))
    assert shot.script_problems(dom) == []
    # the page's script sorted the layer table by latency, slowest first
    order = re.search(r'data-selftest="([^"]*)"', dom).group(1).split(",")
    latencies = [r.latency_ms for r in data.report.layers]
    assert [latencies[int(i) - 1] for i in order] == sorted(latencies, reverse=True)
    import matplotlib.image
    pixels = matplotlib.image.imread(png)
    assert pixels.shape[:2] == (2400, 1400)
    assert pixels[..., :3].std() > 0.05          # not a blank page: charts and tables drawn


EXACT_CHIP = """
name: exact
description: a chip whose every figure has a source
compute_units:
  - name: npu
    kind: npu
    count: {value: 1, source: test}
    clock_MHz: {value: 1000, source: test}
    macs_per_cycle: {fp32: {value: 1000, source: test}}
    vector_ops_per_cycle: {fp32: {value: 100, source: test}}
    op_overhead_us: {value: 1, source: test}
memory:
  - name: dram
    kind: dram
    scope: chip
    capacity_bytes: {value: 1073741824, source: test}
    bandwidth_GBps: {value: 10, source: test}
    alignment_bytes: {value: 64, source: test}
"""
