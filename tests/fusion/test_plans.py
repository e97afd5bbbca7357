"""Plans on real networks: DP never loses to a baseline, every group fits, names trace back."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

import npusim
from npusim import zoo
from npusim.cost import CostModel, prepare_problem
from npusim.frontend import load_graph
from npusim.fusion import STRATEGIES, plan
from npusim.verify import oversized_groups
from npusim.hw import bundled_profiles, load_chip
from npusim.ir import Precision
from tests.conftest import make_model, vi

CHIPS = sorted(bundled_profiles())


@pytest.fixture(scope="module")
def zoo_graphs():
    return {name: npusim.load(f"zoo:{name}", zoo_weights="light") for name in zoo.names()}


@pytest.mark.parametrize("chip_name", CHIPS)
def test_dp_is_never_worse_and_every_group_fits(zoo_graphs, chip_name):
    chip = load_chip(chip_name)
    for name, graph in zoo_graphs.items():
        model = CostModel(prepare_problem(graph, chip, Precision.INT8))
        plans = {s: plan(model.problem, s, cost_model=model) for s in STRATEGIES}
        dp = plans["dp"].serial_latency_ms  # what the planners minimize
        for s, p in plans.items():
            assert dp <= p.serial_latency_ms * (1 + 1e-9), (name, s)
            assert oversized_groups(p) == [], (name, s)
            members = [m for g in p.groups for m in g.members]
            assert sorted(members) == sorted(n.name for n in graph.nodes), (name, s)


def test_qdq_model_plans_are_feasible_and_dp_wins(tmp_path):
    import onnx
    from tests.conftest import quantize_qdq
    src, dst = tmp_path / "f.onnx", tmp_path / "q.onnx"
    onnx.save(zoo.build("resnet18", size=64), src)
    quantize_qdq(src, dst)
    graph = npusim.load(dst)
    for chip_name in ("j5", "orin-agx-dla"):
        chip = load_chip(chip_name)
        plans = {s: plan(prepare_problem(graph, chip, Precision.INT8), s) for s in STRATEGIES}
        for p in plans.values():
            assert oversized_groups(p) == []
            assert plans["dp"].serial_latency_ms <= p.serial_latency_ms * (1 + 1e-9)


def test_group_names_join_onnx_names():
    rng = np.random.default_rng(0)
    w = [numpy_helper.from_array(rng.normal(size=s).astype(np.float32), n)
         for n, s in [("wq", (8, 8)), ("wk", (8, 8)), ("wc", (4, 8, 3, 3))]]
    nodes = [helper.make_node("MatMul", ["x", "wq"], ["q"], name="q_proj"),
             helper.make_node("MatMul", ["x", "wk"], ["k"], name="k_proj"),
             helper.make_node("Conv", ["img", "wc"], ["c"], name="conv", pads=[1] * 4),
             helper.make_node("Relu", ["c"], ["r"], name="relu")]
    graph = load_graph(make_model(nodes, [vi("x", [1, 16, 8]), vi("img", [1, 8, 16, 16])],
                                  [vi("q", [1, 16, 8]), vi("k", [1, 16, 8]),
                                   vi("r", [1, 4, 16, 16])], w))
    model = CostModel(prepare_problem(graph, load_chip("j5"), Precision.INT8))
    i = model.problem.index
    assert model.group((i["conv"], i["relu"])).name == "conv+relu"
    assert model.group((i["q_proj"], i["k_proj"])).name == "q_proj||k_proj"
    # the shared input is loaded once for both siblings: that is what horizontal fusion saves
    both = model.group((i["q_proj"], i["k_proj"]))
    apart = model.op(i["q_proj"]).bytes_loaded + model.op(i["k_proj"]).bytes_loaded
    assert both.bytes_loaded == apart - 16 * 8


def test_conv_relu_fusion_by_hand(tmp_path):
    """conv 8->8 3x3 on 1x8x16x16 then relu, int8, on a 1 GMAC/s-ish toy chip, checked by hand."""
    path = tmp_path / "toy.yaml"
    path.write_text("""
