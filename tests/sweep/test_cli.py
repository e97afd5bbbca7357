"""`npusim sweep` end to end through the subcommand's own parser: tables, CSV, PNG, errors."""

from __future__ import annotations

import argparse

import pytest
from rich.console import Console

from npusim.errors import NpusimError
from npusim.sweep import cli, read_csv
from tests.sweep.helpers import SMALL_CNN


def _run(*argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    console = Console(width=200, record=True, force_terminal=False)
    code = cli.main(parser.parse_args(argv), console)
    return code, console.export_text()


def test_sweep_command_writes_csv_and_png(tmp_path):
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        f"base_chip: j5\nmodels: ['{SMALL_CNN}']\nfusion: [dp, rules]\n"
        "overrides:\n  grid:\n    memory.sram.capacity_bytes: [1048576, 4194304]\n"
        "    memory.ddr.bandwidth_GBps: [34, 68.3]\n")
    out, png = tmp_path / "r.csv", tmp_path / "front.png"
    code, text = _run(str(spec), "-j", "1", "-o", str(out), "--plot", str(png),
                      "--x", "memory.ddr.bandwidth_GBps")
    assert code == 0
    assert "sweep: 8 points, best latency per model" in text
    assert "small_cnn_dynamo.onnx" in text
    assert "Pareto front (latency_ms vs memory.ddr.bandwidth_GBps, per model):" in text
    assert len(read_csv(out).rows) == 8
    assert png.read_bytes().startswith(b"\x89PNG")


def test_sweep_command_reports_a_bad_spec(tmp_path):
    spec = tmp_path / "sweep.yaml"
    spec.write_text("base_chip: j5\nmodels: [zoo:resnet18]\n"
                    "overrides: {grid: {memory.sram.size: [1]}}\n")
    with pytest.raises(NpusimError, match="override path 'memory.sram.size'"):
        _run(str(spec))


def test_a_model_with_dynamic_dims_is_named_before_any_point_runs(tmp_path, monkeypatch):
    import onnx
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, "h", "w"])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                                                [x], [y]))
    onnx.save(model, tmp_path / "dyn.onnx")
    spec = tmp_path / "sweep.yaml"
    spec.write_text("base_chip: j5\nmodels: [dyn.onnx]\n"
                    "overrides: {grid: {memory.sram.capacity_bytes: [1048576, 2097152]}}\n")
    monkeypatch.setattr(cli, "run_points", lambda *a, **k: pytest.fail("the sweep ran"))
    with pytest.raises(NpusimError, match=r"models: dyn\.onnx: model inputs have dynamic "
                                          r"dims.*that model entry's `shapes:`"):
        _run(str(spec))


@pytest.mark.parametrize("flags, message", [
    (("-o", "r.xlsx"), "use a .csv or .parquet file"),
    (("--plot", "front.jpg"), "use a .png, .svg, .pdf file"),
    (("--x", "memory.sram.size"), "--x 'memory.sram.size' is not a column of this sweep"),
    (("--y", "latency"), "--y 'latency' is not a column"),
])
def test_output_mistakes_are_caught_before_the_run(tmp_path, monkeypatch, flags, message):
    spec = tmp_path / "sweep.yaml"
    spec.write_text("base_chip: j5\nmodels: [zoo:resnet18]\n"
                    "overrides: {grid: {memory.sram.capacity_bytes: [1048576]}}\n")
    monkeypatch.setattr(cli, "run_points", lambda *a, **k: pytest.fail("the sweep ran"))
    with pytest.raises(NpusimError, match=message.replace(".", r"\.")):
        _run(str(spec), *flags)
