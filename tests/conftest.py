"""Shared fixtures: paths of the real exported models and small graph builders."""

from __future__ import annotations

import os
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

DATA = Path(__file__).parent / "data"
LIGHT = Path(os.path.dirname(onnx.__file__)) / "backend" / "test" / "data" / "light"


def light_models() -> list[Path]:
    """The real model-zoo graphs (placeholder weights) shipped inside the onnx wheel."""
    return sorted(LIGHT.glob("*.onnx"))


@pytest.fixture
def bert_path() -> Path:
    return DATA / "bert_tiny_hf.onnx"


@pytest.fixture
def cnn_path() -> Path:
    return DATA / "small_cnn_dynamo.onnx"


def make_model(nodes, inputs, outputs, initializers=(), opset: int = 17, value_info=()
               ) -> onnx.ModelProto:
    """A checked ModelProto that onnxruntime also loads (IR version 8)."""
    graph = helper.make_graph(list(nodes), "test", list(inputs), list(outputs),
                              initializer=list(initializers), value_info=list(value_info))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def vi(name: str, dims, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, dims)


def quantize_qdq(src, dst, size: int = 64) -> None:
    """Per-channel int8 QDQ model of `src` by onnxruntime.quantization (test dependency),
    calibrated on one random image (uint8 activations, as onnxruntime fuses them on x86)."""
    quant = pytest.importorskip("onnxruntime.quantization")
    import numpy as np

    class Reader(quant.CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.feeds = iter([{"input": rng.normal(size=(1, 3, size, size)).astype(np.float32)}])

        def get_next(self):
            return next(self.feeds, None)

    quant.quantize_static(str(src), str(dst), Reader(), quant_format=quant.QuantFormat.QDQ,
                          per_channel=True, activation_type=quant.QuantType.QUInt8,
                          weight_type=quant.QuantType.QInt8)
