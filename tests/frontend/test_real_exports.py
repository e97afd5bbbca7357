"""What PyTorch's two exporters really emit goes through: the same module exported by the
TorchScript path and by the dynamo path gives the same graph arithmetic once folded."""

from __future__ import annotations

import pytest

import npusim
from npusim.hw import bundled_profiles
from tests.conftest import DATA

SHAPE_OPS = {"Shape", "ConstantOfShape", "Range", "Size"}
CASES = {"torch_det": "x:1x3x64x64", "torch_enc": "ids:1x16"}


@pytest.mark.parametrize("name", CASES)
def test_both_exporters_agree_on_the_work(name):
    ts = npusim.load(DATA / f"{name}_ts.onnx", CASES[name])
    dynamo_shapes = CASES[name] if name == "torch_enc" else None  # det dynamo is static
    dyn = npusim.load(DATA / f"{name}_dynamo.onnx", dynamo_shapes)
    for g in (ts, dyn):
        assert not SHAPE_OPS & {n.op_type for n in g.nodes}
    a = npusim.simulate(ts, "orin-agx-gpu", fusion="none")
    b = npusim.simulate(dyn, "orin-agx-gpu", fusion="none")
    assert a.totals.macs == b.totals.macs > 0


@pytest.mark.parametrize("path", sorted(DATA.glob("torch_*.onnx")), ids=lambda p: p.stem)
def test_real_exports_simulate_on_every_chip(path):
    name = path.stem.rsplit("_", 1)[0]
    shapes = CASES[name] if "_ts" in path.stem or name == "torch_enc" else None
    graph = npusim.load(path, shapes)
    for chip in bundled_profiles():
        r = npusim.simulate(graph, chip)
        assert r.totals.latency_ms > 0
