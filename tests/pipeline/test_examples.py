"""The example pipelines validate and bind to units their chip has."""

from __future__ import annotations

from pathlib import Path

import pytest

from npusim.hw import load_chip
from npusim.hw.units import resolve_unit
from npusim.pipeline.run import default_binding
from npusim.pipeline.spec import chip_ref, load_spec

SPECS = sorted((Path(__file__).resolve().parents[2] / "examples" / "pipelines").glob("*.yaml"))


def test_there_are_camera_and_mlperf_examples():
    names = {p.stem for p in SPECS}
    assert {"cameras-orin-agx", "cameras-j5", "mlperf-retinanet-offline-orin-agx"} <= names


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_example_spec_binds(path):
    spec, root = load_spec(path)
    chip = load_chip(chip_ref(spec, root))
    for entry in spec.models:
        for unit in default_binding(entry, chip).units:
            resolve_unit(chip, unit)
