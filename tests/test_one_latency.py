"""One plan, one timeline, one latency: every command prints the scheduled makespan, to the
last digit, for float and QDQ models on every bundled chip."""

from __future__ import annotations

import json
import re

import onnx
import pytest

import npusim
from npusim import api, zoo
from npusim.cli import main
from npusim.hw import bundled_profiles
from npusim.report.html import collect
from npusim.report.trace import trace_events
from tests.conftest import quantize_qdq

CHIPS = sorted(bundled_profiles())
SMALL = {"retinanet": {"size": 256}, "yolo": {"size": 256}, "unet": {"size": 128},
         "bert-large": {"layers": 2, "seq": 64}, "bert": {"seq": 64}}


@pytest.fixture(scope="module")
def qdq_resnet18(tmp_path_factory):
    d = tmp_path_factory.mktemp("qdq")
    src, dst = d / "f.onnx", d / "q.onnx"
    onnx.save(zoo.build("resnet18", size=64), src)
    quantize_qdq(src, dst)
    return dst


@pytest.fixture(scope="module")
def zoo_graphs():
    return {name: npusim.load(zoo.build(name, weights="light", **SMALL.get(name, {})))
            for name in zoo.names()}


@pytest.mark.parametrize("chip", CHIPS)
def test_every_entry_point_reports_the_makespan(zoo_graphs, qdq_resnet18, chip):
    models = {**zoo_graphs, "qdq-resnet18": npusim.load(qdq_resnet18)}
    for name, graph in models.items():
        problem = api.prepare(graph, chip)
        report = api.simulate(problem, fusion="greedy")
        timeline = report.timeline
        makespan = max(e.end_ms for e in timeline.events)
        assert report.totals.latency_ms == makespan, name
        assert api.memory_layout(problem, fusion="greedy").timeline.latency_ms == makespan
        assert api.schedule(api.plan(problem, strategy="greedy")).latency_ms == makespan
        assert trace_events(timeline)["otherData"]["latency_ms"] == round(makespan, 9)
        assert sum(r.latency_ms for r in report.layers) == pytest.approx(makespan), name


def _printed_latencies(text: str) -> set[str]:
    return set(re.findall(r"latency ([0-9.]+) ms", text))


@pytest.mark.parametrize("chip", ["j5", "orin-agx-dla", "orin-agx-gpu"])
def test_every_command_prints_one_latency(chip, qdq_resnet18, tmp_path, capsys):
    for model in ("zoo:resnet18", str(qdq_resnet18)):
        trace = tmp_path / "t.json"
        assert main(["simulate", model, "--chip", chip, "-q", "--trace", str(trace)]) == 0
        printed = _printed_latencies(capsys.readouterr().out)
        assert main(["plan", model, "--chip", chip]) == 0
        printed |= _printed_latencies(capsys.readouterr().out)
        assert main(["memory", model, "--chip", chip, "--limit", "1"]) == 0
        printed |= _printed_latencies(capsys.readouterr().out)
        assert len(printed) == 1, (model, printed)
        latency = float(printed.pop())
        traced = json.loads(trace.read_text())["otherData"]["latency_ms"]
        assert f"{traced:.3f}" == f"{latency:.3f}"
        data = collect(model, chip)
        assert f"{data.report.totals.latency_ms:.3f}" == f"{latency:.3f}"
        assert f"{data.memory_map.timeline.latency_ms:.3f}" == f"{latency:.3f}"
        chosen = next(tl for tl in data.timelines if tl.plan.strategy == "dp")
        assert chosen.latency_ms == data.report.totals.latency_ms
