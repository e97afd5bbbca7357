"""The NPU/DLA MAC-array model on a toy 16x16 array whose cycle counts are checked by hand."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from npusim.cost import CostModel, compute_time, prepare_problem
from npusim.cost.gemm import MacShape
from npusim.cost.npu import reduction_passes
from npusim.frontend import load_graph
from npusim.hw import load_chip
from npusim.ir import Precision, op_work
from tests.conftest import make_model, vi

# One 16x16 array at 1 GHz: 256 MACs/cycle -> spatial 1 (one output pixel per cycle).
ARRAY = """
name: toy-npu
description: hand-checkable MAC array
compute_units:
  - name: npu
    kind: npu
    count: {{value: {cores}, source: test}}
    clock_MHz: {{value: 1000, source: test}}
    macs_per_cycle: {{int8: {{value: 256, source: test}}}}
    vector_ops_per_cycle: {{int8: {{value: 16, source: test}}}}
    op_overhead_us: {{value: 1, source: test}}
    array:
      input_channels: {{value: 16, source: test}}
      output_channels: {{value: 16, estimated: test}}
      fold_small_channels: true
memory:
  - name: dram
    kind: dram
    scope: chip
    capacity_bytes: {{value: 1.0e9, source: test}}
    bandwidth_GBps: {{value: 10, source: test}}
    alignment_bytes: {{value: 64, source: test}}
"""


def _chip(tmp_path, cores=1):
    path = tmp_path / f"npu{cores}.yaml"
    path.write_text(ARRAY.format(cores=cores))
    return load_chip(path)


def _conv(cin, cout, hw=8, k=1, stride=1, group=1, batch=1):
    w = numpy_helper.from_array(np.ones((cout, cin // group, k, k), np.float32), "w")
    pad = k // 2
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv", group=group,
                            pads=[pad] * 4, strides=[stride] * 2)
    out = (hw + 2 * pad - k) // stride + 1
    return load_graph(make_model([node], [vi("x", [batch, cin, hw, hw])],
                                 [vi("y", [batch, cout, out, out])], [w]))


def _time(graph, chip):
    node = graph.nodes[0]
    return compute_time(op_work(node, graph), graph, chip.unit("npu"), Precision.INT8, chip)


def test_channels_one_more_than_the_array_width_pay_for_padding(tmp_path):
    chip = _chip(tmp_path)
    # 1x1 conv, 8x8 outputs: 64 positions x ceil(C_in/16) passes x ceil(C_out/16) blocks
    full = _time(_conv(16, 16), chip)
    assert full.mac_s == pytest.approx(64e-9)           # 64 cycles at 1 GHz
    assert full.utilization == pytest.approx(1.0)
    one_more = _time(_conv(17, 16), chip)
    assert one_more.mac_s == pytest.approx(128e-9)      # 64 x 2 passes: twice the time
    assert one_more.utilization == pytest.approx(17 / 32)  # for 1/16 more work
    out_more = _time(_conv(16, 17), chip)
    assert out_more.mac_s == pytest.approx(128e-9)      # 2 output-channel blocks
    assert "compute_units[npu].array.output_channels" in out_more.uses


def test_depthwise_conv_on_a_dense_array_uses_one_lane(tmp_path):
    # each group runs alone: 1 input channel, 1 output channel on a 16x16 array. Folding
    # the kernel width into channels gives ceil(1 x 3 / 16) x 3 = 3 passes (not 9), so
    # 16 groups x 64 positions x 3 passes = 3072 cycles for 64 x 16 x 9 = 9216 MACs
    dw = _time(_conv(16, 16, k=3, group=16), _chip(tmp_path))
    assert dw.mac_s == pytest.approx(3072e-9)
    assert dw.utilization == pytest.approx(9216 / (3072 * 256))
    assert "groups 16" in dw.mapping


def test_small_channel_first_layer_folds_the_kernel_width():
    # C_in 3, 7x7 stride 2 on a 64-wide array: plain 49 passes; kernel width folded:
    # ceil(21/64) x 7 = 7; space-to-depth 2x2: ceil(12/64) x 4 x 4 = 16 -> 7
    s = MacShape(1, 1, 112, 112, 64, 3, kernel=(7, 7), stride=(2, 2))
    assert reduction_passes(s, 64, fold=False) == (49, "")
    assert reduction_passes(s, 64, fold=True) == (7, "kernel width folded")
    # 1x1 stride 4 on C_in 2, array 16: plain 1 pass; space-to-depth cannot beat 1
    assert reduction_passes(MacShape(1, 1, 8, 8, 16, 2, stride=(4, 4)), 16, True)[0] == 1
    # 3x3 stride 2, C_in 3, array 16: kw folded ceil(9/16) x 3 = 3; s2d ceil(12/16) x 2 x 2 = 4
    assert reduction_passes(MacShape(1, 1, 8, 8, 16, 3, (3, 3), (2, 2)), 16, True)[0] == 3


def test_two_cores_pick_the_cheapest_split(tmp_path):
    chip = _chip(tmp_path, cores=2)
    # 1x1 conv 16 -> 32 on 8x8: out-channel split reads the 1024-byte input twice, a row
    # split loads the 512-byte weights twice: same cycles (64 x 1 x 1 per core), rows win
    small_w = _time(_conv(16, 32), chip)
    assert small_w.split == "rows"
    assert small_w.extra_dram_bytes == 512
    assert small_w.mac_s == pytest.approx(64e-9)  # 4 rows x 8 x 2 blocks per core
    # 1x1 conv 64 -> 256 on 8x8: weights 16384 B, input 4096 B: split output channels
    big_w = _time(_conv(64, 256), chip)
    assert big_w.split == "out-channels"
    assert big_w.extra_dram_bytes == 4096
    # 64 positions x 4 input passes x 8 output blocks per core
    assert big_w.mac_s == pytest.approx(64 * 4 * 8 * 1e-9)
    # a grouped conv splits its groups: no core reads another's inputs
    grouped = _time(_conv(32, 32, k=3, group=2), chip)
    assert grouped.split == "out-channels" and grouped.extra_dram_bytes == 0


def test_split_extra_bytes_reach_the_group_cost(tmp_path):
    chip = _chip(tmp_path, cores=2)
    (conv,) = CostModel(prepare_problem(_conv(16, 32), chip, Precision.INT8)).unfused()
    # input 1024 + weights 512 + the second core's copy of the weights 512
    assert conv.bytes_loaded == 1024 + 512 + 512
    assert "compute_units[npu].array.output_channels" in conv.rests_on
