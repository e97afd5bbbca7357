"""How long a 200-point sweep takes on 2 cores: 4 zoo CNNs x 5 SRAM sizes x 2 fusion strategies
x 5 DDR bandwidths on j5, joblib's loky backend (each worker loads each model once)."""

from __future__ import annotations

import pytest

from npusim.sweep import run_sweep

MiB = 2**20
SPEC = {
    "base_chip": "j5",
    "models": ["zoo:resnet18", "zoo:resnet50", "zoo:mobilenetv2", "zoo:unet"],
    "fusion": ["dp", "rules"],
    "overrides": {"grid": {
        "memory.sram.capacity_bytes": [MiB, 2 * MiB, 4 * MiB, 8 * MiB, 16 * MiB],
        "memory.ddr.bandwidth_GBps": [17.0, 34.0, 51.2, 68.3, 102.4],
    }},
}


@pytest.mark.parametrize("n_jobs", [2])
def test_sweep_200_points(benchmark, n_jobs):
    result = benchmark.pedantic(run_sweep, args=(SPEC,), kwargs={"n_jobs": n_jobs},
                                rounds=1, iterations=1)
    assert len(result.rows) == 4 * 5 * 2 * 5
    assert all(r["latency_ms"] > 0 for r in result.rows)
    # dp searches a superset of the rules plans, so what it minimizes (the groups priced
    # alone) is never higher at the same point
    for dp, rules in zip(result.rows[::2], result.rows[1::2]):
        assert (dp["fusion"], rules["fusion"]) == ("dp", "rules")
        assert dp["serial_latency_ms"] <= rules["serial_latency_ms"] * (1 + 1e-9)
    benchmark.extra_info["points"] = len(result.rows)
    benchmark.extra_info["pareto_front_rows"] = len(result.pareto())
