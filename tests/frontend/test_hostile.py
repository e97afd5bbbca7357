"""Broken and hostile ONNX files: each refused with one clear line naming the tensor or node,
before any long work; external data never read outside the model's folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import npusim
from npusim.errors import ModelLoadError, NpusimError
from npusim.frontend import load_graph
from tests.conftest import make_model, vi

W_SHAPE = (64, 64)  # 16 KiB of float32: large enough to stay on disk


def _matmul_model(weight: TensorProto) -> onnx.ModelProto:
    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")
    return make_model([node], [vi("x", [1, 64])], [vi("y", [1, 64])], [weight])


def _external(tmp_path, location, offset=0, length=None, write=True, folder="model"):
    d = tmp_path / folder
    d.mkdir(exist_ok=True)
    data = np.arange(64 * 64, dtype=np.float32).reshape(W_SHAPE)
    if write:
        (d / "w.bin").write_bytes(data.tobytes())
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=list(W_SHAPE))
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", offset),
                       ("length", data.nbytes if length is None else length)):
        t.external_data.add(key=key, value=str(value))
    path = d / "m.onnx"
    onnx.save(_matmul_model(t), path)
    return path, data


def test_external_data_in_the_folder_is_mapped_and_read_on_demand(tmp_path):
    path, data = _external(tmp_path, "w.bin")
    g = load_graph(path)
    np.testing.assert_array_equal(g.tensor("w").data, data)


def test_absent_external_data_still_prices_with_a_note(tmp_path):
    path, _ = _external(tmp_path, "w.bin", write=False)
    g = load_graph(path)
    assert g.shape("y") == (1, 64)
    assert any("absent" in n and "w.bin" in n for n in g.notes)
    with pytest.raises(ModelLoadError, match="'w.bin', which is absent"):
        g.tensor("w").data
    assert npusim.simulate(path, "j5").totals.macs == 64 * 64
    r = _cli(str(path), "--chip", "j5")
    assert r.returncode == 0 and "note: external data file 'w.bin' is absent" in r.stderr


@pytest.mark.parametrize("location, message", [
    ("../secret.bin", "climbs out"),
    ("sub/../../secret.bin", "climbs out"),
    ("/etc/passwd", "absolute path"),
    ("", "names no file"),
])
def test_external_data_outside_the_folder_is_refused(tmp_path, location, message):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 64 * 64 * 4)
    path, _ = _external(tmp_path, location)
    with pytest.raises(ModelLoadError, match=f"initializer 'w'.*{message}"):
        load_graph(path)


def test_external_data_through_a_symlink_out_of_the_folder_is_refused(tmp_path):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 64 * 64 * 4)
    path, _ = _external(tmp_path, "link.bin")
    os.symlink(tmp_path / "secret.bin", path.parent / "link.bin")
    with pytest.raises(ModelLoadError, match="resolves outside the model's folder"):
        load_graph(path)


@pytest.mark.parametrize("offset, length, message", [
    (8, None, "lie past the end"),
    (0, 100, "length 100 bytes, but dims"),
])
def test_external_data_offsets_and_lengths_are_checked(tmp_path, offset, length, message):
    path, _ = _external(tmp_path, "w.bin", offset=offset, length=length)
    with pytest.raises(ModelLoadError, match=message):
        load_graph(path)


def test_a_graph_with_no_nodes_is_refused():
    model = make_model([], [vi("x", [1])], [vi("x", [1])])
    with pytest.raises(ModelLoadError, match="no nodes"):
        load_graph(model)


def test_an_output_nothing_produces_is_named():
    node = helper.make_node("Relu", ["x"], ["y"], name="r")
    model = make_model([node], [vi("x", [2])], [vi("y", [2]), vi("ghost", [2])])
    with pytest.raises(ModelLoadError, match="graph output 'ghost' is produced by no node"):
        load_graph(model)


def test_two_producers_of_one_tensor_are_named():
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="a"),
             helper.make_node("Neg", ["x"], ["y"], name="b")]
    model = make_model(nodes, [vi("x", [2])], [vi("y", [2])])
    with pytest.raises(ModelLoadError, match="'y' is produced twice, by Relu node 'a' and by "
                       "Neg node 'b'"):
        load_graph(model)


def test_initializer_bytes_that_do_not_match_the_shape_are_named():
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[64, 64], raw_data=b"\0" * 40)
    with pytest.raises(ModelLoadError, match="initializer 'w' holds 40 bytes, but dims "
                       r"\[64, 64\] of FLOAT need 16384"):
        load_graph(_matmul_model(w))
    typed = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[64, 64],
                        float_data=[0.0] * 10)
    with pytest.raises(ModelLoadError, match="holds 10 values"):
        load_graph(_matmul_model(typed))


def test_dims_that_overflow_int64_are_refused():
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2**40, 2**40])
    with pytest.raises(ModelLoadError, match="'w' has dims .* overflows int64"):
        load_graph(_matmul_model(w))
    node = helper.make_node("Relu", ["x"], ["y"])
    model = make_model([node], [vi("x", [2**62, 8])], [vi("y", [None, None])])
    with pytest.raises(ModelLoadError, match="graph input 'x' has dims .* overflows int64"):
        load_graph(model)


def test_negative_dims_are_refused():
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[-3, 64])
    with pytest.raises(ModelLoadError, match=r"'w' has a negative dim: \[-3, 64\]"):
        load_graph(_matmul_model(w))


def test_string_tensors_are_refused():
    w = helper.make_tensor("w", TensorProto.STRING, [2], [b"a", b"b"])
    with pytest.raises(ModelLoadError, match="'w' is a string tensor"):
        load_graph(_matmul_model(w))
    node = helper.make_node("Identity", ["s"], ["t"])
    model = make_model([node], [vi("s", [2], TensorProto.STRING)],
                       [vi("t", [2], TensorProto.STRING)])
    with pytest.raises(ModelLoadError, match="graph input 's' is a string tensor"):
        load_graph(model)


def test_a_truncated_file_is_refused(tmp_path):
    path, _ = _external(tmp_path, "w.bin")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="not a valid ONNX file"):
        load_graph(path)


def test_a_20k_node_chain_loads_in_linear_time():
    n = 20_000
    nodes = [helper.make_node("Relu" if i % 2 else "Neg", [f"t{i}"], [f"t{i + 1}"],
                              name=f"n{i}") for i in range(n)]
    model = make_model(nodes, [vi("t0", [1, 8])], [vi(f"t{n}", [1, 8])])
    start = time.perf_counter()
    g = load_graph(model)
    elapsed = time.perf_counter() - start
    assert len(g.nodes) == n and g.shape(f"t{n}") == (1, 8)
    assert elapsed < 20, f"{elapsed:.1f} s"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "npusim.cli", "simulate", *args, "-q"],
                          capture_output=True, text=True, timeout=120)


def test_hostile_files_get_one_line_and_exit_2_from_the_cli(tmp_path):
    climbing, _ = _external(tmp_path, "../secret.bin", folder="a")
    empty = tmp_path / "empty.onnx"
    onnx.save(make_model([], [vi("x", [1])], [vi("x", [1])]), empty)
    twice = tmp_path / "twice.onnx"
    onnx.save(make_model([helper.make_node("Relu", ["x"], ["y"], name="a"),
                          helper.make_node("Neg", ["x"], ["y"], name="b")],
                         [vi("x", [2])], [vi("y", [2])]), twice)
    for path, words in ((climbing, "climbs out"), (empty, "no nodes"),
                        (twice, "produced twice")):
        r = _cli(str(path), "--chip", "j5")
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0] and "Traceback" not in r.stderr


def test_npusim_error_is_the_base_of_every_refusal():
    assert issubclass(ModelLoadError, NpusimError)
