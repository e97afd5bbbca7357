"""The board profiles of issue 12 (Jetson Orin Nano, D-Robotics RDK, Horizon J6, TI TDA4VM,
Huawei Ascend 310): peaks against the vendors' published TOPS, figures shared through
`extends:`, `npusim chips`, and the whole zoo on every one of them."""

from __future__ import annotations

import re

import pytest

from npusim import zoo
from npusim.cli import main
from npusim.hw import bundled_profiles, load_chip
from npusim.ir import Precision

NEW = ["orin-nano", "orin-nano-super", "rdk-x5", "rdk-s100", "rdk-s100p", "j6e", "j6m",
       "tda4vm", "ascend-310"]

# (profile, unit, precision, published peak TOPS, relative tolerance). NVIDIA publishes sparse
# INT8 TOPS: dense is half (40 -> 20, 67 -> 33.5). The Nash profiles share one assumed array
# between Nash-e (80 TOPS at 1.0 GHz) and Nash-m (128 TOPS at 1.5 GHz), hence 5%.
PUBLISHED_TOPS = [
    ("orin-nano", "gpu", Precision.INT8, 40 / 2, 0.03),
    ("orin-nano-super", "gpu", Precision.INT8, 67 / 2, 0.03),
    ("rdk-x5", "bpu", Precision.INT8, 10, 0.03),
    ("rdk-s100", "bpu", Precision.INT8, 80, 0.05),
    ("rdk-s100p", "bpu", Precision.INT8, 128, 0.05),
    ("j6e", "bpu", Precision.INT8, 80, 0.05),
    ("j6m", "bpu", Precision.INT8, 128, 0.05),
    ("tda4vm", "mma", Precision.INT8, 8, 0.03),
    ("ascend-310", "aicore", Precision.INT8, 16, 0.03),
    ("ascend-310", "aicore", Precision.FP16, 8, 0.03),
]


@pytest.mark.parametrize("chip, unit, precision, tops, tol", PUBLISHED_TOPS,
                         ids=[f"{c}-{p.value}" for c, _, p, _, _ in PUBLISHED_TOPS])
def test_dense_peak_matches_the_published_tops(chip, unit, precision, tops, tol):
    assert load_chip(chip).unit(unit).peak_tops(precision) == pytest.approx(tops, rel=tol)


@pytest.mark.parametrize("chip, dram_GBps", [
    ("orin-nano", 68.0), ("orin-nano-super", 102.0),
    ("rdk-s100", 6400e6 * 96 / 8 / 1e9),      # 96-bit LPDDR5 at 6400 MT/s
    ("tda4vm", 4266e6 * 32 / 8 / 1e9),        # 32-bit LPDDR4 at 4266 MT/s
])
def test_dram_bandwidth_is_the_published_interface(chip, dram_GBps):
    assert load_chip(chip).dram.bandwidth_GBps.value == pytest.approx(dram_GBps, rel=2e-3)


def test_orin_nano_super_is_orin_nano_with_faster_clocks():
    nano, sup = load_chip("orin-nano"), load_chip("orin-nano-super")
    gn, gs = nano.unit("gpu"), sup.unit("gpu")
    assert (gn.clock_MHz.value, gs.clock_MHz.value) == (625, 1020)
    assert gs.macs_per_cycle == gn.macs_per_cycle and gs.gpu == gn.gpu
    assert gs.count == gn.count and sup.dram.capacity_bytes == nano.dram.capacity_bytes
    # the GPU figures of an Orin SM come from the AGX profile, once
    assert gn.macs_per_cycle == load_chip("orin-agx-gpu").unit("gpu").macs_per_cycle


def test_nash_profiles_share_one_bpu_and_differ_in_clock():
    base = load_chip("rdk-s100").unit("bpu")
    for name, clock_MHz in [("rdk-s100p", 1500), ("j6e", 1000), ("j6m", 1500)]:
        bpu = load_chip(name).unit("bpu")
        assert bpu.macs_per_cycle == base.macs_per_cycle and bpu.array == base.array, name
        assert bpu.clock_MHz.value == clock_MHz, name
    # car SoCs rest on the boards' figures, so nothing J6-specific claims a source
    assert not [p for p, f in load_chip("j6e").figures() if f.source]


def test_horizon_boards_keep_the_hbdnn_layout_of_j5():
    j5 = load_chip("j5").layouts
    for name in ("rdk-x5", "rdk-s100", "j6m"):
        assert load_chip(name).layouts == j5, name


def test_chips_lists_every_profile_with_its_counts_and_validation(capsys):
    assert main(["chips"]) == 0
    out = capsys.readouterr().out
    for name in bundled_profiles():
        chip = load_chip(name)
        c = chip.provenance_counts()
        figures = f"{c['source']}/{c['estimated']}/{c['calibrated']}"
        validated = "yes" if chip.is_validated else "no"
        row = rf"│ {re.escape(name)}\s+│.*│ {figures}\s+│ {validated}\s+│"
        assert re.search(row, out), name
    assert main(["chips", "show", "rdk-s100p"]) == 0
    assert '"name": "rdk-s100p"' in capsys.readouterr().out


@pytest.mark.parametrize("chip", NEW)
def test_every_zoo_model_simulates_on_the_new_profile(chip, capsys):
    for name in zoo.names():
        assert main(["simulate", f"zoo:{name}", "--chip", chip, "-q"]) == 0, name
        out = capsys.readouterr().out
        assert f"zoo:{name} on {chip} (int8, fusion dp): latency" in out, name


def test_rdk_x5_runs_softmax_on_the_cpu_unless_the_node_is_placed_on_the_bpu():
    # the X5 op list: Softmax runs on the CPU by default; node_info / run_on_bpu moves a node
    # to the BPU, which a precision-map entry for the node says here; an int16 build (the
    # model zoo's set_all_nodes_int16) keeps it on the BPU too
    import numpy as np
    from onnx import helper, numpy_helper

    from npusim import api
    from npusim.frontend import load_graph
    from tests.conftest import make_model, vi
    w = numpy_helper.from_array(np.ones((16, 16, 1, 1), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("Softmax", ["c"], ["y"], name="sm", axis=3)]
    g = load_graph(make_model(nodes, [vi("x", [1, 16, 8, 8])], [vi("y", [1, 16, 8, 8])], [w]))
    default = api.prepare(g, "rdk-x5", precision="int8")
    i = default.index["sm"]
    assert default.unit[i].name == "cpu" and default.precisions["sm"] is Precision.FP32
    placed = api.prepare(g, "rdk-x5", precision="int8", precisions={"sm": "int8"})
    assert placed.unit[i].name == "bpu" and placed.precisions["sm"] is Precision.INT8
    int16 = api.prepare(g, "rdk-x5", precision="int16")
    assert int16.unit[i].name == "bpu"
    # j5's profile states no such default
    assert api.prepare(g, "j5", precision="int8").unit[i].name == "bpu"
