"""How long scheduling + memory placement take on ResNet-50 (J5, DP plan; Orin DLA).

The plan is built once; the timed call is `schedule` (with its spill / prefetch settling
passes) followed by `place` (greedy-by-size addresses for every level). Budget: 0.5 s.
"""

from __future__ import annotations

import pytest

import npusim
from npusim.cost import prepare_problem
from npusim.fusion import plan
from npusim.ir import Precision
from npusim.schedule import place, schedule

BUDGET_S = 0.5


@pytest.fixture(scope="module")
def resnet50():
    return npusim.load("zoo:resnet50", zoo_weights="light")


@pytest.mark.parametrize("chip_name", ["j5", "orin-agx-dla"])
def test_schedule_and_place_resnet50(benchmark, resnet50, chip_name):
    chip = npusim.load_chip(chip_name)
    p = plan(prepare_problem(resnet50, chip, Precision.INT8), strategy="dp")
    mm = benchmark(lambda: place(schedule(p)))
    assert mm.timeline.latency_ms > 0
    assert benchmark.stats.stats.mean < BUDGET_S
