"""Sweep specs: validation errors say what is wrong and where; points enumerate in order."""

from __future__ import annotations

import pytest

from npusim.errors import NpusimError
from npusim.hw import Chip, load_chip
from npusim.sweep import expand, load_spec
from npusim.sweep.spec import OVERRIDE_REASON, apply, canonical_path

from tests.sweep.helpers import SMALL_CNN, MiB, spec


def _error(data) -> str:
    with pytest.raises(NpusimError) as e:
        expand(load_spec(data))
    return str(e.value)


@pytest.mark.parametrize("path, expected", [
    ("memory.sram.capacity_byte", ["'capacity_byte'", "capacity_bytes", "bandwidth_GBps"]),
    ("memory.l3.capacity_bytes", ["'l3'", "sram, ddr"]),
    ("compute_unit.bpu.clock_MHz", ["'compute_unit'", "compute_units"]),
    ("memory.sram", ["ends at a group", "capacity_bytes"]),
    ("memory.sram.capacity_bytes.value.x", ["single value"]),
    ("compute_units.bpu.macs_per_cycle.fp16", ["'fp16'", "int8, int16"]),
])
def test_bad_override_path_names_the_path_and_what_is_there(path, expected):
    msg = _error(spec(grid={path: [1]}))
    assert f"override path '{path}'" in msg
    for text in expected:
        assert text in msg


def test_unknown_key_is_named_with_the_keys_allowed():
    msg = _error({**spec(), "fusions": ["dp"]})
    assert msg.startswith("sweep spec: fusions: unknown key") and "fusion" in msg
    msg = _error(spec(grid={"memory.sram.capacity_bytes": [MiB]}) | {"overrides": {
        "grid": {"memory.sram.capacity_bytes": [MiB]}, "grd": {}}})
    assert "overrides.grd: unknown key" in msg and "grid, points" in msg
    msg = _error(spec(models=[{"model": SMALL_CNN, "shape": "x:1"}]))
    assert "models[0].shape: unknown key" in msg and "shapes" in msg


def test_empty_grid_and_empty_values_are_refused():
    assert "'grid' is empty" in _error(spec(grid={}))
    msg = _error(spec(grid={"memory.sram.capacity_bytes": [MiB], "memory.ddr.bandwidth_GBps": []}))
    assert "'memory.ddr.bandwidth_GBps' has no values" in msg
    assert "'points' is empty" in _error(spec(points=[]))
    both = spec(grid={"memory.sram.capacity_bytes": [MiB]})
    both["overrides"]["points"] = [{"memory.sram.capacity_bytes": MiB}]
    assert "exactly one of 'grid'" in _error(both)


def test_bad_values_models_and_strategies_are_named():
    assert "unknown fusion strategy 'fast'" in _error(spec(fusion=["fast"]))
    assert "unknown precision 'int3'" in _error(spec(precision=["int3"]))
    assert "unknown zoo model 'zoo:resnet51'" in _error(spec(models=["zoo:resnet51"]))
    assert "'missing.onnx' does not exist" in _error(spec(models=["missing.onnx"]))
    assert "models: List should have at least 1 item" in _error(spec(models=[]))
    assert "unknown chip 'j6'" in _error({**spec(), "base_chip": "j6"})
    msg = _error(spec(grid={"memory.sram.capacity_bytes": ["big"]}))
    assert "'memory.sram.capacity_bytes' is a number; got 'big'" in msg
    # a value of the right type that the chip schema still refuses names the point
    msg = _error(spec(grid={"memory.sram.scope": ["everywhere"]}))
    assert "memory.sram.scope='everywhere'" in msg and "invalid chip" in msg


