"""Shared sweep-test inputs: a fast real CNN and a spec builder over the j5 profile."""

from __future__ import annotations

from pathlib import Path

SMALL_CNN = str(Path(__file__).parent.parent / "data" / "small_cnn_dynamo.onnx")
MiB = 2**20


def spec(models=(SMALL_CNN,), fusion=("dp",), grid=None, points=None, **extra) -> dict:
    out = {"base_chip": "j5", "models": list(models), "fusion": list(fusion), **extra}
    if grid is not None:
        out["overrides"] = {"grid": grid}
    if points is not None:
        out["overrides"] = {"points": points}
    return out
