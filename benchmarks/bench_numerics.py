"""Speed of the bit-accurate executor: int8 ResNet-50 (224x224, batch 1, per-channel U8S8 QDQ
from onnxruntime.quantization) through npusim, against onnxruntime on the same model; and the
cold start and steady state of `run_numerics` on the zoo's YOLO detector at 640x640.

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


def _quantize(tmp, name, model, x):
    """Per-channel U8S8 QDQ model of `model` from onnxruntime.quantization, calibrated on x."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self, samples):
            self.it = iter(samples)

        def get_next(self):
            return next(self.it, None)

    onnx.save(model, tmp / f"{name}.onnx")
    quant_pre_process(str(tmp / f"{name}.onnx"), str(tmp / f"{name}_pre.onnx"))
    quantize_static(str(tmp / f"{name}_pre.onnx"), str(tmp / f"{name}_qdq.onnx"), Reader([x]),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return tmp / f"{name}_qdq.onnx"


@pytest.fixture(scope="module")
def resnet50_qdq(tmp_path_factory):
    from npusim.zoo import build

    ort.set_default_logger_severity(3)
    x = {"input": np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)}
    return _quantize(tmp_path_factory.mktemp("bench"), "r50", build("resnet50"), x), x


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


@pytest.fixture(scope="module")
def yolo_qdq(tmp_path_factory):
    from npusim.zoo import build

    ort.set_default_logger_severity(3)
    x = np.random.default_rng(0).standard_normal((1, 3, 640, 640)).astype(np.float32)
    d = tmp_path_factory.mktemp("bench_yolo")
    np.save(d / "x.npy", x)
    return _quantize(d, "yolo", build("yolo"), {"input": x}), d / "x.npy"


# each measured in a fresh interpreter: import, load (+ numba cache load / compile), first run
_COLD = {
    "npusim": "from npusim.numerics import run_numerics\n"
              "t1 = time.perf_counter()\n"
              "run_numerics(sys.argv[1], {'input': x}, reference=False)\n",
    "onnxruntime": "import onnxruntime as ort\n"
                   "t1 = time.perf_counter()\n"
                   "s = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])\n"
                   "s.run(None, {'input': x})\n",
}


def _cold_seconds(which, path, x_path) -> tuple[float, float]:
    """(seconds from interpreter start to the first result, seconds without the imports)."""
    import subprocess
    import sys
    code = ("import sys, time\nt0 = time.perf_counter()\nimport numpy as np\n"
            "x = np.load(sys.argv[2])\n" + _COLD[which] +
            "t2 = time.perf_counter()\nprint(t2 - t0, t2 - t1)\n")
    out = subprocess.run([sys.executable, "-c", code, str(path), str(x_path)], check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[-2]), float(out[-1])


def test_yolo_run_numerics_cold_start_vs_onnxruntime(yolo_qdq):
    path, x_path = yolo_qdq
    _cold_seconds("npusim", path, x_path)  # fills the numba cache, as any earlier run would
    ours = [_cold_seconds("npusim", path, x_path) for _ in range(2)]
    theirs = [_cold_seconds("onnxruntime", path, x_path) for _ in range(2)]
    o_all, o_run = min(ours)
    t_all, t_run = min(theirs)
    print(f"\ncold start, YOLO 640: npusim {o_all:.2f} s ({o_run:.2f} s after imports), "
          f"onnxruntime {t_all:.2f} s ({t_run:.2f} s), ratio {o_all / t_all:.1f}x "
          f"({o_run / t_run:.1f}x after imports; target <= 5x)")


def test_yolo_run_numerics_steady_state_vs_onnxruntime(yolo_qdq):
    from npusim.numerics import run_numerics
    from npusim.numerics.executor import execute
    from npusim.numerics.fusion import fuse
    from npusim.numerics.load import load_model
    from npusim.numerics.ops.context import Context

    path, x_path = yolo_qdq
    x = {"input": np.load(x_path)}
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    theirs = sess.run(None, x)
    result = run_numerics(path, x, layerwise=False)
    for out, t in zip(sess.get_outputs(), theirs):
        assert result.outputs[out.name].tobytes() == t.tobytes()  # bit-exact at 640 too
    graph, cores = load_model(path)
    graph = fuse(graph, required=cores)
    runs = {"ort": lambda: sess.run(None, x), "executor": lambda: execute(graph, x, Context()),
            "outputs": lambda: run_numerics(path, x, reference=False),
            "analysis": lambda: run_numerics(path, x, layerwise=False)}
    times = {k: [] for k in runs}
    for _ in range(3):  # alternate, so load hits all alike
        for k, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    print(f"\nsteady state, YOLO 640: onnxruntime {ms['ort']:.0f} ms; npusim executor "
          f"{ms['executor']:.0f} ms ({ms['executor'] / ms['ort']:.1f}x), run_numerics outputs "
          f"only {ms['outputs']:.0f} ms ({ms['outputs'] / ms['ort']:.1f}x; target <= 3x), with "
          f"float reference and per-layer table {ms['analysis']:.0f} ms "
          f"({ms['analysis'] / ms['ort']:.1f}x)")
