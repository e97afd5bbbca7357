"""`npusim precision`: from all-int8 the worst layers move one at a time to the chip's higher
precision (int16 on the J5 BPU, fp16 on the Orin GPU); each point has the latency of its plan
and the output SQNR of its bit-accurate run, and the front is a real trade-off."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from npusim import api
from npusim.numerics import run_numerics
from npusim.precision.search import high_precision
from tests.precision.conftest import BERT, BERT_SHAPES

CASES = [("cnn", "j5"), ("cnn", "orin-agx-gpu"), ("bert", "j5"),
         ("bert-serving", "orin-agx-gpu")]


def test_high_precision_of_the_chips():
    from npusim.hw import load_chip
    assert high_precision(load_chip("j5")) == "int16"          # BPU: int16 MACs, no float
    assert high_precision(load_chip("orin-agx-gpu")) == "fp16"  # GPU: no int16 MACs


@pytest.mark.parametrize("model,chip", CASES)
def test_pareto_front_is_a_trade_off(searched, model, chip):
    s = searched(model, chip)
    front = sorted(s.pareto, key=lambda p: (p.latency_ms, p.output_sqnr_db))
    assert len(front) >= 3, [(p.label, p.latency_ms, p.output_sqnr_db) for p in s.points]
    for a, b in zip(front, front[1:]):
        assert a.latency_ms <= b.latency_ms and a.output_sqnr_db < b.output_sqnr_db
    low, top = s.points[0], s.points[-1]
    assert low.moved == () and top.moved == ("*",)
    c = s.chosen_point
    assert low.latency_ms <= c.latency_ms <= top.latency_ms
    assert c.output_sqnr_db >= low.output_sqnr_db
    # every point moved a prefix of the ranking, one layer more each time
    for k, p in enumerate(s.points[1:-1], start=1):
        assert p.moved == s.ranking[:k]
        assert dict(p.precisions) == {n: s.high for n in s.ranking[:k]}


def test_bert_on_orin_the_builder_keeps_what_int8_does_not_speed_up(searched):
    # tiny BERT (seq 16, 6 MMACs) on the Orin GPU is launch-bound: int8 GEMMs save nothing,
    # so the builder (TensorRT: INT8 is a permission) keeps almost every layer in fp16. The
    # search moves only what the build runs in int8 (never a view op): every point is within
    # 0.1% of the fp16 engine, and there is no trade-off to search
    s = searched("bert", "orin-agx-gpu")
    top = s.points[-1]
    assert all(p.latency_ms == pytest.approx(top.latency_ms, rel=1e-3) for p in s.points)
    problem = api.prepare(BERT, "orin-agx-gpu", BERT_SHAPES, "int8")
    assert problem.builder_choices
    assert not set(s.ranking) & set(problem.builder_choices)
    assert not any(problem.is_view[problem.index[n]] for n in s.ranking)
    # with every point within 1% of the fp16 engine, the default choice is the fp16 engine
    assert s.chosen_point is top and "under 1% more" in s.criterion


def test_bert_at_a_serving_shape_on_orin_is_a_trade_off(searched):
    # the same export at 16 x 128 tokens: the int8 GEMMs pay off, the fp16 engine is over
    # 5% slower than all-int8, and the chosen map is a mixed one between them
    s = searched("bert-serving", "orin-agx-gpu")
    low, top, c = s.points[0], s.points[-1], s.chosen_point
    assert top.latency_ms > 1.05 * low.latency_ms
    assert c.moved not in ((), ("*",)) and low.latency_ms <= c.latency_ms < top.latency_ms


def test_bert_base_on_orin_is_a_trade_off():
    # one BERT-base layer at seq 128 on the Orin GPU: the int8 GEMMs pay off (the GELU,
    # softmax and LayerNorm kept in fp16 fuse into their epilogues), so moving the worst
    # layers to fp16 costs time and buys SQNR, up to the fp16 engine
    from npusim import zoo
    from npusim.precision.search import search
    model = zoo.build("bert", layers=1, seq=128)
    x = {"input_ids": np.random.default_rng(0).integers(0, 100, (1, 128)).astype(np.int64)}
    s = search(model, "orin-agx-gpu", x, max_moves=3, fusion="greedy")
    front = sorted(s.pareto, key=lambda p: (p.latency_ms, p.output_sqnr_db))
    assert len(front) >= 3, [(p.label, p.latency_ms, p.output_sqnr_db) for p in s.points]
    for a, b in zip(front, front[1:]):
        assert a.latency_ms <= b.latency_ms and a.output_sqnr_db < b.output_sqnr_db
    low, top, c = s.points[0], s.points[-1], s.chosen_point
    assert low.latency_ms <= c.latency_ms <= top.latency_ms
    assert top.latency_ms > 1.1 * low.latency_ms  # int8 is worth having here


def test_target_sqnr_picks_the_fastest_point_reaching_it(searched):
    s = searched("cnn", "j5")
    ok = [p for p in s.points if p.output_sqnr_db >= 35.0]
    assert s.reached and s.chosen_point.output_sqnr_db >= 35.0
    assert s.chosen_point.latency_ms == min(p.latency_ms for p in ok)


def test_points_are_what_simulate_and_numerics_say(searched, cnn, cnn_inputs):
    s = searched("cnn", "j5")
    p = s.chosen_point
    r = api.simulate(cnn, "j5", precisions=dict(p.precisions), fusion="greedy")
    assert r.totals.latency_ms == pytest.approx(p.latency_ms, rel=1e-12)
    ref = run_numerics(cnn, cnn_inputs, precision="fp32").outputs["logits"]
    run = run_numerics(cnn, cnn_inputs, precisions=dict(p.precisions), reference=False,
                       layerwise=False).outputs["logits"]
    noise = float(np.sum((ref.astype(np.float64) - run) ** 2))
    sqnr = 10 * np.log10(float(np.sum(ref.astype(np.float64) ** 2)) / noise)
    assert sqnr == pytest.approx(p.output_sqnr_db, abs=1e-6)
    # int16 layers in the numerics: the moved layers' rows say so
    full = run_numerics(cnn, cnn_inputs, precisions=dict(p.precisions), layerwise=False)
    moved = {row.name: row.precision for row in full.layers if row.name in p.moved}
    assert moved and set(moved.values()) == {"int16"}


def test_cli_writes_map_json_and_plot(tmp_path, bert_inputs, capsys):
    from npusim.cli import main
    np.savez(tmp_path / "x.npz", **bert_inputs)
    out_map, out_json, out_png = tmp_path / "m.yaml", tmp_path / "p.json", tmp_path / "p.png"
    rc = main(["precision", str(BERT), "--chip", "j5", "--inputs", str(tmp_path / "x.npz"),
               "--shapes", BERT_SHAPES, "--max-moves", "2", "--latency-budget-ms", "0.046",
               "--fusion", "greedy",
               "-o", str(out_map), "--json", str(out_json), "--plot", str(out_png)])
    assert rc == 0
    data = json.loads(out_json.read_text())
    chosen = data["points"][data["chosen"]]
    assert chosen["latency_ms"] <= 0.046 and data["reached"] and chosen["layers_moved"]
    assert all({"latency_ms", "output_sqnr_db", "layers_moved"} <= set(p) for p in
               data["points"])
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    layers = yaml.safe_load(out_map.read_text())["layers"]
    assert set(layers) == set(chosen["layers_moved"]) and set(layers.values()) == {"int16"}
    capsys.readouterr()
    # the file is a --precision-map: simulate prices exactly the chosen point
    assert main(["simulate", str(BERT), "--chip", "j5", "--shapes", BERT_SHAPES,
                 "--fusion", "greedy", "--precision-map", str(out_map), "--json", str(tmp_path / "r.json"),
                 "-q"]) == 0
    latency = json.loads((tmp_path / "r.json").read_text())["totals"]["latency_ms"]
    assert latency == pytest.approx(chosen["latency_ms"], rel=1e-12)
