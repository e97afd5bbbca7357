"""Per-layer precision in the cost model, checked on paper: J5's int16 rate, the reformat
kernel where two precisions meet on one unit, a float layer on J5 falling back to the CPU,
and tensor sizes at their precision in the schedule's memory map."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from npusim import api
from npusim.cli import main
from npusim.frontend import load_graph
from npusim.hw import load_chip
from tests.conftest import make_model, vi


def _conv(c=64, hw=56, relu=False):
    w = numpy_helper.from_array(np.ones((c, c, 3, 3), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c" if relu else "y"], name="conv",
                              pads=[1] * 4)]
    if relu:
        nodes.append(helper.make_node("Relu", ["c"], ["y"], name="relu"))
    return load_graph(make_model(nodes, [vi("x", [1, c, hw, hw])], [vi("y", [1, c, hw, hw])],
                                 [w]))


def test_j5_int16_runs_at_a_quarter_of_the_int8_rate():
    # MACs = 56 x 56 x 64 out x 64 in x 9 = 115,605,504. The j5 profile: 2 BPU cores at
    # 1000 MHz; int8 32768 MACs/cycle -> 115605504 / (2 x 32768 x 1e9) = 1.764 us;
    # int16 8192 MACs/cycle -> 115605504 / (2 x 8192 x 1e9) = 7.056 us.
    g = _conv()
    int8 = api.simulate(api.prepare(g, "j5"), fusion="none").layers[0]
    int16 = api.simulate(api.prepare(g, "j5", precisions={"conv": "int16"}),
                         fusion="none").layers[0]
    assert (int8.unit, int8.precision, int16.unit, int16.precision) == (
        "bpu", "int8", "bpu", "int16")
    assert int8.compute_ms == pytest.approx(1.764e-3, rel=1e-9)
    assert int16.compute_ms == pytest.approx(7.056e-3, rel=1e-9)
    # the output at its precision: 56 x 56 x 64 x 1 B = 200,704 B; x 2 B = 401,408 B
    assert (int8.bytes_stored, int16.bytes_stored) == (200_704, 401_408)


def test_memory_map_holds_tensors_at_their_precision():
    g = _conv(relu=True)
    mm = api.memory_layout(g, "j5", precisions={"conv": "int16"}, fusion="none")
    sizes = {p.tensor: p.size_bytes for p in mm.placements if p.level == "ddr"}
    # c (conv's output, int16): 56 x 56 x 64 x 2 B; y (relu's, int8): x 1 B. NHWC rows of
    # 128 B and 64 B are both allowed residues of the BPU padding rule: no padding.
    assert sizes["c"] == 401_408 and sizes["y"] == 200_704


TOY = """
name: toy-gpu
description: hand-checkable unit whose builder reformats where int8 meets fp16
compute_units:
  - name: gpu
    kind: npu
    count: {value: 1, source: t}
    clock_MHz: {value: 1000, source: t}
    macs_per_cycle: {int8: {value: 64, source: t}, fp16: {value: 32, source: t}}
    vector_ops_per_cycle: {int8: {value: 16, source: t}, fp16: {value: 8, source: t}}
    op_overhead_us: {value: 1, source: t}
    build: {reformat: true}
memory:
  - {name: dram, kind: dram, scope: chip, capacity_bytes: {value: 1.0e9, source: t},
     bandwidth_GBps: {value: 1, source: t}, alignment_bytes: {value: 64, source: t}}
"""


def test_reformat_at_a_precision_boundary(tmp_path):
    # conv (int8) -> relu (fp16) on one unit: c has 8 x 16 x 16 = 2048 elements. The builder
    # inserts a reformat kernel before relu that reads c in int8 (2048 B) and writes it in
    # fp16 (4096 B): 1 us dispatch + 6144 B / 1 GB/s = 7.144 us of transition. relu itself
    # loads c at fp16 (4096 B) and stores y at fp16 (4096 B): 8.192 us of DRAM against
    # 2048 fp16 ops at 8/cycle = 0.256 us; + 1 us dispatch: 8.192 + 1 + 7.144 = 16.336 us.
    # Its DDR bytes loaded count the reformat's traffic too: 4096 + 6144.
    path = tmp_path / "toy.yaml"
    path.write_text(TOY)
    chip = load_chip(path)
    g = _conv(c=8, hw=16, relu=True)
    plan = api.plan(api.prepare(g, chip, precisions={"relu": "fp16"}), strategy="none")
    relu = next(grp for grp in plan.groups if grp.name == "relu")
    assert relu.transition_ms == pytest.approx(7.144e-3)
    assert relu.bytes_loaded == 4096 + 6144 and relu.bytes_stored == 4096
    assert relu.memory_ms == pytest.approx(8.192e-3)
    assert relu.latency_ms == pytest.approx((8.192 + 1 + 7.144) * 1e-3)
    uniform = api.plan(api.prepare(g, chip, precision="fp16"), strategy="none")
    assert next(grp for grp in uniform.groups if grp.name == "relu").transition_ms == 0.0


def test_float_layer_on_j5_falls_back_to_the_cpu(capsys):
    # the j5 BPU has no float MACs: an fp16 layer runs on the A55 CPU unit, shown in the table
    rc = main(["simulate", "zoo:resnet18", "--chip", "j5", "--keep", "fp16:/fc/Gemm"])
    out = capsys.readouterr().out
    assert rc == 0
    row = next(line for line in out.splitlines() if "/fc/Gemm" in line)
    assert " cpu " in row and "fp16" in row
    assert "1 layer(s) not int8: fp16 on cpu 1" in out
    r = api.simulate("zoo:resnet18", "j5", precisions={"/fc/Gemm": "fp16"})
    fc = next(x for x in r.layers if "/fc/Gemm" in x.members)
    assert (fc.unit, fc.precision, fc.fallback) == ("cpu", "fp16", True)


def test_plan_and_memory_commands_take_the_map(tmp_path, capsys):
    import json

    import onnx

    from npusim.precision.map import dump_precision_map
    w = numpy_helper.from_array(np.ones((64, 64, 3, 3), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1] * 4),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    onnx.save(make_model(nodes, [vi("x", [1, 64, 56, 56])], [vi("y", [1, 64, 56, 56])], [w]),
              tmp_path / "m.onnx")
    (tmp_path / "map.yaml").write_text(dump_precision_map({"conv": "int16"}))
    base = [str(tmp_path / "m.onnx"), "--chip", "j5", "--fusion", "none",
            "--precision-map", str(tmp_path / "map.yaml")]
    assert main(["plan", *base, "--json", str(tmp_path / "p.json")]) == 0
    plan = json.loads((tmp_path / "p.json").read_text())
    groups = plan["groups"] if "groups" in plan else plan[0]["groups"]
    conv = next(g for g in groups if g["name"] == "conv")
    assert conv["bytes_stored"] == 401_408  # c at int16: 56 x 56 x 64 x 2 B
    assert main(["memory", *base, "--json", str(tmp_path / "m.json")]) == 0
    mm = json.loads((tmp_path / "m.json").read_text())
    ddr = {p["tensor"]: p["size_bytes"] for p in mm["placements"] if p["level"] == "ddr"
           and p["kind"] == "activation"}
    assert ddr["c"] == 401_408
    capsys.readouterr()
