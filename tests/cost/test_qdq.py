"""A QDQ model simulated at int8 costs what its float twin costs: Quantize/DequantizeLinear
are folded into the integer kernels (views), not priced as elementwise passes over DRAM."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import npusim
from npusim import zoo


def test_qdq_model_costs_like_its_float_model(tmp_path):
    quant = pytest.importorskip("onnxruntime.quantization")
    src, dst = tmp_path / "f.onnx", tmp_path / "q.onnx"
    onnx.save(zoo.build("resnet18", size=64), src)

    class Reader(quant.CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.feeds = iter([{"input": rng.normal(size=(1, 3, 64, 64)).astype(np.float32)}])

        def get_next(self):
            return next(self.feeds, None)

    quant.quantize_static(str(src), str(dst), Reader(), quant_format=quant.QuantFormat.QDQ,
                          per_channel=True, activation_type=quant.QuantType.QUInt8,
                          weight_type=quant.QuantType.QInt8)
    f = npusim.simulate(src, "orin-agx-gpu")
    q = npusim.simulate(dst, "orin-agx-gpu")
    assert q.totals.macs == f.totals.macs
    assert q.totals.latency_ms == pytest.approx(f.totals.latency_ms, rel=0.1)
    assert not [x for x in q.layers if x.op_types == ("DequantizeLinear",)
                and x.bound_by != "view"]
