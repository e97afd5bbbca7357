"""A QDQ model priced as it is: nodes the quantizer left outside Q/DQ (float islands) run in
float on the unit that can run them (fp16 on the Orin GPU; on J5, whose BPU has no float,
on the CPU), so a model quantized with layers excluded costs more than the full one."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from npusim import api, zoo
from npusim.cli import main

EXCLUDED = ["/layer4/layer4.1/conv2/Conv", "/fc/Gemm"]


@pytest.fixture(scope="module")
def qdq_models(tmp_path_factory):
    quant = pytest.importorskip("onnxruntime.quantization")
    d = tmp_path_factory.mktemp("qdq")
    onnx.save(zoo.build("resnet18", size=32), d / "f.onnx")

    class Reader(quant.CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.it = iter([{"input": rng.normal(size=(1, 3, 32, 32)).astype(np.float32)}])

        def get_next(self):
            return next(self.it, None)
    paths = {}
    for name, exclude in (("full", []), ("partial", EXCLUDED)):
        paths[name] = d / f"{name}.onnx"
        quant.quantize_static(str(d / "f.onnx"), str(paths[name]), Reader(),
                              quant_format=quant.QuantFormat.QDQ, per_channel=True,
                              activation_type=quant.QuantType.QUInt8,
                              weight_type=quant.QuantType.QInt8, nodes_to_exclude=exclude)
    return paths


@pytest.mark.parametrize("chip,unit", [("orin-agx-gpu", "gpu"), ("j5", "cpu")])
def test_excluded_layers_run_in_float_and_cost_more(qdq_models, chip, unit):
    full = api.prepare(qdq_models["full"], chip)
    partial = api.prepare(qdq_models["partial"], chip)
    assert full.float_islands == ()
    assert set(partial.float_islands) == set(EXCLUDED)
    rf, rp = api.simulate(full, fusion="greedy"), api.simulate(partial, fusion="greedy")
    assert rp.totals.latency_ms > rf.totals.latency_ms
    for name in EXCLUDED:
        row = next(r for r in rp.layers if name in r.members)
        assert (row.unit, row.precision) == (unit, "fp16")
    # every other compute layer still runs int8 on the first unit
    assert {(r.unit, r.precision) for r in rp.layers if r.bound_by not in ("view", "runtime")
            and not set(r.members) & set(EXCLUDED)} == {(full.chip.ordered_units[0].name,
                                                          "int8")}


def test_table_names_the_float_layers(qdq_models, capsys):
    args = ["simulate", str(qdq_models["partial"]), "--chip", "j5", "--fusion", "greedy"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2 layer(s) not int8: fp16 on cpu 2" in out
    assert "2 node(s) of this QDQ model sit outside Q/DQ and run in float" in out
    for name in EXCLUDED:
        assert name in out.split("sit outside Q/DQ")[1]
