"""How long `simulate` takes on real networks: ResNet-50 and a BERT-base encoder.

The graph is built once (zoo, placeholder weights); the timed call is the whole
`npusim.simulate` path: ONNX checks, opset conversion, shape inference, folding, cost, report.
"""

from __future__ import annotations

import onnx
import pytest

import npusim
from npusim import zoo


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    paths = {}
    for name in ("resnet50", "bert"):
        paths[name] = root / f"{name}.onnx"
        onnx.save(zoo.build(name, weights="light"), paths[name])
    return paths


@pytest.mark.parametrize("name", ["resnet50", "bert"])
@pytest.mark.parametrize("chip", ["j5", "orin-agx-gpu"])
def test_simulate_speed(benchmark, models, name, chip):
    report = benchmark(npusim.simulate, models[name], chip)
    assert report.totals.latency_ms > 0
    benchmark.extra_info["predicted_latency_ms"] = round(report.totals.latency_ms, 4)
