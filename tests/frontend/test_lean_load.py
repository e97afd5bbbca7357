"""Weights left on disk change nothing: the lean load gives the graph, latency, DDR bytes and
MACs of the plain onnx.load path (`weights="eager"`, today's full load kept as the oracle)."""

from __future__ import annotations

import mmap

import numpy as np
import onnx
import pytest

import npusim
from npusim import zoo
from npusim.frontend import load_graph
from npusim.frontend.load import LARGE_BYTES
from npusim.ir.deferred import Deferred
from npusim.ir.passes import canonicalize
from tests.conftest import DATA

EXPORTS = {"bert_tiny_hf": "input_ids:1x64,attention_mask:1x64", "small_cnn_dynamo": None,
           "torch_det_ts": "x:1x3x64x64", "torch_det_dynamo": None, "torch_enc_ts": "ids:1x16",
           "torch_enc_dynamo": "ids:1x16"}


def _signature(g):
    nodes = [(n.name, n.op_type, n.inputs, n.outputs, sorted(map(str, n.attrs.items())))
             for n in g.nodes]
    tensors = {k: (t.shape, t.dtype, t.is_constant) for k, t in g.tensors.items()}
    return nodes, tensors, g.inputs, g.outputs


def _same_graph(lean, eager, values: bool = True):
    assert _signature(lean) == _signature(eager)
    if values:
        for name, t in eager.tensors.items():
            if t.is_constant:
                np.testing.assert_array_equal(lean.tensors[name].data, t.data, err_msg=name)


def _same_totals(lean, eager):
    for chip in ("j5", "orin-agx-gpu"):
        a = npusim.simulate(lean, chip, fusion="rules").totals
        b = npusim.simulate(eager, chip, fusion="rules").totals
        assert (a.latency_ms, a.ddr_bytes_per_frame, a.macs) == \
            (b.latency_ms, b.ddr_bytes_per_frame, b.macs)


@pytest.mark.parametrize("name", EXPORTS)
def test_bundled_exports_load_lean_exactly_as_eager(name):
    path = DATA / f"{name}.onnx"
    lean = load_graph(path, EXPORTS[name])
    eager = load_graph(path, EXPORTS[name], weights="eager")
    _same_graph(lean, eager)
    _same_totals(canonicalize(lean), canonicalize(eager))


@pytest.mark.parametrize("name", zoo.names())
def test_zoo_models_load_lean_exactly_as_eager(name):
    model = zoo.build(name, weights="light")
    lean, eager = load_graph(model), load_graph(model, weights="eager")
    _same_graph(lean, eager, values=False)
    _same_totals(canonicalize(lean), canonicalize(eager))


def test_weights_of_a_file_are_memory_mapped_not_read(tmp_path):
    model = zoo.build("resnet18", weights="random")
    path = tmp_path / "r18.onnx"
    onnx.save(model, path)
    lean = load_graph(path)
    big = [t for t in lean.tensors.values()
           if t.is_constant and t.nbytes >= LARGE_BYTES and isinstance(t.value, Deferred)]
    assert len(big) > 20
    assert all(t.value._array is None for t in big)  # nothing read while loading
    _same_graph(lean, load_graph(path, weights="eager"))
    assert _is_mapped(big[0].data)  # read on demand, mapped from the file, not copied


def _is_mapped(a) -> bool:
    while a is not None:
        if isinstance(a, (np.memmap, mmap.mmap)):
            return True
        a = getattr(a, "base", None)
    return False


def test_external_data_export_maps_its_data_file():
    lean = load_graph(DATA / "torch_enc_dynamo.onnx", "ids:1x16")
    mapped = [t for t in lean.tensors.values() if isinstance(t.value, Deferred)]
    assert mapped and not lean.notes
    assert all(_is_mapped(t.data) for t in mapped if t.dtype.numpy == np.float32)


def test_numerics_reads_the_mapped_weights_right():
    # weights mapped from the external data file, BN folded on demand: onnxruntime's outputs
    ort = pytest.importorskip("onnxruntime")
    from npusim.numerics import run_numerics
    path = DATA / "torch_enc_dynamo.onnx"
    x = np.random.default_rng(0).integers(0, 100, size=(1, 16)).astype(np.int64)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = sess.run(None, {sess.get_inputs()[0].name: x})
    graph = npusim.load(path, "ids:1x16")
    deferred = [t.value for t in graph.tensors.values() if isinstance(t.value, Deferred)]
    assert deferred and all(d._array is None for d in deferred)
    result = run_numerics(graph, {graph.inputs[0]: x}, precision="fp16", layerwise=False)
    for got, want in zip(result.reference_outputs.values(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_batchnorm_folded_into_mapped_weights_matches_onnxruntime(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from onnx import helper, numpy_helper

    from npusim.numerics import run_numerics
    from tests.conftest import make_model, vi
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.normal(size=s).astype(np.float32) * 0.1, n)
             for n, s in (("w", (64, 16, 3, 3)), ("scale", (64,)), ("bias", (64,)),
                          ("mean", (64,)))]
    inits.append(numpy_helper.from_array(rng.uniform(0.5, 1.5, 64).astype(np.float32), "var"))
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"],
                              ["y"], name="bn")]
    path = tmp_path / "convbn.onnx"
    onnx.save(make_model(nodes, [vi("x", [1, 16, 8, 8])], [vi("y", [1, 64, 8, 8])], inits), path)
    graph = npusim.load(path)
    assert [n.name for n in graph.nodes] == ["conv+bn"]
    assert all(isinstance(t.value, Deferred) for t in graph.constants)
    x = rng.normal(size=(1, 16, 8, 8)).astype(np.float32)
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0]
    result = run_numerics(graph, {"x": x}, precision="fp16", layerwise=False)
    np.testing.assert_allclose(result.reference_outputs["y"], expected, rtol=1e-4, atol=1e-4)
