"""Speed of the bit-accurate executor: int8 ResNet-50 (224x224, batch 1, per-channel U8S8 QDQ
from onnxruntime.quantization) through npusim, against onnxruntime on the same model.

Run with `pytest benchmarks/bench_numerics.py`; prints the npusim / onnxruntime time ratio,
with both at their default thread counts and with both pinned to one thread (numba
set_num_threads(1), onnxruntime intra_op_num_threads=1), the ratio that other work on the
machine disturbs least. Runs of the two alternate, so load hits both alike.
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


def test_resnet50_int8_single_thread_vs_onnxruntime(resnet50_qdq):
    import numba

    from npusim.numerics.executor import execute
    from npusim.numerics.fusion import fuse
    from npusim.numerics.load import load_model
    from npusim.numerics.ops.context import Context

    path, x = resnet50_qdq
    graph, cores = load_model(path)
    graph = fuse(graph, required=cores)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        theirs = sess.run(None, x)[0]
        ours = execute(graph, x, Context())[graph.outputs[0]]
        assert ours.tobytes() == theirs.tobytes()
        ort_times, our_times = [], []
        for _ in range(7):  # alternate, so load hits both alike
            t0 = time.perf_counter()
            sess.run(None, x)
            ort_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            execute(graph, x, Context())
            our_times.append(time.perf_counter() - t0)
    finally:
        numba.set_num_threads(before)
    ours_s, ort_s = statistics.median(our_times), statistics.median(ort_times)
    print(f"\n1 thread: npusim {ours_s * 1e3:.1f} ms, onnxruntime {ort_s * 1e3:.1f} ms, ratio "
          f"{ours_s / ort_s:.1f}x (target <= 3x)")
