"""The DP is exact: on random small DAGs it equals exhaustive enumeration of its space."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from onnx import helper, numpy_helper

from npusim.cost import CostModel, prepare_problem
from npusim.frontend import load_graph
from npusim.fusion import fusion_order, objective_key, plan
from npusim.fusion.dp import add, plan_dp
from npusim.fusion.space import Segment, SpaceRules
from npusim.hw import load_chip
from npusim.ir import Precision
from tests.conftest import make_model, vi
from tests.strategies import conv_dags

# A small NPU whose 12 KiB SRAM makes tiling, weight streaming and infeasibility matter on
# 1xCx32x32 maps (4-8 KiB per int8 tensor).
TINY_NPU = """
name: tiny-npu
description: hand-sized NPU for planner tests
compute_units:
  - name: npu
    kind: npu
    count: {value: 1, source: test}
    clock_MHz: {value: 500, source: test}
    macs_per_cycle: {int8: {value: 256, source: test}}
    vector_ops_per_cycle: {int8: {value: 32, source: test}}
    op_overhead_us: {value: 0.5, source: test}
    fusion:
      sram: sram
      max_ops: {value: 6, source: test}
      max_mac_ops: {value: 3, source: test}
      kinds: [conv-like, matmul-like, elementwise, reduction, data-movement, shape-only]
      weight_block_channels: {value: 4, source: test}
memory:
  - name: sram
    kind: sram
    scope: per_unit
    unit: npu
    capacity_bytes: {value: 12288, source: test}
    bandwidth_GBps: {value: 256, source: test}
    alignment_bytes: {value: 32, source: test}
  - name: dram
    kind: dram
    scope: chip
    capacity_bytes: {value: 1.0e9, source: test}
    bandwidth_GBps: {value: 4, source: test}
    alignment_bytes: {value: 64, source: test}
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("chip") / "tiny.yaml"
    path.write_text(TINY_NPU)
    return load_chip(path)


def exhaustive(model: CostModel, rules: SpaceRules, order, key):
    """Minimum over every segmentation of `order` into valid, feasible groups."""
    n = len(order)
    best = None
    for cuts in itertools.product([False, True], repeat=n - 1):
        bounds = [0] + [i + 1 for i, c in enumerate(cuts) if c] + [n]
        total = None
        for a, b in zip(bounds, bounds[1:]):
            seg = Segment(rules)
            ok = all(seg.add(order[i]) for i in range(b - 1, a - 1, -1)) and seg.connected
            cost = model.group(order[a:b], key) if ok else None
            if cost is None:
                total = None
                break
            total = key(cost) if total is None else add(total, key(cost))
        if total is not None and (best is None or total < best):
            best = total
    return best


def dp_value(model, rules, order, key):
    total = None
    for a, b in plan_dp(model, rules, order, key):
        c = key(model.group(order[a:b], key))
        total = c if total is None else add(total, c)
    return total


@pytest.mark.parametrize("chip_name", ["tiny", "j5", "orin-agx-gpu"])
@pytest.mark.parametrize("objective", ["latency", "ddr"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=conv_dags(channels=(4, 8), sizes=(32,)))
def test_dp_equals_exhaustive_enumeration(graph, chip_name, objective, tiny):
    chip = tiny if chip_name == "tiny" else load_chip(chip_name)
    model = CostModel(prepare_problem(graph, chip, Precision.INT8))
    rules = SpaceRules(model)
    order = fusion_order(graph)
    key = objective_key(objective)
    best = exhaustive(model, rules, order, key)
    got = dp_value(model, rules, order, key)
    # the objective itself is minimal; its tie-breaker (the other quantity) is too, unless
    # two plans tie on the objective up to float rounding, where either may win
    assert got[0] == pytest.approx(best[0], rel=1e-9, abs=1e-12)
    if abs(got[0] - best[0]) <= 1e-12 * max(1.0, abs(best[0])) and got[0] != best[0]:
        return
    assert got == pytest.approx(best, rel=1e-9, abs=1e-12)


def test_priced_segments_grow_linearly(tiny):
    """Complexity: on a chain of n ops the DP prices at most n x W segments, W the longest
    valid run (max_ops = 6 here), however long the chain."""
    nodes, inits, prev = [], [], "x"
    rng = np.random.default_rng(0)
    for k in range(120):
        w = f"w{k}"
        inits.append(numpy_helper.from_array(rng.normal(size=(4, 4, 1, 1)).astype(np.float32),
                                             w))
        nodes.append(helper.make_node("Conv", [prev, w], [f"c{k}"], name=f"conv{k}"))
        nodes.append(helper.make_node("Relu", [f"c{k}"], [f"r{k}"], name=f"relu{k}"))
        prev = f"r{k}"
    graph = load_graph(make_model(nodes, [vi("x", [1, 4, 8, 8])], [vi(prev, [1, 4, 8, 8])],
                                  inits))
    model = CostModel(prepare_problem(graph, tiny, Precision.INT8))
    plan(model.problem, "dp", cost_model=model)
    n = len(graph.nodes)
    assert len(model._memo) <= n * 6