def test_grid_enumerates_model_then_grid_then_fusion_then_precision():
    grid = {"memory.sram.capacity_bytes": [MiB, 2 * MiB, 4 * MiB],
            "memory.ddr.bandwidth_GBps": [34.0, 68.3]}
    points = expand(load_spec(spec(models=["zoo:resnet18", SMALL_CNN], fusion=["dp", "rules"],
                                   grid=grid, precision=["int8", "int16"])))
    assert len(points) == 2 * 3 * 2 * 2 * 2
    order = [(p.model, *(v for _, v in p.overrides), p.fusion, p.precision) for p in points]
    assert order[:5] == [("zoo:resnet18", MiB, 34.0, "dp", "int8"),
                         ("zoo:resnet18", MiB, 34.0, "dp", "int16"),
                         ("zoo:resnet18", MiB, 34.0, "rules", "int8"),
                         ("zoo:resnet18", MiB, 34.0, "rules", "int16"),
                         ("zoo:resnet18", MiB, 68.3, "dp", "int8")]
    assert order[24][0] == SMALL_CNN and order[23][1:3] == (4 * MiB, 68.3)
    assert len(set(order)) == len(order)


def test_override_becomes_an_estimated_figure_of_a_valid_chip():
    points = expand(load_spec(spec(grid={"memory.sram.capacity_bytes": [8 * MiB],
                                         "compute_units[bpu].clock_MHz": [1200]})))
    chip = Chip.model_validate(points[0].chip)
    assert chip.level("sram").capacity_bytes.value == 8 * MiB
    assert chip.unit("bpu").clock_MHz.value == 1200
    assert chip.unit("bpu").clock_MHz.estimated == OVERRIDE_REASON
    assert chip.unit("bpu").clock_MHz.source is None
    assert points[0].overrides == (("memory.sram.capacity_bytes", 8 * MiB),
                                   ("compute_units.bpu.clock_MHz", 1200))
    base = load_chip("j5")   # everything not overridden is the base chip's
    assert chip.dram == base.dram and chip.unit("cpu") == base.unit("cpu")


def test_a_missing_optional_figure_is_created_and_non_figures_are_set():
    base = load_chip("j5").model_dump(mode="json")
    assert base["memory"][0]["efficiency"] is None
    chip = Chip.model_validate(apply(base, [("memory.sram.efficiency", 0.5),
                                            ("compute_units.bpu.fusion.row_tiling", False)]))
    assert chip.level("sram").efficiency.value == 0.5
    assert chip.level("sram").efficiency.is_estimated
    assert chip.unit("bpu").fusion.row_tiling is False
    assert base["memory"][0]["efficiency"] is None      # the base dict is not touched


def test_points_fill_unnamed_paths_with_the_base_value():
    points = expand(load_spec(spec(points=[{"memory.sram.capacity_bytes": MiB},
                                           {"memory.ddr.bandwidth_GBps": 100.0}])))
    assert [p.overrides for p in points] == [
        (("memory.sram.capacity_bytes", MiB), ("memory.ddr.bandwidth_GBps", 68.3)),
        (("memory.sram.capacity_bytes", 4 * MiB), ("memory.ddr.bandwidth_GBps", 100.0))]


def test_yaml_file_paths_are_relative_to_the_spec(tmp_path):
    (tmp_path / "net.onnx").write_bytes(open(SMALL_CNN, "rb").read())
    (tmp_path / "chip.yaml").write_text("extends: j5\nname: j5-big\n")
    path = tmp_path / "sweep.yaml"
    path.write_text("base_chip: chip.yaml\nmodels: [net.onnx]\nfusion: [rules]\n")
    parsed = load_spec(path)
    assert parsed.base_chip == str(tmp_path / "chip.yaml")
    assert parsed.model_entries[0].model == str(tmp_path / "net.onnx")
    assert expand(parsed)[0].chip["name"] == "j5-big"
    path.write_text("base_chip: j5\nmodels: [net.onnx\n")
    with pytest.raises(NpusimError, match=r"sweep spec '.*sweep.yaml' is not valid YAML"):
        load_spec(path)


def test_canonical_path_accepts_the_figures_form():
    assert canonical_path("compute_units[bpu].clock_MHz") == "compute_units.bpu.clock_MHz"
    paths = {canonical_path(p) for p, _ in load_chip("j5").figures()}
    assert "memory.sram.capacity_bytes" in paths


def test_two_spellings_of_one_path_are_refused():
    msg = _error(spec(grid={"memory.sram.capacity_bytes": [MiB],
                            "memory[sram].capacity_bytes": [2 * MiB]}))
    assert "'memory.sram.capacity_bytes' and 'memory[sram].capacity_bytes' name the same" in msg
