"""`npusim compare` and `npusim numerics --dump` on the command line: a run's dump against
itself and against a perturbed copy, and every hostile or mistaken input is one line, exit 2."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from npusim.cli import main


def _model(path):
    rng = np.random.default_rng(0)
    f = onnx.TensorProto.FLOAT
    w1 = rng.standard_normal((8, 4, 3, 3)).astype(np.float32) * 0.3
    w2 = rng.standard_normal((8, 8, 1, 1)).astype(np.float32) * 0.3
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2"),
             helper.make_node("Sigmoid", ["c2"], ["y"], name="sigmoid")]
    g = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", f, [1, 4, 8, 8])],
                          [helper.make_tensor_value_info("y", f, [1, 8, 8, 8])],
                          [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    onnx.save(m, path)
    np.savez(path.parent / "x.npz", x=rng.standard_normal((1, 4, 8, 8)).astype(np.float32))


def test_numerics_dump_against_itself_and_a_perturbed_copy(tmp_path, capsys):
    _model(tmp_path / "m.onnx")
    d = tmp_path / "run"
    assert main(["numerics", str(tmp_path / "m.onnx"), "--inputs", str(tmp_path / "x.npz"),
                 "--no-layerwise", "--dump", str(d)]) == 0
    manifest = (d / "manifest.yaml").read_text()
    # int8: conv1+relu1 fused (its output is the model's tensor r1), conv2, float sigmoid
    assert [ln.split(": ")[1] for ln in manifest.splitlines() if ln.startswith("- name")] \
        == ["r1", "c2", "y"]
    assert main(["compare", str(d), str(d), "--json", str(tmp_path / "same.json")]) == 0
    assert main(["compare", str(d), str(d), "--json", str(tmp_path / "again.json")]) == 0
    assert (tmp_path / "again.json").read_bytes() == (tmp_path / "same.json").read_bytes()
    same = json.loads((tmp_path / "same.json").read_text())
    assert same["first_divergent_layer"] is None
    assert all(x["sqnr_db_median"] == "inf" for x in same["layers"])
    # a second dump into the same folder replaces the first
    assert main(["numerics", str(tmp_path / "m.onnx"), "--inputs", str(tmp_path / "x.npz"),
                 "--no-layerwise", "--dump", str(d)]) == 0
    assert (d / "manifest.yaml").read_text() == manifest
    bad = tmp_path / "bad"
    shutil.copytree(d, bad)
    c2 = next(bad.glob("*_c2.npy"))
    a = np.load(c2)
    a[0, 3] = -a[0, 3]
    np.save(c2, a)
    capsys.readouterr()
    assert main(["compare", str(d), str(bad), "--json", str(tmp_path / "bad.json"),
                 "--check"]) == 1
    assert json.loads((tmp_path / "bad.json").read_text())["first_divergent_layer"] == "c2"
    assert "first divergent layer: c2" in capsys.readouterr().out
    # a float run of the same model dumps every node, under the same tensor names
    f = tmp_path / "fp16"
    assert main(["numerics", str(tmp_path / "m.onnx"), "--inputs", str(tmp_path / "x.npz"),
                 "--precision", "fp16", "--dump", str(f)]) == 0
    assert main(["compare", str(f), str(d), "--model", str(tmp_path / "m.onnx"),
                 "--json", str(tmp_path / "f.json")]) == 0
    fj = json.loads((tmp_path / "f.json").read_text())
    assert [x["layer"] for x in fj["layers"]] == ["r1", "c2", "y"] and fj["only_in_ref"] == ["c1"]
    assert fj["first_divergent_layer"] is None      # int8 vs fp16: > 30 dB on every layer


def _raw(folder, entry, data: bytes | None = None):
    folder.mkdir(exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps({"layers": [entry]}))
    if data is not None:
        (folder / entry["file"]).write_bytes(data)


def _cases(tmp_path):
    np.savez(tmp_path / "ref.npz", t=np.ones((1, 2, 2, 2), np.float32))
    outside = tmp_path / "outside.npy"
    np.save(outside, np.ones((1, 2, 2, 2), np.float32))
    cases = {}
    cases["missing REF"] = (["compare", str(tmp_path / "nope"), str(tmp_path / "ref.npz")],
                            "does not exist")
    _raw(tmp_path / "size", {"name": "t", "file": "t.bin", "dtype": "int8",
                             "shape": [1, 2, 2, 2]}, b"\0" * 7)
    cases["raw size"] = (["compare", str(tmp_path / "ref.npz"), str(tmp_path / "size")],
                         "raw file 't.bin' holds 7 bytes but int8 x")
    for key, rel in (("dotdot", "../outside.npy"), ("absolute", str(outside))):
        _raw(tmp_path / key, {"name": "t", "file": rel})
        cases[key] = (["compare", str(tmp_path / "ref.npz"), str(tmp_path / key)],
                      "climbs out" if key == "dotdot" else "absolute path")
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "manifest.json").write_text(
        json.dumps({"layers": [{"name": "t", "file": "t.npy"}]}))
    os.symlink(outside, tmp_path / "link" / "t.npy")
    cases["symlink out"] = (["compare", str(tmp_path / "ref.npz"), str(tmp_path / "link")],
                            "leads outside the dump folder")
    (tmp_path / "pickle").mkdir()
    np.save(tmp_path / "pickle" / "t.npy", np.array([{"a": 1}], dtype=object),
            allow_pickle=True)
    cases["pickled npy"] = (["compare", str(tmp_path / "ref.npz"), str(tmp_path / "pickle")],
                            "Python objects")
    np.savez(tmp_path / "other.npz", t=np.ones((1, 2, 4), np.float32))
    cases["shape"] = (["compare", str(tmp_path / "ref.npz"), str(tmp_path / "other.npz")],
                      "layer 't': REF shape (1, 2, 2, 2)")
    cases["threshold"] = (["compare", str(tmp_path / "ref.npz"), str(tmp_path / "ref.npz"),
                           "--threshold", "cosin=0.9"], "--threshold 'cosin=0.9'")
    (tmp_path / "frames" / "f0").mkdir(parents=True)
    np.save(tmp_path / "frames" / "f0" / "t.npy", np.ones((1, 2, 2, 2), np.float32))
    cases["frames vs one"] = (["compare", str(tmp_path / "frames"), str(tmp_path / "ref.npz")],
                              "one folder or .npz per frame")
    _raw(tmp_path / "yaml", {"name": "t", "file": "t.npy", "colour": "red"})
    cases["manifest field"] = (["compare", str(tmp_path / "ref.npz"), str(tmp_path / "yaml")],
                               "colour")
    (tmp_path / "hostile").mkdir()
    (tmp_path / "hostile" / "manifest.yaml").write_text(
        "layers: !!python/object/apply:os.system ['true']\n")
    cases["yaml tag"] = (["compare", str(tmp_path / "ref.npz"), str(tmp_path / "hostile")],
                         "not valid YAML")
    (tmp_path / "board").mkdir()
    (tmp_path / "board" / "manifest.yaml").write_text("layers:\n  - {name: t, file: t.npy}\n")
    cases["dump over a board dump"] = (["numerics", str(tmp_path / "ref.npz"), "--inputs",
                                        str(tmp_path / "ref.npz"), "--dump",
                                        str(tmp_path / "board")], "is no earlier npusim dump")
    cases["dump into a file"] = (["numerics", str(tmp_path / "ref.npz"), "--inputs",
                                  str(tmp_path / "ref.npz"), "--dump", str(outside)],
                                 "it is a file, not a folder")
    (tmp_path / "truncated.onnx").write_bytes(b"\x08\x07\x12\xff\xff\xff\x0f")
    cases["truncated --model"] = (["compare", str(tmp_path / "ref.npz"), str(tmp_path / "ref.npz"),
                                   "--model", str(tmp_path / "truncated.onnx")],
                                  "is not a valid ONNX file")
    cases["missing --model"] = (["compare", str(tmp_path / "ref.npz"), str(tmp_path / "ref.npz"),
                                 "--model", str(tmp_path / "nope.onnx")], "does not exist")
    return cases


def test_user_mistakes_and_hostile_dumps_are_one_line_exit_2(tmp_path, capsys):
    for label, (argv, needle) in _cases(tmp_path).items():
        capsys.readouterr()
        assert main(argv) == 2, label
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("npusim: error: "), (label, err)
        assert needle in err, (label, err)


def test_symlinks_inside_the_dump_are_fine(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    np.save(d / "real.npy", np.ones(3, np.float32))
    os.symlink(d / "real.npy", d / "t.npy")
    (d / "manifest.yml").write_text("layers:\n  - {name: t, file: t.npy}\n")
    np.savez(tmp_path / "r.npz", t=np.ones(3, np.float32))
    assert main(["compare", str(tmp_path / "r.npz"), str(d)]) == 0


@pytest.mark.parametrize("bad", ["sqnr=abc", "max_abs=inf", "cosine"])
def test_bad_thresholds(tmp_path, bad, capsys):
    np.savez(tmp_path / "r.npz", t=np.ones(3, np.float32))
    assert main(["compare", str(tmp_path / "r.npz"), str(tmp_path / "r.npz"),
                 "--threshold", bad]) == 2
