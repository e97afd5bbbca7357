"""Every zoo model and every real graph in the onnx wheel simulates on every bundled chip,
from the command line, exit 0."""

from __future__ import annotations

import pytest

from npusim import zoo
from npusim.cli import main
from tests.conftest import light_models

# The first chips; the board profiles of issue 12 run the zoo in tests/hw/test_board_profiles.py
CHIPS = ["j5", "orin-agx-dla", "orin-agx-gpu", "orin-agx-gpu-15w", "orin-agx-gpu-30w",
         "orin-agx-gpu-50w", "orin-agx-gpu-maxn", "orin-nx-gpu"]
MODELS = [f"zoo:{name}" for name in zoo.names()] + [str(p) for p in light_models()]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.rsplit("/", 1)[-1])
def test_model_simulates_on_every_chip(model, capsys):
    for chip in CHIPS:
        assert main(["simulate", model, "--chip", chip, "--quiet"]) == 0, chip
        out = capsys.readouterr().out
        assert f"on {chip} (int8, fusion dp): latency" in out
