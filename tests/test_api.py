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
def test_rows_tile_the_timeline_and_the_latency_is_its_makespan(chip, bert_path):
    r = npusim.simulate(bert_path, chip, shapes="input_ids:1x128,attention_mask:1x128")
    events = r.timeline.events
    # the latency is when the last event on any lane ends (read off the events directly)
    assert r.totals.latency_ms == max(e.end_ms for e in events)
    # rows run back to back from 0 to that makespan, each ending when its group's last
    # compute event ends (the last row also waits for the final stores)
    assert r.layers[0].start_ms == 0.0 and r.layers[-1].end_ms == r.totals.latency_ms
    for a, b in zip(r.layers, r.layers[1:]):
        assert b.start_ms == a.end_ms
    ends = {}
    for e in events:
        if e.kind == "compute":
            ends[e.group] = max(ends.get(e.group, 0.0), e.end_ms)
    groups = [x for x in r.layers if x.kind != "runtime"]  # runtime rows come first
    real = [i for i, x in enumerate(groups) if not x.is_view]
    for i in real[:-1]:
        assert groups[i].end_ms == pytest.approx(max(ends[i], groups[i].start_ms))
    # DDR bytes per frame are what the DMA events move, plus what units without DMA (the
    # GPU) read and write themselves
    dma = sum(e.nbytes for e in events if e.kind in ("load", "store"))
    direct = sum(t.bytes_moved for s in r.timeline.groups if not s.staged
                 for t in r.timeline.plan.groups[s.index].traffic)
    assert r.totals.ddr_bytes_per_frame == pytest.approx(dma + direct, abs=64)


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


def test_throughput_is_set_by_the_busiest_lane(cnn_path):
    r = npusim.simulate(cnn_path, "orin-agx-dla")
    assert set(r.totals.busy_ms_by_unit) == {"dla", "gpu"}
    busiest = max(sum(e.duration_ms for e in r.timeline.events if e.lane == lane.name)
                  for lane in r.timeline.lanes)
    assert r.totals.throughput_fps == pytest.approx(1e3 / busiest)
    assert r.totals.throughput_fps > 1e3 / r.totals.latency_ms


def test_fusion_none_runs_every_op_alone_on_the_gpu(cnn_path):
    # on a unit that reads DRAM itself (no DMA staging) groups run back to back, so the
    # makespan is exactly the sum of the ops priced alone, in graph order
    from npusim.cost import CostModel
    from npusim.hw import load_chip
    r = npusim.simulate(cnn_path, "orin-agx-gpu", fusion="none")
    lone = CostModel(r.timeline.plan.problem).unfused()  # the build the report is of
    # the kernels run back to back (each takes longer than the CPU needs to enqueue the
    # next); the profile's per-query runtime comes before the first one
    assert r.totals.kernels_ms == pytest.approx(sum(c.latency_ms for c in lone))
    overhead = load_chip("orin-agx-gpu").runtime.inference_overhead_us.value / 1e3
    assert r.totals.latency_ms >= r.totals.kernels_ms + overhead
    assert [x.name for x in r.layers if x.kind != "runtime"] == [c.name for c in lone]


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
