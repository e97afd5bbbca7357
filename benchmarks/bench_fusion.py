"""How long the fusion planner takes: ResNet-50 on j5 (target < 1 s) and a 24-layer BERT-large
at sequence 384 (target < 5 s), one core. The graph and the chip are loaded once; the timed
call computes the problem's facts and runs the planner, as `npusim plan` does."""

from __future__ import annotations

import pytest

import npusim
from npusim.cost import prepare_problem
from npusim.fusion import plan
from npusim.hw import load_chip
from npusim.ir import Precision

TARGET_S = {"resnet50": 1.0, "bert-large": 5.0}


@pytest.mark.parametrize("name", ["resnet50", "bert-large"])
@pytest.mark.parametrize("strategy", ["dp", "greedy"])
def test_plan_speed(benchmark, name, strategy):
    graph = npusim.load(f"zoo:{name}", zoo_weights="light")  # bert-large: seq 384
    chip = load_chip("j5")
    result = benchmark.pedantic(lambda: plan(prepare_problem(graph, chip, Precision.INT8),
                                             strategy), rounds=3, iterations=1)
    benchmark.extra_info.update(nodes=len(graph.nodes), groups=len(result.groups),
                                serial_latency_ms=round(result.serial_latency_ms, 4))
    if strategy == "dp":
        assert benchmark.stats.stats.median < TARGET_S[name]
