"""The GPU implicit-GEMM model: tile and wave quantization on a toy GPU, checked by hand, and
a depthwise conv on the real Orin profile."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from npusim.cost import compute_time, graph_costs
from npusim.frontend import load_graph
from npusim.hw import load_chip
from npusim.ir import Precision, op_work
from tests.conftest import make_model, vi

# 4 SMs at 1 GHz, 256 int8 MACs/cycle/SM, one 16x16x16 tile, no split-K, L2 never limiting.
TOY_GPU = """
name: toy-gpu
description: hand-checkable GPU
compute_units:
  - name: gpu
    kind: gpu
    count: {value: 4, source: test}
    clock_MHz: {value: 1000, source: test}
    macs_per_cycle: {int8: {value: 256, source: test}}
    vector_ops_per_cycle: {int8: {value: 64, source: test}}
    op_overhead_us: {value: 5, source: test}
    gpu:
      l2: l2
      tiles: {int8: {shapes: [[16, 16, 16]], source: test}}
      mma_efficiency: {int8: {value: 1.0, estimated: test}}
memory:
  - name: l2
    kind: cache
    scope: chip
    capacity_bytes: {value: 1.0e9, source: test}
    bandwidth_GBps: {value: 1.0e6, source: test}
    alignment_bytes: {value: 128, source: test}
  - name: dram
    kind: dram
    scope: chip
    capacity_bytes: {value: 1.0e9, source: test}
    bandwidth_GBps: {value: 100, source: test}
    alignment_bytes: {value: 256, source: test}
"""


@pytest.fixture
def gpu(tmp_path):
    path = tmp_path / "gpu.yaml"
    path.write_text(TOY_GPU)
    return load_chip(path)


def _matmul(m, n, k):
    b = numpy_helper.from_array(np.ones((k, n), np.float32), "b")
    g = load_graph(make_model([helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")],
                              [vi("a", [m, k])], [vi("y", [m, n])], [b]))
    return g


def _time(graph, chip):
    return compute_time(op_work(graph.nodes[0], graph), graph, chip.unit("gpu"),
                        Precision.INT8, chip)


def test_one_tile_more_than_a_full_wave_pays_for_a_second_wave(gpu):
    # a 16x16x16 tile takes 16*16*16 / 256 = 16 cycles; 4 tiles fill the 4 SMs once
    full = _time(_matmul(64, 16, 16), gpu)
    assert full.mac_s == pytest.approx(16e-9)
    assert full.utilization == pytest.approx(1.0)
    # 5 tiles: a second wave with one block, the same 16 cycles again
    more = _time(_matmul(80, 16, 16), gpu)
    assert more.mac_s == pytest.approx(32e-9)
    assert more.utilization == pytest.approx(5 / 8)
    assert "2 wave(s)" in more.mapping


def test_tile_quantization_pads_n_and_k(gpu):
    # N = 17 -> 2 column tiles: 8 blocks, 2 waves; K = 17 -> padded to 32: 32 cycles a block
    assert _time(_matmul(64, 17, 16), gpu).mac_s == pytest.approx(32e-9)
    assert _time(_matmul(64, 16, 17), gpu).mac_s == pytest.approx(32e-9)


def test_tile_efficiency_figure_is_reported(gpu):
    t = _time(_matmul(64, 16, 16), gpu)
    assert "compute_units[gpu].gpu.mma_efficiency.int8" in t.uses
    assert "compute_units[gpu].gpu.mma_efficiency.int8" in graph_costs(
        _matmul(64, 16, 16), gpu, Precision.INT8)[0].rests_on


def test_depthwise_conv_is_memory_bound_on_orin_int8():
    w = numpy_helper.from_array(np.ones((256, 1, 3, 3), np.float32), "w")
    g = load_graph(make_model([helper.make_node("Conv", ["x", "w"], ["y"], group=256,
                                                pads=[1] * 4)],
                              [vi("x", [1, 256, 56, 56])], [vi("y", [1, 256, 56, 56])], [w]))
    chip = load_chip("orin-agx-gpu")
    (dw,) = graph_costs(g, chip, Precision.INT8)
    assert dw.bound_by == "memory"
    # 256*56*56*9 = 7.2 M MACs on the CUDA cores: 16 SMs x 256 x 1.3005 GHz = 1.39 us;
    # DRAM: the conv reads the model input and writes the model output, which the engine
    # binds in fp32 (2 x 4 x 802816 B), + int8 weights at 204.8 x 0.87 GB/s = 36.1 us, plus
    # the profile's half-bandwidth bytes (a kernel of B bytes takes (B + B_half) / bandwidth)
    half = chip.dram.half_bandwidth_bytes.value
    assert dw.compute_ms == pytest.approx(7225344 / (16 * 256 * 1300.5e6) * 1e3)
    assert dw.memory_ms == pytest.approx((2 * 4 * 802816 + 2304 + half) / 178.176e9 * 1e3)


def test_power_modes_extend_the_maxn_profile():
    maxn, low = load_chip("orin-agx-gpu-maxn"), load_chip("orin-agx-gpu-15w")
    assert maxn.unit("gpu").count.value == 16 and low.unit("gpu").count.value == 6
    assert low.unit("gpu").gpu == maxn.unit("gpu").gpu   # kernels inherited
    assert "compute_units[gpu].clock_MHz" in low.estimated_figures()
