"""Speed of the bit-accurate executor: int8 ResNet-50 (224x224, batch 1, per-channel U8S8 QDQ
from onnxruntime.quantization) through npusim, against onnxruntime on the same model.

Run with `pytest benchmarks/bench_numerics.py`; prints the npusim / onnxruntime time ratio.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import onnx
import pytest

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def resnet50_qdq(tmp_path_factory):
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from npusim.zoo import build

    class Reader(CalibrationDataReader):
        def __init__(self, samples):
            self.it = iter(samples)

        def get_next(self):
            return next(self.it, None)

    ort.set_default_logger_severity(3)
    rng = np.random.default_rng(0)
    x = {"input": rng.standard_normal((1, 3, 224, 224)).astype(np.float32)}
    d = tmp_path_factory.mktemp("bench")
    onnx.save(build("resnet50"), d / "r50.onnx")
    quant_pre_process(str(d / "r50.onnx"), str(d / "r50_pre.onnx"))
    quantize_static(str(d / "r50_pre.onnx"), str(d / "r50_qdq.onnx"), Reader([x]),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return d / "r50_qdq.onnx", x


def test_resnet50_int8_executor_vs_onnxruntime(benchmark, resnet50_qdq):
    from npusim.numerics.executor import execute
    from npusim.numerics.fusion import fuse
    from npusim.numerics.load import load_model
    from npusim.numerics.ops.context import Context

    path, x = resnet50_qdq
    graph, cores = load_model(path)
    graph = fuse(graph, required=cores)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    theirs = sess.run(None, x)[0]
    ort_times = []
    for _ in range(5):
        t0 = time.perf_counter()
        sess.run(None, x)
        ort_times.append(time.perf_counter() - t0)
    ort_s = statistics.median(ort_times)

    def run():
        return execute(graph, x, Context())[graph.outputs[0]]

    ours = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    assert ours.tobytes() == theirs.tobytes()  # bit-exact at full size too
    ratio = benchmark.stats.stats.median / ort_s
    benchmark.extra_info.update(onnxruntime_ms=ort_s * 1e3, ratio=ratio)
    print(f"\nnpusim {benchmark.stats.stats.median * 1e3:.1f} ms, onnxruntime "
          f"{ort_s * 1e3:.1f} ms, ratio {ratio:.1f}x (target <= 3x)")
