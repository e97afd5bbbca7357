"""Sweep size and path checks before anything runs: the point count from the spec alone,
the --max-points limit, and unknown dotted paths with a did-you-mean."""

from __future__ import annotations

import pytest

from npusim.errors import NpusimError
from npusim.sweep import expand, load_spec, run_sweep
from npusim.sweep import spec as spec_module
from npusim.sweep.spec import MAX_POINTS, count_points, describe_count
from tests.sweep.helpers import SMALL_CNN, spec


def _huge_grid() -> dict:
    """Nine profile fields of ten values each: 10^9 chip variants."""
    paths = ["compute_units.bpu.clock_MHz", "compute_units.bpu.count",
             "compute_units.bpu.op_overhead_us", "compute_units.cpu.clock_MHz",
             "compute_units.cpu.count", "memory.sram.bandwidth_GBps",
             "memory.ddr.bandwidth_GBps", "memory.sram.capacity_bytes",
             "memory.ddr.alignment_bytes"]
    return {p: list(range(1, 11)) for p in paths}


def test_count_is_the_product_of_models_variants_strategies_and_precisions():
    s = load_spec(spec(models=(SMALL_CNN, "zoo:resnet18"), fusion=("dp", "rules"),
                       grid={"memory.sram.capacity_bytes": [1, 2, 3, 4],
                             "memory.ddr.bandwidth_GBps": [34, 68]},
                       precision=["int8"]))
    assert count_points(s) == 2 * (4 * 2) * 2 * 1 == 32
    assert describe_count(s) == "2 models x 8 chip variants x 2 fusion x 1 precision = 32 points"
    points = load_spec(spec(points=[{"memory.sram.capacity_bytes": 1},
                                    {"memory.ddr.bandwidth_GBps": 3}], precision=["int8", "int16"]))
    assert count_points(points) == 1 * 2 * 1 * 2 == 4


def test_a_billion_points_are_refused_at_once_without_loading_the_chip(monkeypatch):
    s = load_spec(spec(grid=_huge_grid()))
    assert count_points(s) == 10**9

    def trap(*_):
        raise AssertionError("the chip was loaded: the count was not checked first")
    monkeypatch.setattr(spec_module, "load_chip", trap)
    with pytest.raises(NpusimError, match=r"= 1000000000 points, over the limit of 100000; "
                       r".*--max-points 1000000000"):
        expand(s)
    assert MAX_POINTS == 100_000


def test_max_points_lets_a_large_sweep_through_and_none_means_no_limit():
    s = load_spec(spec(grid={"memory.sram.capacity_bytes": [1 << 20, 2 << 20, 4 << 20]}))
    with pytest.raises(NpusimError, match="over the limit of 2"):
        expand(s, max_points=2)
    assert len(expand(s, max_points=3)) == 3
    assert len(expand(s, max_points=None)) == 3
    with pytest.raises(NpusimError, match="over the limit of 2"):
        run_sweep(s, n_jobs=1, max_points=2)


@pytest.mark.parametrize("path, hint", [
    ("memory.sram.capacity", "did you mean 'capacity_bytes'"),
    ("memory.ddrr.bandwidth_GBps", "did you mean 'ddr'"),
    ("compute_unit.bpu.clock_MHz", "did you mean 'compute_units'"),
    ("compute_units.bpu.clock_mhz", "did you mean 'clock_MHz'"),
])
def test_an_unknown_path_fails_before_the_first_point_with_a_hint(path, hint, monkeypatch):
    import npusim.sweep.run as run_module
    monkeypatch.setattr(run_module, "evaluate", lambda p: pytest.fail("a point ran"))
    with pytest.raises(NpusimError, match=hint):
        run_sweep(spec(grid={path: [1]}), n_jobs=1)


def test_the_command_prints_the_count_before_running(tmp_path):
    import argparse

    from rich.console import Console

    from npusim.sweep import cli
    path = tmp_path / "s.yaml"
    path.write_text(f"base_chip: j5\nmodels: ['{SMALL_CNN}']\n"
                    "overrides: {grid: {memory.sram.capacity_bytes: [1048576, 2097152]}}\n")
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    console = Console(width=200, record=True, force_terminal=False)
    assert cli.main(parser.parse_args([str(path), "-j", "1"]), console) == 0
    text = console.export_text()
    assert text.index("sweep: 1 model x 2 chip variants x 1 fusion x 1 precision = 2 points") \
        < text.index("best latency per model")