name: toy
description: hand-checkable
compute_units:
  - name: npu
    kind: npu
    count: {value: 1, source: t}
    clock_MHz: {value: 1000, source: t}
    macs_per_cycle: {int8: {value: 64, source: t}}
    vector_ops_per_cycle: {int8: {value: 16, source: t}}
    op_overhead_us: {value: 1, source: t}
    fusion:
      sram: sram
      max_ops: {value: 4, source: t}
      max_mac_ops: {value: 2, source: t}
      kinds: [conv-like, elementwise]
      weight_block_channels: {value: 8, source: t}
memory:
  - {name: sram, kind: sram, scope: per_unit, unit: npu, capacity_bytes: {value: 65536, source: t},
     bandwidth_GBps: {value: 100, source: t}, alignment_bytes: {value: 32, source: t}}
  - {name: dram, kind: dram, scope: chip, capacity_bytes: {value: 1.0e9, source: t},
     bandwidth_GBps: {value: 1, source: t}, alignment_bytes: {value: 64, source: t}}
""")
    chip = load_chip(path)
    w = numpy_helper.from_array(np.ones((8, 8, 3, 3), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1] * 4),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    graph = load_graph(make_model(nodes, [vi("x", [1, 8, 16, 16])], [vi("y", [1, 8, 16, 16])],
                                  [w]))
    none = plan(prepare_problem(graph, chip, Precision.INT8), "none")
    dp = plan(prepare_problem(graph, chip, Precision.INT8), "dp")
    # conv: 2048 out x 72 = 147456 MACs / 64e9 = 2.304 us; DRAM x 2048 + w 576 + y 2048 =
    # 4672 B at 1 GB/s = 4.672 us; latency 4.672 + 1 = 5.672 us.
    # relu: 2048 ops / 16e9 = 0.128 us; DRAM 4096 B = 4.096 us; latency 5.096 us.
    assert none.serial_latency_ms == pytest.approx((5.672 + 5.096) / 1e3)
    # fused: DRAM x + w + y = 2048 + 576 + 2048 = 4672 B -> 4.672 us, compute
    # max(2.304, 0.128) us, one overhead: 5.672 us. Saves the 4096 B round trip of c.
    assert [g.name for g in dp.groups] == ["conv+relu"]
    assert dp.serial_latency_ms == pytest.approx(5.672 / 1e3)
    assert none.ddr_bytes - dp.ddr_bytes == 4096
    assert none.ddr_round_trips == 1 and dp.ddr_round_trips == 0


def test_gpu_fuses_one_conv_with_its_epilogue_only():
    graph = npusim.load("zoo:resnet18", zoo_weights="light")
    p = plan(prepare_problem(graph, load_chip("orin-agx-gpu"), Precision.INT8), "dp")
    for g in p.groups:
        assert sum(t in ("Conv", "Gemm", "MatMul") for t in g.op_types) <= 1


def test_j5_tail_conv_int32_does_not_fuse_its_activation():
    rng = np.random.default_rng(1)
    w = [numpy_helper.from_array(rng.normal(size=(8, 8, 1, 1)).astype(np.float32), n)
         for n in ("w1", "w2")]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], name="conv1"),
             helper.make_node("Relu", ["a"], ["b"], name="relu1"),
             helper.make_node("Conv", ["b", "w2"], ["c"], name="tail_conv"),
             helper.make_node("Relu", ["c"], ["y"], name="tail_relu")]
    graph = load_graph(make_model(nodes, [vi("x", [1, 8, 8, 8])], [vi("y", [1, 8, 8, 8])], w))
    groups = [g.members for g in plan(prepare_problem(graph, load_chip("j5"), Precision.INT8), "dp").groups]
    assert not any("tail_conv" in g and "tail_relu" in g for g in groups)
    # in fp precision there is no int32 tail output, but J5's BPU has no float: on the CPU
    # nothing fuses at all
    fp = plan(prepare_problem(graph, load_chip("j5"), Precision.FP16), "dp")
    assert all(len(g.members) == 1 for g in fp.groups)
