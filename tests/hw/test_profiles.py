"""Chip profiles: bundled figures against FACTS.md, `extends:`, and profile errors."""

from __future__ import annotations

import json

import pytest

from npusim.errors import ProfileError
from npusim.hw import bundled_profiles, chip_schema, load_chip
from npusim.ir import Precision


def test_bundled_profiles_are_the_chips_boards_and_orin_power_modes():
    assert set(bundled_profiles()) == {
        "j5", "orin-agx-gpu", "orin-agx-dla", "orin-nx-gpu", "orin-agx-gpu-maxn",
        "orin-agx-gpu-50w", "orin-agx-gpu-30w", "orin-agx-gpu-15w",
        "orin-nano", "orin-nano-super", "rdk-x5", "rdk-s100", "rdk-s100p", "j6e", "j6m",
        "tda4vm", "ascend-310", "orin-agx"}


def test_orin_gpu_dense_peaks_match_facts():
    gpu = load_chip("orin-agx-gpu").unit("gpu")
    assert gpu.peak_tops(Precision.FP16) == pytest.approx(42.6, abs=0.1)
    assert gpu.peak_tops(Precision.INT8) == pytest.approx(85.2, abs=0.2)
    assert gpu.peak_tops(Precision.FP32) == pytest.approx(5.3, abs=0.05)


def test_orin_nx_extends_agx_and_overrides_by_name():
    nx = load_chip("orin-nx-gpu")
    assert nx.unit("gpu").count.value == 8 and nx.unit("gpu").clock_MHz.value == 918
    assert nx.dram.bandwidth_GBps.value == 102.4
    # inherited unchanged from the AGX profile
    assert nx.unit("gpu").macs_per_cycle[Precision.FP16].value == 1024
    assert nx.dram.efficiency.value == 0.87


def test_dla_profile_prefers_dla_and_keeps_gpu_fallback():
    chip = load_chip("orin-agx-dla")
    assert [u.name for u in chip.ordered_units] == ["dla", "gpu"]
    assert chip.unit("dla").runs("Conv") and not chip.unit("dla").runs("LayerNormalization")


def test_j5_unpublished_figures_are_estimated():
    est = load_chip("j5").estimated_figures()
    assert "compute_units[bpu].clock_MHz" in est
    assert "memory[ddr].bandwidth_GBps" in est
    assert "compute_units[bpu].count" not in est  # 2 cores is published


def test_every_figure_has_a_source_or_a_reason():
    for name in bundled_profiles():
        for path, fig in load_chip(name).figures():
            kinds = [k for k in ("source", "estimated", "calibrated") if getattr(fig, k)]
            assert len(kinds) == 1, f"{name}: {path}"


def test_user_profile_extends_a_bundled_one(tmp_path):
    (tmp_path / "j5x.yaml").write_text(
        "extends: j5\nname: j5-big-sram\ndescription: what if SRAM were 8 MiB\n"
        "memory:\n  - name: sram\n    capacity_bytes: {value: 8388608, estimated: what-if}\n")
    chip = load_chip(tmp_path / "j5x.yaml")
    assert chip.name == "j5-big-sram"
    sram = next(m for m in chip.memory if m.name == "sram")
    assert sram.capacity_bytes.value == 8 * 2**20
    assert sram.bandwidth_GBps.value == 2048.0  # inherited


def test_extends_relative_to_the_file(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: orin-agx-gpu\nname: a\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\nname: b\n")
    assert load_chip(tmp_path / "b.yaml").unit("gpu").count.value == 16


@pytest.mark.parametrize("body, message", [
    ("compute_units:\n  - name: gpu\n    clock_GHz: {value: 1.3, source: x}\n",
     r"compute_units\[gpu\]\.clock_GHz: unknown field \(did you mean 'clock_MHz'\?\)"),
    ("compute_units:\n  - name: gpu\n    clock_MHz: 1300\n",
     r"compute_units\[gpu\]\.clock_MHz: a number needs its provenance"),
    ("memory:\n  - name: dram\n    bandwidth_GBps: {value: 100}\n",
     r"memory\[dram\]\.bandwidth_GBps: .*exactly one of 'source'"),
    ("unit_order: [npu]\n", "unit_order names 'npu'"),
])
def test_bad_profiles_name_the_field(tmp_path, body, message):
    path = tmp_path / "bad.yaml"
    path.write_text("extends: orin-agx-gpu\n" + body)
    with pytest.raises(ProfileError, match=message):
        load_chip(path)


def test_unknown_chip_lists_the_bundled_ones():
    with pytest.raises(ProfileError,
                       match="unknown chip 'j6': bundled profiles are ascend-310, j5, j6e, j6m"):
        load_chip("j6")


def test_invalid_yaml_and_extends_loop(tmp_path):
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ProfileError, match="not valid YAML at line"):
        load_chip(tmp_path / "bad.yaml")
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\nname: x\n")
    with pytest.raises(ProfileError, match="loops back"):
        load_chip(tmp_path / "loop.yaml")


def test_json_schema_forbids_extra_fields():
    schema = chip_schema()
    json.dumps(schema)
    unit = schema["$defs"]["ComputeUnit"]
    assert unit["additionalProperties"] is False
    assert "clock_MHz" in unit["properties"]
