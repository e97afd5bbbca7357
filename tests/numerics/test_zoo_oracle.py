"""Bit-exactness against the default (fused) onnxruntime session on ResNet-18 and
MobileNetV2 quantized by onnxruntime.quantization.quantize_static, QDQ and QOperator.

Activations are uint8 (U8S8, onnxruntime's x86 format): with int8 activations onnxruntime on
x86 leaves convs that read a shared DQ unfused and runs them in float MLAS sgemm, whose
summation order no other implementation reproduces.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from npusim.numerics import run_numerics
from numerics_oracle import ort_session

SIZE = 64


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from npusim.zoo import build

    class Reader(CalibrationDataReader):
        def __init__(self, samples):
            self.it = iter(samples)

        def get_next(self):
            return next(self.it, None)

    rng = np.random.default_rng(0)
    samples = [{"input": rng.standard_normal((1, 3, SIZE, SIZE)).astype(np.float32)}
               for _ in range(3)]
    d = tmp_path_factory.mktemp("zoo")
    out = {}
    for name in ("resnet18", "mobilenetv2"):
        onnx.save(build(name, size=SIZE), d / f"{name}.onnx")
        quant_pre_process(str(d / f"{name}.onnx"), str(d / f"{name}_pre.onnx"))
        for fmt in (QuantFormat.QDQ, QuantFormat.QOperator):
            path = d / f"{name}_{fmt.name}.onnx"
            quantize_static(str(d / f"{name}_pre.onnx"), str(path), Reader(samples[:2]),
                            quant_format=fmt, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
            out[(name, fmt.name)] = path
    return out, samples[2]


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv2"])
@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
def test_quantize_static_model_bit_exact(quantized, name, fmt):
    paths, x = quantized
    path = paths[(name, fmt)]
    theirs = ort_session(onnx.load(path)).run(None, x)[0]
    result = run_numerics(path, x, scheme="ort", layerwise=False)
    ours = result.outputs["logits"]
    assert ours.dtype == theirs.dtype and ours.tobytes() == theirs.tobytes()
    assert any(r.op_type == "QLinearConv" for r in result.layers)
