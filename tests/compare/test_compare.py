"""`compare_dumps` on hand-made dumps: metrics against hand-computed values, an injected
divergence found at exactly its layer (one frame and many), layouts and raw int8 dumps."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from npusim.errors import NpusimError
from npusim.numerics.dumps import Thresholds, compare_dumps

LAYERS = ("stem", "block1", "block2", "block3", "head")


def _layers(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal((1, 4, 3, 3)).astype(np.float32) for n in LAYERS}


def _manifest(folder, entries, layout="NCHW"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps({"layout": layout, "layers": entries}))


def test_metrics_are_the_hand_computed_ones(tmp_path):
    ref = np.array([1.0, 2.0, 3.0, 4.0], np.float32).reshape(1, 1, 2, 2)
    noise = np.array([0.5, -0.5, 0.5, -0.5], np.float32).reshape(1, 1, 2, 2)
    np.savez(tmp_path / "r.npz", t=ref)
    np.savez(tmp_path / "s.npz", t=ref + noise)
    r = compare_dumps(str(tmp_path / "r.npz"), str(tmp_path / "s.npz"))
    s = r.layers[0]
    # signal 1+4+9+16 = 30, noise 4 * 0.25 = 1: SQNR = 10 log10 30
    assert s.sqnr_db_median == pytest.approx(10 * math.log10(30.0), abs=1e-6)
    # ref . sim = 30 + (0.5 - 1 + 1.5 - 2) = 29; |sim|^2 = 1.5^2 + 1.5^2 + 3.5^2 + 3.5^2 = 29
    assert s.cosine_median == pytest.approx(29 / math.sqrt(30 * 29), abs=1e-9)
    assert s.max_abs_error == pytest.approx(0.5)
    # 14.77 dB < 20 dB: the default bound calls it divergent, cosine 0.983 < 0.99 too
    assert r.first_divergent_layer == "t"
    loose = compare_dumps(str(tmp_path / "r.npz"), str(tmp_path / "s.npz"),
                          Thresholds(min_cosine=0.98, min_sqnr_db=14.0))
    assert loose.first_divergent_layer is None


def test_injected_divergence_in_one_npz_is_found_at_that_layer(tmp_path):
    ref = _layers()
    sim = dict(ref)
    sim["block2"] = ref["block2"] * -1.0        # cosine exactly -1
    sim["block3"] = ref["block3"] + 1e-4        # tiny, far above the SQNR bound
    np.savez(tmp_path / "ref.npz", **ref)
    np.savez(tmp_path / "sim.npz", **sim)
    r = compare_dumps(str(tmp_path / "ref.npz"), str(tmp_path / "sim.npz"))
    assert r.first_divergent_layer == "block2"
    assert [s.layer for s in r.layers] == list(LAYERS)          # .npz member order
    by = {s.layer: s for s in r.layers}
    assert by["block2"].cosine_median == pytest.approx(-1.0)
    assert by["stem"].sqnr_db_median == math.inf and by["block3"].frames_divergent == 0
    d = r.to_dict()
    assert d["first_divergent_layer"] == "block2" and d["layers"][0]["sqnr_db_median"] == "inf"
    assert json.dumps(d, sort_keys=True) == json.dumps(r.to_dict(), sort_keys=True)


def test_many_frames_report_the_distribution_and_each_frames_first_layer(tmp_path):
    entries = [{"name": n, "file": f"{n}.npy"} for n in LAYERS]
    for side in ("ref", "sim"):
        _manifest(tmp_path / side, entries)         # one manifest for every frame
    for i in range(6):
        ref = _layers(i)
        sim = dict(ref)
        if i == 2:
            sim["block3"] = np.zeros_like(ref["block3"]) + 1.0
        if i == 4:
            sim["block1"] = ref["block1"] + ref["block1"]   # 2x: noise = signal, 0 dB
        for side, arrays in (("ref", ref), ("sim", sim)):
            (tmp_path / side / f"frame{i}").mkdir()
            for n, a in arrays.items():
                np.save(tmp_path / side / f"frame{i}" / f"{n}.npy", a)
    (tmp_path / "ref" / "frame9").mkdir()         # a frame the board did not dump
    for n, a in _layers(9).items():
        np.save(tmp_path / "ref" / "frame9" / f"{n}.npy", a)
    r = compare_dumps(str(tmp_path / "ref"), str(tmp_path / "sim"))
    assert [f.frame for f in r.frames] == [f"frame{i}" for i in range(6)]
    assert {f.frame: f.first_divergent_layer for f in r.frames} == {
        "frame0": None, "frame1": None, "frame2": "block3", "frame3": None,
        "frame4": "block1", "frame5": None}
    assert r.first_divergent_layer == "block1"
    assert r.frames_only_in_ref == ("frame9",)
    b1 = {s.layer: s for s in r.layers}["block1"]
    assert b1.frames == 6 and b1.frames_divergent == 1
    assert b1.sqnr_db_min == pytest.approx(0.0, abs=1e-9)
    assert b1.sqnr_db_p5 == b1.sqnr_db_min            # nearest rank of 6 frames: the lowest
    assert b1.sqnr_db_median == math.inf
    assert b1.cosine_min == pytest.approx(1.0)        # 2x is parallel: cosine alone misses it


def test_nhwc_raw_dump_is_transposed_to_the_nchw_reference(tmp_path):
    ref = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4) - 10.0
    (tmp_path / "ref").mkdir()
    np.save(tmp_path / "ref" / "conv.npy", ref)
    nhwc = ref.transpose(0, 2, 3, 1).copy()
    nhwc[0, 1, 2, 1] += 2.0          # one element off: ref[0, 1, 1, 2] = 8 -> 10
    _manifest(tmp_path / "sim", [{"name": "conv", "file": "conv.bin", "dtype": "float32",
                                  "shape": [1, 3, 4, 2]}], layout="NHWC")
    nhwc.tofile(tmp_path / "sim" / "conv.bin")
    r = compare_dumps(str(tmp_path / "ref"), str(tmp_path / "sim"))
    s = r.layers[0]
    assert s.shape == (1, 2, 3, 4) and s.max_abs_error == pytest.approx(2.0)
    signal = float(np.sum(ref.astype(np.float64) ** 2))
    assert s.sqnr_db_median == pytest.approx(10 * math.log10(signal / 4.0))


def test_raw_int8_dumps_are_dequantized_with_their_scales(tmp_path):
    ref = np.array([[-1.0, 0.0, 0.5, 1.0], [2.0, -2.0, 0.25, 0.75]], np.float32)
    # per tensor: scale 0.25, zero point 4 -> q = ref / 0.25 + 4, second value one step off
    q = (ref / 0.25 + 4).astype(np.int8)
    q[0, 1] += 1
    per_channel = np.stack([ref[0] / 0.5, ref[1] / 0.125]).astype(np.int8)   # exact
    np.savez(tmp_path / "ref.npz", act=ref, logits=ref)
    sim = tmp_path / "sim"
    _manifest(sim, [
        {"name": "act", "file": "act.bin", "dtype": "int8", "shape": [2, 4], "scale": 0.25,
         "zero_point": 4},
        {"name": "logits", "file": "logits.bin", "dtype": "int8", "shape": [2, 4],
         "scale": [0.5, 0.125], "axis": 0}])
    q.tofile(sim / "act.bin")
    per_channel.tofile(sim / "logits.bin")
    r = compare_dumps(str(tmp_path / "ref.npz"), str(sim))
    act, logits = r.layers
    signal = float(np.sum(ref.astype(np.float64) ** 2))      # 10.875
    assert act.max_abs_error == pytest.approx(0.25)
    assert act.sqnr_db_median == pytest.approx(10 * math.log10(signal / 0.0625))
    # the error sits where ref is 0: ref . sim = |ref|^2, |sim|^2 = |ref|^2 + 0.0625
    assert act.cosine_median == pytest.approx(math.sqrt(signal / (signal + 0.0625)), abs=1e-12)
    assert logits.sqnr_db_median == math.inf
    assert r.first_divergent_layer is None        # 22.4 dB, cosine 0.9971: within the bounds


def test_model_gives_the_topological_order(tmp_path):
    rng = np.random.default_rng(3)
    names = ["extra", "head", "block3", "block1+block2", "stem"]     # dumped out of order
    ref = {n: rng.standard_normal(8).astype(np.float32) for n in names}
    np.savez(tmp_path / "r.npz", **ref)
    np.savez(tmp_path / "s.npz", **{n: (-v if n in ("stem", "head") else v)
                                    for n, v in ref.items()})
    r = compare_dumps(str(tmp_path / "r.npz"), str(tmp_path / "s.npz"),
                      model_order=["stem", "block1", "block2", "block3", "head"])
    # a fused name sits at its last node; a name the model lacks goes last, with a note
    assert [s.layer for s in r.layers] == ["stem", "block1+block2", "block3", "head", "extra"]
    assert r.first_divergent_layer == "stem" and r.order == "model"
    assert "extra" in r.notes[0]
    assert compare_dumps(str(tmp_path / "r.npz"), str(tmp_path / "s.npz")
                         ).first_divergent_layer == "head"          # file order: head first


def test_shape_mismatch_names_the_layer_and_both_shapes(tmp_path):
    np.savez(tmp_path / "r.npz", conv=np.zeros((1, 2, 3, 4), np.float32))
    np.savez(tmp_path / "s.npz", conv=np.zeros((1, 2, 4, 3), np.float32))
    with pytest.raises(NpusimError, match=r"layer 'conv'.*\(1, 2, 3, 4\).*\(1, 2, 4, 3\)"):
        compare_dumps(str(tmp_path / "r.npz"), str(tmp_path / "s.npz"))
    # size-1 axes alone may differ (one tool keeps the batch axis)
    np.savez(tmp_path / "r.npz", fc=np.ones((1, 10), np.float32))
    np.savez(tmp_path / "s.npz", fc=np.ones((10,), np.float32))
    assert compare_dumps(str(tmp_path / "r.npz"), str(tmp_path / "s.npz")).layers[0].frames == 1


def test_nan_in_a_dump_is_a_divergence_not_a_crash(tmp_path):
    ref = _layers()
    sim = dict(ref)
    sim["block1"] = ref["block1"].copy()
    sim["block1"][0, 0, 0, 0] = np.nan
    np.savez(tmp_path / "r.npz", **ref)
    np.savez(tmp_path / "s.npz", **sim)
    r = compare_dumps(str(tmp_path / "r.npz"), str(tmp_path / "s.npz"))
    assert r.first_divergent_layer == "block1"
    assert r.frames[0].layers[1].nonfinite == 1


def test_frames_as_npz_files_pair_by_stem(tmp_path):
    for side in ("ref", "sim"):
        (tmp_path / side).mkdir()
    for i in (1, 2, 10):                      # natural order: 1, 2, 10
        ref = _layers(i)
        sim = dict(ref, head=ref["head"] * 0.5 + 3.0) if i == 10 else ref
        np.savez(tmp_path / "ref" / f"cam{i}.npz", **ref)
        np.savez(tmp_path / "sim" / f"cam{i}.npz", **sim)
    r = compare_dumps(str(tmp_path / "ref"), str(tmp_path / "sim"))
    assert [f.frame for f in r.frames] == ["cam1", "cam2", "cam10"]
    assert [f.first_divergent_layer for f in r.frames] == [None, None, "head"]
    assert r.first_divergent_layer == "head"
