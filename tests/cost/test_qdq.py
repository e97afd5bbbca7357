"""A QDQ model simulated at int8 costs what its float twin costs: Quantize/DequantizeLinear
are folded into the integer kernels (views), not priced as elementwise passes over DRAM."""

from __future__ import annotations

import onnx
import pytest

import npusim
from npusim import zoo
from tests.conftest import quantize_qdq


def test_qdq_model_costs_like_its_float_model(tmp_path):
    src, dst = tmp_path / "f.onnx", tmp_path / "q.onnx"
    onnx.save(zoo.build("resnet18", size=64), src)
    quantize_qdq(src, dst)
    f = npusim.simulate(src, "orin-agx-gpu")
    q = npusim.simulate(dst, "orin-agx-gpu")
    assert q.totals.macs == f.totals.macs
    assert q.totals.latency_ms == pytest.approx(f.totals.latency_ms, rel=0.1)
    assert not [x for x in q.layers if x.op_types == ("DequantizeLinear",)
                and x.bound_by != "view"]
