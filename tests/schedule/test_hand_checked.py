"""A two-layer model whose timeline and addresses are worked out on paper below."""

from __future__ import annotations

from npusim.cost import prepare_problem

import numpy as np
import pytest
from onnx import helper, numpy_helper

from npusim.frontend import load_graph
from npusim.fusion import plan
from npusim.hw import load_chip
from npusim.ir import Precision
from npusim.ir.passes import canonicalize
from npusim.schedule import place, schedule
from npusim.verify import placement_problems, timeline_problems
from tests.conftest import make_model, vi

# One NPU core with 1 DMA channel; DDR at 1 GB/s = 1 byte per ns, so a transfer of B bytes
# takes B ns; 64 MAC/cycle at 1 GHz; 1 us dispatch per group. No layout rule: no padding.
TOY = """
name: toy
description: hand-sized NPU for schedule tests
compute_units:
  - name: npu
    kind: npu
    count: {value: 1, source: test}
    clock_MHz: {value: 1000, source: test}
    macs_per_cycle: {int8: {value: 64, source: test}}
    vector_ops_per_cycle: {int8: {value: 64, source: test}}
    op_overhead_us: {value: 1.0, source: test}
    dma_channels: {value: 1, source: test}
    fusion:
      sram: sram
      max_ops: {value: 8, source: test}
      max_mac_ops: {value: 8, source: test}
      kinds: [conv-like, matmul-like, elementwise, reduction, data-movement, shape-only]
      weight_block_channels: {value: 64, source: test}
memory:
  - name: sram
    kind: sram
    scope: per_unit
    unit: npu
    capacity_bytes: {value: 65536, source: test}
    bandwidth_GBps: {value: 1000, source: test}
    alignment_bytes: {value: 64, source: test}
  - name: ddr
    kind: dram
    scope: chip
    capacity_bytes: {value: 1.0e9, source: test}
    bandwidth_GBps: {value: 1, source: test}
    alignment_bytes: {value: 64, source: test}
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    path = tmp_path_factory.mktemp("chip") / "toy.yaml"
    path.write_text(TOY)
    return load_chip(path)


@pytest.fixture(scope="module")
def two_convs():
    """x (1x64x1x1) -> conv a (w_a 64x64x1x1) -> y -> conv b (w_b) -> z, int8:
    x, y, z are 64 bytes, each weight 4096 bytes, each conv 4096 MACs."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((64, 64, 1, 1)).astype(np.float32),
                                     n) for n in ("w_a", "w_b")]
    nodes = [helper.make_node("Conv", ["x", "w_a"], ["y"], name="a"),
             helper.make_node("Conv", ["y", "w_b"], ["z"], name="b")]
    model = make_model(nodes, [vi("x", [1, 64, 1, 1])], [vi("z", [1, 64, 1, 1])], inits)
    return canonicalize(load_graph(model))


def test_two_layers_on_paper(toy, two_convs):
    p = plan(prepare_problem(two_convs, toy, Precision.INT8), strategy="none")
    assert [g.name for g in p.groups] == ["a", "b"]
    # compute: 4096 MAC / 64 MAC per ns = 64 ns, plus 1 us dispatch
    assert p.groups[0].compute_ms == pytest.approx(64e-6)
    tl = schedule(p)
    assert timeline_problems(tl) == []
    us = {(e.kind, e.name): (round(e.start_ms * 1e3, 6), round(e.end_ms * 1e3, 6))
          for e in tl.events}
    # group a: loads in the plan's order (w_a then x) on the one channel, 1 ns per byte
    assert us[("load", "w_a")] == (0.0, 4.096)
    assert us[("load", "x")] == (4.096, 4.160)
    assert us[("compute", "a")] == (4.160, 5.224)            # 0.064 + 1 us dispatch
    # w_b is prefetched while a computes (SRAM holds both groups), so it takes the channel
    # at 4.160, and a's store of y queues behind it
    assert us[("load", "w_b")] == (4.160, 8.256)
    assert us[("store", "y")] == (8.256, 8.320)
    assert us[("load", "y")] == (8.320, 8.384)               # y is in DDR only at 8.320
    assert us[("compute", "b")] == (8.384, 9.448)
    assert us[("store", "z")] == (9.448, 9.512)
    assert tl.latency_ms * 1e3 == pytest.approx(9.512)
    # throughput with frames in flight: the DMA channel is busiest (4096*2 + 64*4 ns)
    assert tl.period_ms * 1e3 == pytest.approx(8.448)
    assert tl.throughput_fps == pytest.approx(1e3 / 8.448e-3)

    mm = place(tl)
    assert placement_problems(mm, toy) == []
    sram = {q.name: (q.address, q.size_bytes) for q in mm.placements if q.level == "sram"}
    # greedy by size: w_a [0, 5.224) at 0; w_b [4.160, 9.448) overlaps it -> 4096.
    # 64-byte buffers by start time: x [4.096, 5.224) above both -> 8192; y (a's output)
    # [4.160, 8.320) -> 8256; b's copy of y [8.320, 9.448) overlaps only w_b, best gap
    # [0, 4096) -> 0; z [8.384, 9.512) overlaps w_b and y#2 -> first gap [64, 4096) -> 64.
    assert sram == {"w_a": (0, 4096), "w_b": (4096, 4096), "x": (8192, 64),
                    "y": (8256, 64), "y#2": (0, 64), "z": (64, 64)}
    level = mm.level("sram")
    assert (level.peak_bytes, level.arena_bytes) == (8320, 8320)  # w_a + w_b + x + y
    assert level.peak_at_ms * 1e3 == pytest.approx(4.160)
    ddr = {q.name: (q.address, round(q.start_ms * 1e3, 6), round(q.end_ms * 1e3, 6))
           for q in mm.placements if q.level == "ddr"}
    # weights live all frame; x until its last read; y from its store to its last load;
    # z from its store to the end of the frame. x and z never meet: both get 8192.
    assert ddr == {"w_a": (0, 0.0, 9.512), "w_b": (4096, 0.0, 9.512),
                   "x": (8192, 0.0, 4.160), "y": (8192, 8.256, 8.384),
                   "z": (8192, 9.448, 9.512)}
    assert mm.ddr_bytes_by_tensor() == {"w_a": 4096, "w_b": 4096, "x": 64, "y": 128, "z": 64}


def test_resident_queries_on_the_two_layers(toy, two_convs):
    p = plan(prepare_problem(two_convs, toy, Precision.INT8), strategy="none")
    mm = place(schedule(p))
    assert mm.window("b") == pytest.approx((8.384e-3, 9.448e-3))
    during_b = {q.name for q in mm.resident_during("b", "sram")}
    assert during_b == {"w_b", "y#2", "z"}
    at = {q.name for q in mm.resident_at(4.5e-3, "sram")}
    assert at == {"w_a", "w_b", "x", "y"}
    assert {q.level for q in mm.tensor("y")} == {"sram", "ddr"}
    assert mm.peak("sram") == (8320, pytest.approx(4.160e-3))
