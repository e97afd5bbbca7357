"""DMA bursts and setup latency, and the DLA -> GPU hand-off cost, on toy chips."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from npusim.cost import graph_costs
from npusim.frontend import load_graph
from npusim.hw import load_chip
from npusim.ir import Precision
from tests.conftest import make_model, vi

# DRAM 10 GB/s at efficiency 1; `acc` has a DMA of 64-byte bursts and 1 us setup, a 10 us
# hand-off and CHW32 tensors; `gpu` has a 5 us hand-off and NCHW tensors.
TOY = """
name: toy-hetero
description: accelerator with GPU fallback
unit_order: [acc, gpu]
compute_units:
  - name: acc
    kind: dla
    count: {value: 1, source: test}
    clock_MHz: {value: 1000, source: test}
    macs_per_cycle: {int8: {value: 1000, source: test}}
    vector_ops_per_cycle: {int8: {value: 100, source: test}}
    op_overhead_us: {value: 1, source: test}
    supported_ops: [Conv, Relu]
    dma:
      burst_bytes: {value: 64, source: test}
      setup_us: {value: 1, estimated: test}
    handoff_us: {value: 10, estimated: test}
  - name: gpu
    kind: gpu
    count: {value: 1, source: test}
    clock_MHz: {value: 1000, source: test}
    macs_per_cycle: {int8: {value: 1000, source: test}}
    vector_ops_per_cycle: {int8: {value: 100, source: test}}
    op_overhead_us: {value: 5, source: test}
    handoff_us: {value: 5, source: test}
memory:
  - name: dram
    kind: dram
    scope: chip
    capacity_bytes: {value: 1.0e9, source: test}
    bandwidth_GBps: {value: 10, source: test}
    alignment_bytes: {value: 64, source: test}
layouts:
  - {unit: acc, format: CHW32, channel_align: 32, source: test}
  - {unit: gpu, format: NCHW, source: test}
"""


@pytest.fixture
def chip(tmp_path):
    path = tmp_path / "hetero.yaml"
    path.write_text(TOY)
    return load_chip(path)


def _conv_softmax():
    w = numpy_helper.from_array(np.ones((8, 8, 1, 1), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("Softmax", ["c"], ["y"], name="sm", axis=1)]
    return load_graph(make_model(nodes, [vi("x", [1, 8, 4, 4])], [vi("y", [1, 8, 4, 4])],
                                 [w]))


def test_dma_pays_setup_per_transfer_and_whole_bursts(chip):
    conv, _ = graph_costs(_conv_softmax(), chip, Precision.INT8)
    # transfers: x 128 B, w 64 B, c 128 B: all whole bursts; 3 setups of 1 us
    assert conv.memory_ms == pytest.approx(3e-3 + 320 / 10e9 * 1e3)
    assert "compute_units[acc].dma.setup_us" in conv.rests_on
    assert conv.transition_ms == 0.0   # reads the graph input


def test_burst_padding_rounds_each_transfer_up(chip):
    relu = load_graph(make_model([helper.make_node("Relu", ["x"], ["y"], name="r")],
                                 [vi("x", [1, 100])], [vi("y", [1, 100])]))
    (r,) = graph_costs(relu, chip, Precision.INT8)
    # 100 B in, 100 B out: 2 transfers of 128 B each, 2 setups
    assert r.memory_ms == pytest.approx(2e-3 + 256 / 10e9 * 1e3)


def test_fallback_op_pays_the_hand_off_and_reformat(chip):
    conv, sm = graph_costs(_conv_softmax(), chip, Precision.INT8)
    assert (conv.unit, sm.unit) == ("acc", "gpu")
    # 10 us (acc side) + 5 us (gpu side) + CHW32 -> NCHW: read and write 128 B at 10 GB/s
    assert sm.transition_ms == pytest.approx(15e-3 + 2 * 128 / 10e9 * 1e3)
    assert sm.latency_ms == pytest.approx(
        max(sm.compute_ms, sm.memory_ms) + sm.overhead_ms + sm.transition_ms)
    assert "compute_units[acc].handoff_us" in sm.rests_on
    assert "compute_units[gpu].handoff_us" not in sm.rests_on   # sourced, not estimated


def test_bundled_profiles_name_only_real_figures():
    """Every figure path a cost rests on exists in the profile (paths match Chip.figures)."""
    w = numpy_helper.from_array(np.ones((64, 3, 7, 7), np.float32), "w")
    g = load_graph(make_model(
        [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", strides=[2, 2],
                          pads=[3] * 4),
         helper.make_node("Softmax", ["c"], ["y"], name="sm", axis=1)],
        [vi("x", [1, 3, 64, 64])], [vi("y", [1, 64, 32, 32])], [w]))
    for name in ("j5", "orin-agx-dla", "orin-agx-gpu", "orin-agx-gpu-15w"):
        hw = load_chip(name)
        known = {p for p, _ in hw.figures()}
        for cost in graph_costs(g, hw, Precision.INT8):
            assert set(cost.rests_on) <= known, name
            assert set(cost.rests_on) <= set(hw.estimated_figures()), name
