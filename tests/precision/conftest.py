"""Shared fixtures of the precision tests: a small zoo CNN and the bundled BERT export, their
inputs, and the precision search of each on j5 and orin-agx-gpu (run once per session)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

BERT = Path(__file__).resolve().parents[1] / "data" / "bert_tiny_hf.onnx"
BERT_SHAPES = "batch=1,sequence=16"
# a serving shape: 16 sequences of 128 tokens (2k tokens a call), where the int8 GEMMs pay off
BERT_SERVING = "batch=16,sequence=128"


@pytest.fixture(scope="session")
def cnn() -> onnx.ModelProto:
    from npusim import zoo
    return zoo.build("resnet18", size=32)


@pytest.fixture(scope="session")
def cnn_inputs():
    return {"input": np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)}


@pytest.fixture(scope="session")
def bert_inputs():
    rng = np.random.default_rng(0)
    return {"input_ids": rng.integers(0, 100, (1, 16)).astype(np.int64),
            "attention_mask": np.ones((1, 16), np.int64)}


def bert_serving_inputs(kind: str = "vocab") -> dict[str, np.ndarray]:
    """16 x 128 tokens: ids over the first 100 or the whole vocabulary, or padded rows."""
    rng = np.random.default_rng(11)
    ids = rng.integers(0, 100 if kind == "short-ids" else 1000, (16, 128))
    mask = np.ones((16, 128), np.int64)
    if kind == "padded":
        for row, length in enumerate(rng.integers(40, 129, 16)):
            mask[row, length:] = 0
    return {"input_ids": ids.astype(np.int64), "attention_mask": mask}


@pytest.fixture(scope="session")
def searched(cnn, cnn_inputs, bert_inputs):
    """search(model, chip), with the greedy planner (the exact one takes a second or more
    per point on these graphs; the trade-off does not depend on it)."""
    from npusim.precision.search import search
    cache = {}

    def get(model: str, chip: str):
        if (model, chip) not in cache:
            # one model ranks its layers once, whatever the chip (the ranking is numerics)
            other = next((s for (m, _), s in cache.items() if m == model), None)
            ranking = other.ranking if other is not None else None
            if model == "cnn":
                cache[model, chip] = search(cnn, chip, cnn_inputs, max_moves=3,
                                            target_sqnr_db=35.0 if chip == "j5" else None,
                                            fusion="greedy", ranking=ranking)
            elif model == "bert-serving":
                cache[model, chip] = search(BERT, chip, bert_serving_inputs(),
                                            shapes=BERT_SERVING, max_moves=3, fusion="greedy",
                                            ranking=ranking)
            else:
                cache[model, chip] = search(BERT, chip, bert_inputs, shapes=BERT_SHAPES,
                                            max_moves=3, fusion="greedy", ranking=ranking)
        return cache[model, chip]
    return get
