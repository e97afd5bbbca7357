"""benchmarks/validation.py without torch: reading calibration rows, the per-family error
summary, and the light-weight stripping of exported ONNX files."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import npusim
from npusim.hw import load_chip
from tests.conftest import make_model, vi

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
validation = pytest.importorskip("validation")
validation_models = pytest.importorskip("validation_models")

CSV = """model,architecture,input,chip,precision,measured_ms,what_is_timed,source
a,A,1x3x224x224,orin-nano,fp16,2.0,trtexec,somewhere
b,B,1x3x640x640 (default; not stated),rdk-x5,int8,4.0,hrt_model_exec,somewhere
"""


def test_rows_are_read_with_size_precision_and_measurement(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(CSV)
    rows = validation.read_rows(path)
    assert [(r.model, r.chip, r.precision, r.size, r.measured_ms) for r in rows] == [
        ("a", "orin-nano", "fp16", 224, 2.0), ("b", "rdk-x5", "int8", 640, 4.0)]


def test_a_row_is_simulated_in_the_precision_its_source_built(tmp_path):
    # the model zoo compiles EfficientFormer-L1 for RDK X5 with every node in int16
    # (set_all_nodes_int16); calibration.csv lists the row as int8
    path = tmp_path / "c.csv"
    path.write_text(CSV + "efficientformer_l1,E,1x3x224x224,rdk-x5,int8,5.88,hrt,x\n")
    a, _, e = validation.read_rows(path)
    assert a.built_precision == "fp16"
    assert e.precision == "int8" and e.built_precision == "int16"
    assert "set_all_nodes_int16" in validation.BUILDS[("efficientformer_l1", "rdk-x5")].source
    assert "int8 (built int16)" in validation.calibration_table([validation.Result(e, 6.0)])[2]


def test_mlperf_retinanet_on_orin_is_the_engine_nvidia_built():
    # NVIDIA's v3.1 code ends the ONNX graph at the ten raw head convs, which feed the PVA NMS
    # plugin in int8, and its harness feeds int8 NCHW images: no permute/concat of 31.7 M
    # logits and no fp32 bindings
    row = validation.Row("retinanet", "orin-nx-gpu", "int8", 800, 28.626, "p90")
    assert row.outputs.split(",") == list(validation.RETINANET_HEADS)
    assert "RetinaNetNMSPVATRT" in row.build.source
    chip = row.chip_profile()
    assert chip.unit("gpu").build.io_precision.value == "int8"
    graph = npusim.load("zoo:retinanet", zoo_weights="light", outputs=row.outputs)
    assert sorted(graph.outputs) == sorted(validation.RETINANET_HEADS)
    assert "Transpose" not in {n.op_type for n in graph.nodes}
    deployed = npusim.simulate(graph, chip).totals.latency_ms
    as_exported = npusim.simulate("zoo:retinanet", "orin-nx-gpu").totals.latency_ms
    assert deployed < as_exported
    # a row without a build entry keeps the bundled profile and the whole graph
    plain = validation.Row("yolox_s_leaky", "orin-nano", "fp16", 640, 10.7, "trtexec")
    assert plain.outputs is None and plain.chip_profile() == load_chip("orin-nano")


def test_a_missing_measurements_file_says_where_it_was_looked_for(tmp_path):
    with pytest.raises(SystemExit, match="not found.*--measurements"):
        validation.read_rows(tmp_path / "none.csv")


def test_family_summary_takes_median_and_worst_of_absolute_errors(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(CSV + "c,C,1x3x224x224,orin-nano,int8,10.0,trtexec,x\n"
                    "d,D,1x3x224x224,orin-nano,int8,10.0,trtexec,x\n")
    a, b, c, d = validation.read_rows(path)
    results = [validation.Result(a, 1.0),      # -50%
               validation.Result(b, 5.0),      # +25%
               validation.Result(c, 11.0),     # +10%
               validation.Result(d, 8.0)]      # -20%
    lines = validation.family_summary(results)
    assert "| Horizon BPU | 1 | 25.0% | 25.0% |" in lines
    assert "| Jetson GPU | 3 | 20.0% | 50.0% |" in lines  # median of 50, 10, 20


def test_lighten_keeps_every_shape_and_op_and_drops_the_weights(tmp_path):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((16, 3, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(np.zeros(16, np.float32), "b")
    conv = helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv", pads=[1, 1, 1, 1])
    full = make_model([conv], [vi("x", [1, 3, 32, 32])], [vi("y", [1, 16, 32, 32])], [w, b])
    light = validation_models.lighten(onnx.ModelProto.FromString(full.SerializeToString()))
    onnx.checker.check_model(light)
    assert [n.op_type for n in light.graph.node] == ["ConstantOfShape", "ConstantOfShape",
                                                     "Conv"]
    assert {i.name for i in light.graph.initializer} == {"w__SHAPE", "b__SHAPE"}
    onnx.save(full, tmp_path / "full.onnx")
    onnx.save(light, tmp_path / "light.onnx")
    same = [npusim.simulate(str(tmp_path / f), "rdk-x5").totals for f in ("full.onnx",
                                                                          "light.onnx")]
    assert same[0].latency_ms == same[1].latency_ms
    assert same[0].macs == same[1].macs == 16 * 3 * 3 * 3 * 32 * 32
