"""The prepared problem: facts computed once, per node at its own precision, and read the same
way by the planner and the scheduler (a toy chip small enough to check on paper)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from npusim import api
from npusim.errors import NpusimError
from npusim.frontend import load_graph
from npusim.hw import load_chip
from npusim.ir import Precision
from tests.conftest import make_model, vi

TOY = """
name: toy
description: hand-checkable NPU with int8 and int16
compute_units:
  - name: npu
    kind: npu
    count: {value: 1, source: t}
    clock_MHz: {value: 1000, source: t}
    macs_per_cycle: {int8: {value: 64, source: t}, int16: {value: 16, source: t}}
    vector_ops_per_cycle: {int8: {value: 16, source: t}, int16: {value: 8, source: t}}
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
"""


@pytest.fixture()
def toy(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text(TOY)
    return load_chip(path)


@pytest.fixture()
def conv_relu():
    w = numpy_helper.from_array(np.ones((8, 8, 3, 3), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1] * 4),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    return load_graph(make_model(nodes, [vi("x", [1, 8, 16, 16])], [vi("y", [1, 8, 16, 16])],
                                 [w]))


def test_a_node_at_int16_is_priced_at_int16(toy, conv_relu):
    problem = api.prepare(conv_relu, toy, precisions={"conv": "int16"})
    assert problem.precision is Precision.INT8 and not problem.uniform
    conv = problem.index["conv"]
    assert problem.precision_of(conv) is Precision.INT16
    # 147456 MACs at 16 MACs/cycle and 1 GHz = 9.216 us (int8 would be 2.304 us)
    assert problem.compute[conv].mac_s == pytest.approx(147456 / 16e9)
    # its output is stored at 2 bytes per element: 8 x 16 x 16 x 2
    assert problem.stored_bytes("c") == 4096
    assert problem.stored_bytes("y") == 2048  # relu stays int8


def test_groups_do_not_cross_a_precision_boundary(toy, conv_relu):
    uniform = api.plan(api.prepare(conv_relu, toy))
    assert [g.name for g in uniform.groups] == ["conv+relu"]
    mixed = api.plan(api.prepare(conv_relu, toy, precisions={"conv": "int16"}))
    assert [(g.name, g.precision) for g in mixed.groups] == [
        ("conv", Precision.INT16), ("relu", Precision.INT8)]
    # conv alone at int16: x 2048 x 2 B + w 576 x 2 B + c 2048 x 2 B = 9344 B at 1 GB/s
    # = 9.344 us > 9.216 us compute; + 1 us dispatch
    assert mixed.groups[0].latency_ms == pytest.approx((9.344 + 1) / 1e3)


def test_precision_for_an_unknown_node_is_a_user_error(toy, conv_relu):
    with pytest.raises(NpusimError, match="'nope', which is no node"):
        api.prepare(conv_relu, toy, precisions={"nope": "int16"})
    with pytest.raises(NpusimError, match="unknown precision 'int7'"):
        api.prepare(conv_relu, toy, precisions={"conv": "int7"})


def test_qdq_views_are_one_rule_for_cost_and_schedule(tmp_path):
    """Quantize/DequantizeLinear at int8 are views: no group prices them and the timeline
    moves no tensor a DequantizeLinear produces."""
    import onnx

    from npusim import zoo
    from tests.conftest import quantize_qdq
    src, dst = tmp_path / "f.onnx", tmp_path / "q.onnx"
    onnx.save(zoo.build("resnet18", size=64), src)
    quantize_qdq(src, dst)
    timeline = api.schedule(api.plan(dst, "j5"))
    graph = timeline.plan.graph
    dq_outputs = {o for n in graph.nodes if n.op_type in ("QuantizeLinear", "DequantizeLinear")
                  for o in n.outputs}
    assert all(g.is_view for g in timeline.plan.groups
               if set(g.op_types) <= {"QuantizeLinear", "DequantizeLinear"})
    assert not dq_outputs & {t.tensor for t in timeline.ddr_traffic}
    assert not timeline.spilled
