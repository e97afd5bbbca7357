"""docs/profiles.md is the generated listing of every figure of every bundled profile."""

from __future__ import annotations

from pathlib import Path

from npusim.hw import bundled_profiles, load_chip
from npusim.hw.profiles_doc import render, written_in

DOC = Path(__file__).resolve().parents[2] / "docs" / "profiles.md"


def test_docs_profiles_md_is_current():
    assert DOC.read_text() == render(), (
        "docs/profiles.md is stale: python -m npusim.hw.profiles_doc > docs/profiles.md")


def test_every_figure_of_every_profile_has_a_row():
    text = DOC.read_text()
    for name in bundled_profiles():
        section = text.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
        for path, _ in load_chip(name).figures():
            assert f"| `{path}` |" in section, (name, path)


def test_inherited_figures_name_the_file_that_writes_them():
    # orin-nano-super -> orin-nano -> orin-nx-gpu -> orin-agx-gpu
    assert written_in("orin-nano-super", "compute_units[gpu].macs_per_cycle.fp16") == \
        "orin-agx-gpu"
    assert written_in("orin-nano-super", "memory[dram].capacity_bytes") == "orin-nano"
    assert written_in("orin-nano-super", "compute_units[gpu].clock_MHz") is None
    assert written_in("j6m", "compute_units[bpu].array.input_channels") == "rdk-s100"
