"""Whole-process `npusim simulate` on real-size models: BERT-large with random weights, a
7B-parameter decoder step with a KV cache (sparse external data), and zoo:resnet50.

Each round is a fresh `python -m npusim.cli` process, timed with its peak RSS (os.wait4), so
imports, lean loading, planning and the report all count, as a user sees them.
"""

from __future__ import annotations

import math
import subprocess
import sys

import onnx
import pytest
from onnx import TensorProto, numpy_helper

from npusim import zoo
from npusim.zoo.decoder import build_decoder

DECODER_7B = dict(layers=32, hidden=4096, heads=32, intermediate=11008, vocab=32000)
TARGETS = {"bert-large": (3.0, 1.5e9), "decoder-7b": (15.0, 2.0e9), "resnet50": (1.0, None)}


# A small launcher process spawns the CLI: a child forked straight from this (multi-GB)
# pytest process would inherit its peak RSS in ru_maxrss.
_LAUNCHER = """
import os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss * 1024, os.waitstatus_to_exitcode(status))
"""


def run_cli(*args: str) -> tuple[float, int]:
    """(wall seconds, peak RSS bytes) of one `npusim` process."""
    out = subprocess.run([sys.executable, "-c", _LAUNCHER, sys.executable, "-m", "npusim.cli",
                          *args], capture_output=True, text=True, check=True)
    wall, rss, code = out.stdout.split()
    assert int(code) == 0, out.stderr
    return float(wall), int(rss)


def with_sparse_external_weights(model: onnx.ModelProto, path) -> None:
    """Save a light zoo model with every ConstantOfShape weight turned into an external-data
    initializer of a sparse file (truncate, never written: costs no disk)."""
    graph = model.graph
    shapes = {t.name: t for t in graph.initializer if t.name.endswith("__SHAPE")}
    data_name = f"{path.name}.data"
    offset, nodes, weights = 0, [], []
    for n in graph.node:
        if n.op_type != "ConstantOfShape" or n.input[0] not in shapes:
            nodes.append(n)
            continue
        dims = [int(d) for d in numpy_helper.to_array(shapes[n.input[0]])]
        t = TensorProto(name=n.output[0], data_type=TensorProto.FLOAT, dims=dims,
                        data_location=TensorProto.EXTERNAL)
        length = math.prod(dims) * 4
        for key, value in (("location", data_name), ("offset", offset), ("length", length)):
            t.external_data.add(key=key, value=str(value))
        weights.append(t)
        offset += -(-length // 4096) * 4096
    del graph.node[:]
    graph.node.extend(nodes)
    kept = [t for t in graph.initializer if t.name not in shapes]
    del graph.initializer[:]
    graph.initializer.extend(kept + weights)
    onnx.save(model, path)
    with open(path.parent / data_name, "wb") as f:
        f.truncate(offset)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("real_size")
    bert = root / "bert-large.onnx"
    onnx.save(zoo.build("bert-large", weights="random"), bert)  # 1.3 GB, weights in the file
    dec = root / "decoder-7b.onnx"
    with_sparse_external_weights(build_decoder(dynamic=True, weights="light", **DECODER_7B),
                                 dec)
    return {"bert-large": [str(bert), "--chip", "j5"],
            "decoder-7b": [str(dec), "--chip", "orin-agx-gpu", "--shapes",
                           "batch_size=1,sequence_length=1,past_sequence_length=1023"],
            "resnet50": ["zoo:resnet50", "--chip", "j5"]}


@pytest.mark.parametrize("name", list(TARGETS))
def test_whole_process_simulate(benchmark, models, name):
    runs = []

    def once():
        runs.append(run_cli("simulate", *models[name], "-q"))

    benchmark.pedantic(once, rounds=3, iterations=1)
    walls = sorted(r[0] for r in runs)
    peak = max(r[1] for r in runs)
    benchmark.extra_info.update(median_wall_s=round(walls[1], 3), peak_rss_MB=round(peak / 1e6))
    wall_target, rss_target = TARGETS[name]
    assert walls[1] < wall_target, f"{name}: median {walls[1]:.2f} s"
    assert rss_target is None or peak < rss_target, f"{name}: peak RSS {peak / 1e6:.0f} MB"
