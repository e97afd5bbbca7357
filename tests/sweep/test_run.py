"""Running sweeps: overrides change the chip the way physics says, results round-trip, and the
joblib (loky) and Dask backends give byte-identical tables."""

from __future__ import annotations

import pytest

import npusim
from npusim.errors import NpusimError
from npusim.sweep import SweepResult, read_csv, run_sweep
from tests.sweep.helpers import SMALL_CNN, MiB, spec

SRAM = "memory.sram.capacity_bytes"
DDR = "memory.ddr.bandwidth_GBps"


@pytest.fixture(scope="module")
def resnet18_grid() -> SweepResult:
    """resnet18 on j5, dp: 4 SRAM sizes x 3 DDR bandwidths, in this process."""
    return run_sweep(spec(models=["zoo:resnet18"], grid={SRAM: [MiB // 2, MiB, 4 * MiB, 16 * MiB],
                                                         DDR: [17.0, 34.0, 68.3]}), n_jobs=1)


def test_more_sram_never_increases_dp_latency(resnet18_grid):
    # what the dp planner minimizes (the groups priced alone) can only drop with more SRAM;
    # the scheduled makespan follows it within a few percent (dp does not search the schedule)
    for bw in (17.0, 34.0, 68.3):
        rows = [r for r in resnet18_grid.rows if r[DDR] == bw]
        serial = [r["serial_latency_ms"] for r in rows]
        assert len(serial) == 4
        assert all(a >= b for a, b in zip(serial, serial[1:])), serial
        lat = [r["latency_ms"] for r in rows]
        assert all(b <= a * 1.03 for a, b in zip(lat, lat[1:])), lat
        assert lat[0] > lat[-1]          # and the override is really used


def test_more_ddr_bandwidth_never_increases_latency(resnet18_grid):
    for size in (MiB // 2, MiB, 4 * MiB, 16 * MiB):
        lat = [r["latency_ms"] for r in resnet18_grid.rows if r[SRAM] == size]
        assert all(a > b for a, b in zip(lat, lat[1:])), lat


def test_a_row_equals_simulate_on_the_same_chip_written_as_a_profile(resnet18_grid, tmp_path):
    # oracle: the loader's `extends:` path, not the sweep's override code
    profile = tmp_path / "j5-variant.yaml"
    profile.write_text(
        "extends: j5\nmemory:\n"
        "  - {name: sram, capacity_bytes: {value: 1048576, estimated: test}}\n"
        "  - {name: ddr, bandwidth_GBps: {value: 34.0, estimated: test}}\n")
    report = npusim.simulate("zoo:resnet18", str(profile), fusion="dp")
    row = next(r for r in resnet18_grid.rows if r[SRAM] == MiB and r[DDR] == 34.0)
    assert row["latency_ms"] == report.totals.latency_ms
    assert row["throughput_fps"] == report.totals.throughput_fps
    assert row["ddr_bytes_per_frame"] == report.totals.ddr_bytes_per_frame
    assert row["estimated"] is True and row["model"] == "zoo:resnet18"


def test_columns_and_csv_round_trip(resnet18_grid, tmp_path):
    assert resnet18_grid.columns == ("model", "fusion", "precision", SRAM, DDR, "latency_ms",
                                     "serial_latency_ms", "throughput_fps", "ddr_bytes_per_frame",
                                     "estimated")
    path = tmp_path / "sweep.csv"
    text = resnet18_grid.to_csv(path)
    back = read_csv(path)
    assert back == resnet18_grid
    assert back.to_csv() == text == path.read_text()
    assert type(back.rows[0][SRAM]) is int and type(back.rows[0][DDR]) is float


def test_parquet_round_trip(resnet18_grid, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    resnet18_grid.write(tmp_path / "sweep.parquet")
    table = pq.read_table(tmp_path / "sweep.parquet")
    assert tuple(table.column_names) == resnet18_grid.columns
    assert table.to_pylist() == [dict(r) for r in resnet18_grid.rows]
    with pytest.raises(NpusimError, match="use a .csv or .parquet file"):
        resnet18_grid.write(tmp_path / "sweep.xlsx")


def test_best_and_pareto_pick_from_the_rows(resnet18_grid):
    (best,) = resnet18_grid.best()
    assert best["latency_ms"] == min(r["latency_ms"] for r in resnet18_grid.rows)
    front = resnet18_grid.pareto(SRAM, "latency_ms")
    # the fastest row at each SRAM size, each SRAM step strictly faster
    assert [r[SRAM] for r in front] == [MiB // 2, MiB, 4 * MiB, 16 * MiB][:len(front)]
    with pytest.raises(NpusimError, match="no column 'memory.sram.size'"):
        resnet18_grid.pareto("memory.sram.size")


def test_joblib_and_dask_give_byte_identical_tables():
    distributed = pytest.importorskip("distributed")
    sweep = spec(models=["zoo:resnet18", SMALL_CNN], fusion=["dp", "rules"],
                 grid={SRAM: [MiB, 4 * MiB], DDR: [34.0, 68.3]})
    serial = run_sweep(sweep, n_jobs=1).to_csv()
    local = run_sweep(sweep, n_jobs=2, backend="loky").to_csv()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        dask = run_sweep(sweep, backend="dask", scheduler=cluster.scheduler_address).to_csv()
    assert serial.count("\n") == 1 + 16
    assert local == serial
    assert dask == serial


def test_backend_mistakes_are_user_errors():
    sweep = spec(fusion=["rules"])
    with pytest.raises(NpusimError, match="unknown sweep backend 'ray'"):
        run_sweep(sweep, backend="ray")
    with pytest.raises(NpusimError, match="needs --scheduler"):
        run_sweep(sweep, backend="dask")
    with pytest.raises(NpusimError, match="--scheduler needs --backend dask"):
        run_sweep(sweep, scheduler="tcp://127.0.0.1:1")


def test_progress_bar_run_gives_the_same_rows(capsys):
    sweep = spec(fusion=["rules", "dp"], grid={DDR: [34.0, 68.3]})
    assert run_sweep(sweep, n_jobs=1, progress=True) == run_sweep(sweep, n_jobs=1)
    assert capsys.readouterr().out == ""     # the bar goes to stderr
