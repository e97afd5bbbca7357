"""The KV-cache decoder: prefill of N tokens and decode steps with a K-token cache, priced
through the normal pipeline and checked against onnxruntime and hand-computed MACs / bytes."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import npusim
from npusim import zoo
from npusim.hw import bundled_profiles
from npusim.zoo.decoder import build_decoder

SMALL = dict(layers=2, hidden=64, heads=4, kv_heads=2, vocab=100)


def _macs(tokens: int, past: int, layers=2, hidden=256, heads=4, kv=4, inter=768,
          vocab=32000) -> int:
    """Per token: q, o (hidden^2 each), k, v (hidden x kv*d each), 3 MLP matrices, lm_head;
    attention: QK^T and PV, heads x d x (past + tokens) keys per query, per layer."""
    d = hidden // heads
    per_token = layers * (2 * hidden * hidden + 2 * hidden * kv * d + 3 * hidden * inter)
    per_token += hidden * vocab
    attention = layers * 2 * heads * tokens * (past + tokens) * d
    return tokens * per_token + attention


def _feeds(tokens, past, start=0, cache=None):
    feeds = {"input_ids": (np.arange(tokens) % 97 + start)[None].astype(np.int64),
             "position_ids": np.arange(start, start + tokens)[None].astype(np.int64)}
    for i in range(SMALL["layers"]):
        for k in ("key", "value"):
            name = f"past_key_values.{i}.{k}"
            feeds[name] = cache[f"present.{i}.{k}"] if cache else \
                np.zeros((1, 2, past, 16), np.float32)
    return feeds


def test_decode_with_cache_matches_a_longer_prefill_in_onnxruntime():
    model = build_decoder(dynamic=True, **SMALL)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    full = dict(zip(names, sess.run(None, _feeds(6, 0))))
    first = dict(zip(names, sess.run(None, _feeds(5, 0))))
    step = _feeds(1, 5, start=5, cache=first)  # token 5 of the 6-token prefill
    last = dict(zip(names, sess.run(None, step)))
    np.testing.assert_allclose(last["logits"][0, 0], full["logits"][0, 5], rtol=1e-4, atol=1e-5)
    assert last["present.1.key"].shape == (1, 2, 6, 16)


@pytest.mark.parametrize("tokens, past", [(32, 0), (1, 31)], ids=["prefill", "decode"])
def test_prefill_and_decode_price_through_shapes(tmp_path, tokens, past):
    path = tmp_path / "decoder.onnx"
    onnx.save(build_decoder(dynamic=True, weights="light"), path)
    shapes = f"batch_size=1,sequence_length={tokens},past_sequence_length={past}"
    graph = npusim.load(path, shapes)
    assert graph.shape("present.0.key") == (1, 4, past + tokens, 64)
    static = npusim.load(zoo.build("decoder", seq=tokens, past=past, weights="light"))
    for chip in bundled_profiles():
        r = npusim.simulate(graph, chip, fusion="rules")
        assert r.totals.macs == _macs(tokens, past) == \
            npusim.simulate(static, chip, fusion="rules").totals.macs
        assert r.totals.latency_ms > 0


def test_whole_input_shapes_bind_the_cache_too():
    model = build_decoder(dynamic=True, weights="light", layers=1)
    shapes = "input_ids:1x1,position_ids:1x1,past_key_values.0.key:1x4x9x64," \
             "past_key_values.0.value:1x4x9x64"
    g = npusim.load(model, shapes)
    assert g.shape("present.0.value") == (1, 4, 10, 64)


def test_grouped_query_attention_macs():
    g = npusim.load(zoo.build("decoder", kv_heads=2, seq=8, past=8, weights="light"))
    assert npusim.simulate(g, "j5", fusion="none").totals.macs == _macs(8, 8, kv=2)


@pytest.mark.parametrize("chip", [
    "j5",
    "orin-agx-gpu",
])
def test_decode_at_batch_1_reads_every_weight_once_per_token(chip):
    # the lm_head and layer matrices are read whole each step, each at the precision its
    # matmul runs in, the embedding only for the one looked-up row. KV cache and logits add
    # a little. int8: one byte per weight.
    layers, hidden, inter, vocab = 2, 256, 768, 32000
    int8_weights = layers * (4 * hidden * hidden + 3 * hidden * inter) + hidden * vocab
    g = npusim.load(zoo.build("decoder", seq=1, past=63, weights="light"))
    report = npusim.simulate(g, chip)
    p = report.timeline.plan.problem
    weights = sum(r.nbytes for i, n in enumerate(p.graph.nodes) if n.op_type == "MatMul"
                  for r in p.reads[i] if r.constant)
    ddr = report.totals.ddr_bytes_per_frame
    assert weights <= ddr <= 1.05 * weights
    if not p.builder_choices:  # every matmul in int8 (on the GPU, TensorRT's builder keeps
        assert weights == int8_weights  # the small ones in fp16: 2 bytes per weight there)
    else:
        assert int8_weights < weights < 2 * int8_weights


def test_unknown_dim_name_is_refused():
    with pytest.raises(npusim.NpusimError, match="dim 'seq_len'.*named dims: batch_size"):
        npusim.load(build_decoder(dynamic=True, weights="light", layers=1), "seq_len=4")


LLM_CHIP = """
name: toy-llm
description: a chip whose decode is bound by DRAM alone
compute_units:
  - name: gpu
    kind: gpu
    count: {value: 1, source: t}
    clock_MHz: {value: 1000, source: t}
    macs_per_cycle: {fp16: {value: 1.0e9, source: t}}
    vector_ops_per_cycle: {fp16: {value: 1.0e9, source: t}}
    op_overhead_us: {value: 0, source: t}
memory:
  - {name: dram, kind: dram, scope: chip, capacity_bytes: {value: 1.0e12, source: t},
     bandwidth_GBps: {value: 1, source: t}, alignment_bytes: {value: 64, source: t}}
"""


def test_llm_time_to_first_token_and_tokens_per_s_by_hand(tmp_path):
    from npusim import api
    path = tmp_path / "llm.yaml"
    path.write_text(LLM_CHIP)
    layers, hidden, inter, vocab = 2, 256, 768, 32000
    weights = layers * (4 * hidden * hidden + 3 * hidden * inter) + hidden * vocab
    model = build_decoder(dynamic=True, weights="light")
    r = api.llm(model, path, prompt_tokens=32, cache_tokens=96, precision="w4a16")
    # W4A16: weights packed at half a byte each, read once per token (plus the one embedding
    # row the Gather reads); compute is free on this chip, so a token takes what DRAM needs
    assert r.weight_bytes_per_token == pytest.approx(0.5 * weights, rel=0.01)
    ddr = r.decode.totals.ddr_bytes_per_frame
    assert ddr >= r.weight_bytes_per_token
    assert r.decode_ms == pytest.approx(ddr / 1e9 * 1e3, rel=1e-6)
    assert r.tokens_per_s == pytest.approx(1e3 / r.decode_ms)
    # the prefill reads the same weights once for all 32 prompt tokens
    assert r.time_to_first_token_ms >= 0.5 * weights / 1e6
    # int8 weights (W8A16) cost twice the bytes per token
    r8 = api.llm(model, path, prompt_tokens=32, cache_tokens=96, precision="w8a16")
    assert r8.weight_bytes_per_token == pytest.approx(2 * r.weight_bytes_per_token, rel=1e-3)
