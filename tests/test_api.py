"""simulate() end to end: totals add up, MACs match hand formulas, output is deterministic."""

from __future__ import annotations

import pytest

import npusim
from npusim.report import to_csv, to_json
from tests.conftest import LIGHT


def test_resnet50_macs_match_the_hand_formula():
    # Conv + Gemm MACs of ResNet-50 at 224x224 are 4.09e9 (torchvision's count; fvcore 4.11e9
    # adds BN, which npusim folds into the convs).
    report = npusim.simulate(LIGHT / "light_resnet50.onnx", "j5")
    assert report.totals.macs == pytest.approx(4.09e9, rel=0.01)


@pytest.mark.parametrize("chip", ["j5", "orin-agx-gpu", "orin-agx-dla", "orin-nx-gpu"])
def test_layer_latencies_sum_to_the_total(chip, bert_path):
    r = npusim.simulate(bert_path, chip, shapes="input_ids:1x128,attention_mask:1x128")
    assert sum(x.latency_ms for x in r.layers) == pytest.approx(r.totals.latency_ms)
    assert sum(x.percent for x in r.layers) == pytest.approx(100.0)
    assert r.totals.ddr_bytes_per_frame == sum(x.bytes_loaded + x.bytes_stored for x in r.layers)
    # layers run back to back
    for a, b in zip(r.layers, r.layers[1:]):
        assert b.start_ms == pytest.approx(a.start_ms + a.latency_ms)


def test_json_and_csv_are_byte_identical_across_runs(cnn_path):
    a = npusim.simulate(cnn_path, "orin-agx-dla")
    b = npusim.simulate(cnn_path, "orin-agx-dla")
    assert to_json(a) == to_json(b)
    assert to_csv(a) == to_csv(b)


def test_estimated_figures_are_reported_per_layer_and_in_total(cnn_path):
    r = npusim.simulate(cnn_path, "j5")
    assert r.totals.estimated
    assert "compute_units[bpu].clock_MHz" in r.estimated_figures
    assert all(set(x.rests_on) <= set(r.estimated_figures) for x in r.layers)
    assert all(x.estimated for x in r.layers)  # every J5 figure but the core count is a guess


def test_hf_transformer_with_bound_sequence(bert_path):
    r = npusim.simulate(bert_path, "orin-agx-gpu", shapes="input_ids:1x64,attention_mask:1x64",
                        precision="fp16")
    ops = {op for x in r.layers for op in x.op_types}
    assert {"MatMul", "Softmax", "LayerNormalization", "Gather", "Erf"} <= ops
    # 2 layers x (4 projections 128x128 + FFN 128x512x2) x 64 tokens + attention 2 x 64x64x128
    per_layer = 64 * (4 * 128 * 128 + 2 * 128 * 512) + 2 * 64 * 64 * 128
    assert r.totals.macs == 2 * per_layer
    assert r.input_shapes == {"input_ids": (1, 64), "attention_mask": (1, 64)}


def test_fps_is_set_by_the_busiest_unit(cnn_path):
    r = npusim.simulate(cnn_path, "orin-agx-dla")
    assert set(r.totals.busy_ms_by_unit) == {"dla", "gpu"}
    assert r.totals.fps == pytest.approx(1e3 / max(r.totals.busy_ms_by_unit.values()))
    assert r.totals.fps > 1e3 / r.totals.latency_ms


def test_fusion_none_is_the_sum_of_lone_ops(cnn_path):
    from npusim.cost import graph_costs
    from npusim.hw import load_chip
    from npusim.ir import Precision
    r = npusim.simulate(cnn_path, "j5", fusion="none")
    lone = graph_costs(npusim.load(cnn_path), load_chip("j5"), Precision.INT8)
    assert r.totals.latency_ms == pytest.approx(sum(c.latency_ms for c in lone))
    assert [x.name for x in r.layers] == [c.name for c in lone]


def test_fused_report_traces_back_to_onnx_nodes(cnn_path):
    r = npusim.simulate(cnn_path, "orin-agx-gpu")
    names = [m for x in r.layers for m in x.members]
    assert sorted(names) == sorted(n.name for n in npusim.load(cnn_path).nodes)
    fused = [x for x in r.layers if len(x.members) > 1]
    assert fused and all(x.name == "+".join(x.members) for x in fused)
    assert r.totals.latency_ms < npusim.simulate(cnn_path, "orin-agx-gpu",
                                                 fusion="none").totals.latency_ms


def test_dla_fallback_is_reported_with_its_hand_off(cnn_path):
    r = npusim.simulate(cnn_path, "orin-agx-dla")
    by_op = {x.op_types[-1]: x for x in r.layers}
    swish = by_op["HardSwish"]  # not a DLA op
    assert swish.unit == "gpu" and swish.fallback and swish.transition_ms > 0
    conv = next(x for x in r.layers if x.op_types[0] == "Conv")
    assert conv.unit == "dla" and not conv.fallback
    assert "fallback" in to_csv(r).splitlines()[0]


def test_unknown_precision():
    with pytest.raises(npusim.NpusimError, match="unknown precision 'int7'"):
        npusim.simulate(LIGHT / "light_squeezenet.onnx", "j5", precision="int7")
