"""`--outputs`: the graph cut at named tensors, as vendor toolchains deploy detectors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from npusim.errors import ShapeError
from npusim.frontend import load_graph
from npusim.ir import op_work
from tests.conftest import make_model, vi


def _detector():
    # conv backbone -> head conv -> a sigmoid "decode" tail the deployment runs on the CPU
    w1 = numpy_helper.from_array(np.ones((8, 3, 3, 3), np.float32), "w1")
    w2 = numpy_helper.from_array(np.ones((4, 8, 1, 1), np.float32), "w2")
    nodes = [helper.make_node("Conv", ["img", "w1"], ["feat"], pads=[1, 1, 1, 1], name="c1"),
             helper.make_node("Relu", ["feat"], ["act"], name="r1"),
             helper.make_node("Conv", ["act", "w2"], ["head"], name="c2"),
             helper.make_node("Sigmoid", ["head"], ["scores"], name="decode")]
    return make_model(nodes, [vi("img", [1, 3, 16, 16])], [vi("scores", [1, 4, 16, 16])],
                      [w1, w2])


def test_cut_makes_the_named_tensors_the_outputs_and_drops_the_rest():
    g = load_graph(_detector(), outputs="head")
    assert g.outputs == ("head",)
    assert [n.name for n in g.nodes] == ["c1", "r1", "c2"]
    # c1: 8*16*16 outputs x 27 = 55296; c2: 4*16*16 x 8 = 8192
    assert sum(op_work(n, g).macs for n in g.nodes) == 55296 + 8192


def test_cut_at_two_tensors_keeps_both():
    g = load_graph(_detector(), outputs=["act", "feat"])
    assert g.outputs == ("act", "feat")
    assert [n.name for n in g.nodes] == ["c1", "r1"]


def test_unknown_cut_tensor_gets_a_did_you_mean():
    with pytest.raises(ShapeError, match="'haed'.*did you mean 'head'"):
        load_graph(_detector(), outputs="haed")


def test_outputs_on_the_command_line(tmp_path):
    path = tmp_path / "det.onnx"
    onnx.save(_detector(), path)
    run = [sys.executable, "-m", "npusim.cli", "simulate", str(path), "--chip", "j5",
           "--fusion", "none", "--json", str(tmp_path / "r.json")]
    r = subprocess.run([*run, "--outputs", "head"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    import json
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["totals"]["macs"] == 55296 + 8192
    plan = subprocess.run([sys.executable, "-m", "npusim.cli", "plan", str(path), "--chip", "j5",
                           "--outputs", "head"], capture_output=True, text=True, timeout=120)
    assert plan.returncode == 0 and "c2" in plan.stdout and "decode" not in plan.stdout
    bad = subprocess.run([*run, "--outputs", "nope"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
