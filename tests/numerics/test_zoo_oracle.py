"""Whole models quantized by onnxruntime.quantization.quantize_static (uint8 activations,
per-channel int8 weights), QDQ and QOperator, against the default (fused) onnxruntime CPU
session on five input distributions: ResNet-18, MobileNetV2, the zoo's YOLO detector, a ViT
and a BERT encoder (small configurations) and a ConvNeXt block.

Activations are uint8 (U8S8, onnxruntime's x86 format): with int8 activations onnxruntime on
x86 leaves convs that read a shared DQ unfused and runs them in float MLAS sgemm, whose
summation order no other implementation reproduces. The float LayerNormalization islands (DQ ->
LayerNorm -> Q) follow onnxruntime's kernel on AVX-512F hosts, where it was read; elsewhere
an output may differ only where the run names a LayerNorm island in `divergence`.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest


from npusim.numerics.kernels.mlas import HOST_MLAS
from numerics_oracle import convnext_block, ort_session, run_numerics

SIZE = 64
MODELS = {
    "resnet18": dict(size=SIZE),
    "mobilenetv2": dict(size=SIZE),
    "yolo": dict(size=SIZE),
    "vit": dict(layers=1, hidden=96, heads=2, patch=8, size=32, classes=10),
    "bert": dict(layers=1, hidden=64, heads=2, seq=16, vocab=100),
    "convnext_block": None,
}


def _build(name):
    if name == "convnext_block":
        return convnext_block()
    from npusim.zoo import build
    return build(name, **MODELS[name])


def _feeds(model: onnx.ModelProto, rng, kind="normal"):
    inp = model.graph.input[0]
    shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    if inp.type.tensor_type.elem_type == onnx.TensorProto.INT64:  # token ids
        return {inp.name: rng.integers(0, 100, shape).astype(np.int64)}
    x = {"normal": lambda: rng.standard_normal(shape), "uniform": lambda: rng.random(shape),
         "image": lambda: rng.random(shape) * 255, "zeros": lambda: np.zeros(shape),
         "saturating": lambda: np.where(rng.random(shape) < 0.5, -1e4, 1e4)}[kind]()
    return {inp.name: x.astype(np.float32)}


KINDS = ["normal", "uniform", "image", "zeros", "saturating"]


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self, samples):
            self.it = iter(samples)

        def get_next(self):
            return next(self.it, None)

    d = tmp_path_factory.mktemp("zoo")
    cache = {}

    def get(name, fmt):
        if (name, fmt) not in cache:
            model = _build(name)
            rng = np.random.default_rng(0)
            samples = [_feeds(model, rng) for _ in range(2)]
            if not (d / f"{name}_pre.onnx").exists():
                onnx.save(model, d / f"{name}.onnx")
                quant_pre_process(str(d / f"{name}.onnx"), str(d / f"{name}_pre.onnx"))
            path = d / f"{name}_{fmt}.onnx"
            quantize_static(str(d / f"{name}_pre.onnx"), str(path), Reader(samples),
                            quant_format=getattr(QuantFormat, fmt), per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
            cache[(name, fmt)] = path
        return cache[(name, fmt)]
    return get


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
def test_quantize_static_model_bit_exact(quantized, name, fmt):
    path = quantized(name, fmt)
    model = onnx.load(path)
    session = ort_session(model)
    rng = np.random.default_rng(1)
    ints = model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    for kind in KINDS[:1] if ints else KINDS:
        x = _feeds(model, rng, kind)
        result = run_numerics(path, x, scheme="ort", layerwise=False)
        for out, theirs in zip(session.get_outputs(), session.run(None, x)):
            ours = result.outputs[out.name]
            assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
            if ours.tobytes() != theirs.tobytes():
                assert HOST_MLAS is None, (name, fmt, kind, out.name)
                assert any(d.op_type == "LayerNormalization" for d in result.divergence), (
                    name, fmt, kind, out.name)
