"""A Hugging Face style decoder-only LLM (Llama-like) with a KV cache, emitted with onnx.helper.

Inputs `input_ids`, `position_ids` and `past_key_values.{i}.key/value`; outputs `logits` and
`present.{i}.key/value`, as optimum exports them. Dims are static, or named for `--shapes`.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
LIGHT_VALUE = 0.02


class _Emitter:
    """Nodes and weights of one decoder; names follow torch.onnx's module paths."""

    def __init__(self, weights: str, seed: int, static: tuple[int, int, int] | None) -> None:
        self.static = static  # (batch, seq, past) when the dims are fixed, else None
        self.light = weights == "light"
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def node(self, op: str, inputs, scope: str, n_out: int = 1, **attrs):
        self.count += 1
        name = f"{scope}/{op}_{self.count}"
        outs = [f"{name}_output_{k}" for k in range(n_out)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, name=name, **attrs))
        return outs[0] if n_out == 1 else outs

    def const(self, value, scope: str = "") -> str:
        arr = np.asarray(value)
        arr = arr.astype(np.float32) if arr.dtype == np.float64 else arr
        return self.node("Constant", [], scope, value=numpy_helper.from_array(arr, ""))

    def weight(self, name: str, shape: tuple[int, ...], std: float | None = 0.02) -> str:
        """A learned tensor: N(0, std) (ones when std is None), or ConstantOfShape if light."""
        if self.light:
            shape_name = f"{name}__SHAPE"
            self.inits.append(numpy_helper.from_array(np.asarray(shape, np.int64), shape_name))
            value = helper.make_tensor("", TensorProto.FLOAT, [1], [LIGHT_VALUE])
            self.nodes.append(helper.make_node("ConstantOfShape", [shape_name], [name],
                                               name=f"/{name}/ConstantOfShape", value=value))
        else:
            arr = np.ones(shape, np.float32) if std is None else \
                self.rng.standard_normal(shape, dtype=np.float32) * np.float32(std)
            self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def rmsnorm(self, x: str, hidden: int, scope: str, pname: str, eps: float) -> str:
        """x * rsqrt(mean(x^2) + eps) * weight, as transformers' LlamaRMSNorm exports."""
        sq = self.node("Pow", [x, self.const(np.float32(2.0), scope)], scope)
        ms = self.node("ReduceMean", [sq], scope, axes=[-1], keepdims=1)
        rs = self.node("Sqrt", [self.node("Add", [ms, self.const(np.float32(eps), scope)],
                                          scope)], scope)
        y = self.node("Div", [x, rs], scope)
        return self.node("Mul", [self.weight(f"{pname}.weight", (hidden,), None), y], scope)

    def linear(self, x: str, c_in: int, c_out: int, scope: str, pname: str) -> str:
        w = self.weight(f"{pname}.weight", (c_in, c_out), std=1.0 / math.sqrt(c_in))
        return self.node("MatMul", [x, w], scope)


def _causal_mask(e: _Emitter, ids: str, present_k: str) -> str:
    """[seq, past + seq] additive mask: query i (at absolute position past + i) sees keys
    0..past + i. Static dims: a constant; named dims: Shape ops, as exporters emit it, which
    the frontend folds once --shapes binds the dims."""
    if e.static is not None:
        _, seq, past = e.static
        rows = np.arange(seq)[:, None] + past
        mask = np.where(np.arange(past + seq)[None, :] > rows, np.finfo(np.float32).min, 0.0)
        return e.const(mask.astype(np.float32), "/mask")
    seq = e.node("Gather", [e.node("Shape", [ids], "/mask"), e.const(np.int64(1))], "/mask",
                 axis=0)
    total = e.node("Gather", [e.node("Shape", [present_k], "/mask"), e.const(np.int64(2))],
                   "/mask", axis=0)
    past = e.node("Sub", [total, seq], "/mask")
    rows = e.node("Add", [e.node("Range", [e.const(np.int64(0)), seq, e.const(np.int64(1))],
                                 "/mask"), past], "/mask")
    cols = e.node("Range", [e.const(np.int64(0)), total, e.const(np.int64(1))], "/mask")
    rows = e.node("Unsqueeze", [rows, e.const(np.asarray([1], np.int64))], "/mask")
    cols = e.node("Unsqueeze", [cols, e.const(np.asarray([0], np.int64))], "/mask")
    hidden = e.node("Greater", [cols, rows], "/mask")
    return e.node("Where", [hidden, e.const(np.float32(np.finfo(np.float32).min)),
                            e.const(np.float32(0.0))], "/mask")


def _attention(e: _Emitter, x: str, past: tuple[str, str], mask_from, *, hidden, heads,
               kv_heads, scope, pname):
    d = hidden // heads
    sa = f"{scope}/self_attn"

    def heads_first(t, n):
        t = e.node("Reshape", [t, e.const(np.asarray([0, 0, n, d], np.int64), sa)], sa)
        return e.node("Transpose", [t], sa, perm=[0, 2, 1, 3])

    q = heads_first(e.linear(x, hidden, hidden, f"{sa}/q_proj", f"{pname}.self_attn.q_proj"),
                    heads)
    k = heads_first(e.linear(x, hidden, kv_heads * d, f"{sa}/k_proj",
                             f"{pname}.self_attn.k_proj"), kv_heads)
    v = heads_first(e.linear(x, hidden, kv_heads * d, f"{sa}/v_proj",
                             f"{pname}.self_attn.v_proj"), kv_heads)
    present_k = e.node("Concat", [past[0], k], sa, axis=2)
    present_v = e.node("Concat", [past[1], v], sa, axis=2)
    mask = mask_from(present_k)
    keys, values = present_k, present_v
    if kv_heads != heads:  # grouped-query attention: repeat each KV head for its queries
        rep = heads // kv_heads
        keys, values = (_repeat_kv(e, t, kv_heads, rep, d, sa) for t in (keys, values))
    kt = e.node("Transpose", [keys], sa, perm=[0, 1, 3, 2])
    s = e.node("MatMul", [q, kt], sa)
    s = e.node("Div", [s, e.const(np.float32(math.sqrt(d)), sa)], sa)
    s = e.node("Add", [s, mask], sa)
    p = e.node("Softmax", [s], sa, axis=-1)
    o = e.node("Transpose", [e.node("MatMul", [p, values], sa)], sa, perm=[0, 2, 1, 3])
    o = e.node("Reshape", [o, e.const(np.asarray([0, 0, hidden], np.int64), sa)], sa)
    out = e.linear(o, hidden, hidden, f"{sa}/o_proj", f"{pname}.self_attn.o_proj")
    return out, present_k, present_v


def _repeat_kv(e: _Emitter, t: str, kv_heads: int, rep: int, d: int, scope: str) -> str:
    """[b, kv, T, d] -> [b, kv * rep, T, d] (Unsqueeze, Expand, Reshape as transformers)."""
    u = e.node("Unsqueeze", [t, e.const(np.asarray([2], np.int64), scope)], scope)
    if e.static is not None:
        batch, seq, past = e.static
        shape = e.const(np.asarray([batch, kv_heads, rep, past + seq, d], np.int64), scope)
    else:
        ones = e.const(np.asarray([1, 1, rep, 1, 1], np.int64), scope)
        shape = e.node("Mul", [e.node("Shape", [u], scope), ones], scope)
    x = e.node("Expand", [u, shape], scope)
    return e.node("Reshape", [x, e.const(np.asarray([0, kv_heads * rep, -1, d], np.int64),
                                           scope)], scope)


def _mlp(e: _Emitter, x: str, hidden: int, inter: int, scope: str, pname: str) -> str:
    """SwiGLU: down(silu(gate(x)) * up(x))."""
    m = f"{scope}/mlp"
    gate = e.linear(x, hidden, inter, f"{m}/gate_proj", f"{pname}.mlp.gate_proj")
    up = e.linear(x, hidden, inter, f"{m}/up_proj", f"{pname}.mlp.up_proj")
    act = e.node("Mul", [gate, e.node("Sigmoid", [gate], f"{m}/act_fn")], f"{m}/act_fn")
    return e.linear(e.node("Mul", [act, up], m), inter, hidden, f"{m}/down_proj",
                    f"{pname}.mlp.down_proj")


def build_decoder(name: str = "decoder", *, batch: int = 1, seed: int = 0,
                  weights: str = "random", layers: int = 2, hidden: int = 256, heads: int = 4,
                  kv_heads: int = 0, intermediate: int = 0, vocab: int = 32000, seq: int = 16,
                  past: int = 0, dynamic: bool = False, doc: str = "") -> onnx.ModelProto:
    """A Llama-style decoder: `seq` new tokens after `past` cached ones. `dynamic=True` names
    the dims (batch_size, sequence_length, past_sequence_length) for `--shapes` to bind."""
    kv_heads = kv_heads or heads
    inter = intermediate or int(8 * hidden / 3 + 255) // 256 * 256
    d = hidden // heads
    b, s, p = ("batch_size", "sequence_length", "past_sequence_length") if dynamic else \
        (batch, seq, past)
    total = "total_sequence_length" if dynamic else past + seq
    e = _Emitter(weights, seed, None if dynamic else (batch, seq, past))
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [b, s]),
              helper.make_tensor_value_info("position_ids", TensorProto.INT64, [b, s])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [b, s, vocab])]
    embed = e.weight("model.embed_tokens.weight", (vocab, hidden))
    x = e.node("Gather", [embed, "input_ids"], "/model/embed_tokens", axis=0)
    del d  # position_ids only feed rotary embeddings, which this decoder leaves out
    e.nodes.append(helper.make_node("Identity", ["position_ids"], ["position_ids_unused"],
                                    name="/model/position_ids"))
    mask_cache: dict[str, str] = {}

    def mask_from(present_k: str) -> str:
        if "mask" not in mask_cache:
            mask_cache["mask"] = _causal_mask(e, "input_ids", present_k)
        return mask_cache["mask"]

    for i in range(layers):
        scope, pname = f"/model/layers.{i}", f"model.layers.{i}"
        past_kv = (f"past_key_values.{i}.key", f"past_key_values.{i}.value")
        for n in past_kv:
            inputs.append(helper.make_tensor_value_info(n, TensorProto.FLOAT,
                                                        [b, kv_heads, p, hidden // heads]))
        h = e.rmsnorm(x, hidden, f"{scope}/input_layernorm", f"{pname}.input_layernorm", 1e-6)
        a, pk, pv = _attention(e, h, past_kv, mask_from, hidden=hidden, heads=heads,
                               kv_heads=kv_heads, scope=scope, pname=pname)
        for kind, src in (("key", pk), ("value", pv)):
            out = f"present.{i}.{kind}"
            e.nodes.append(helper.make_node("Identity", [src], [out], name=f"{scope}/{out}"))
            outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT,
                                                         [b, kv_heads, total, hidden // heads]))
        x = e.node("Add", [x, a], scope)
        h = e.rmsnorm(x, hidden, f"{scope}/post_attention_layernorm",
                      f"{pname}.post_attention_layernorm", 1e-6)
        x = e.node("Add", [x, _mlp(e, h, hidden, inter, scope, pname)], scope)
    x = e.rmsnorm(x, hidden, "/model/norm", "model.norm", 1e-6)
    logits = e.linear(x, hidden, vocab, "/lm_head", "lm_head")
    e.nodes.append(helper.make_node("Identity", [logits], ["logits"], name="/lm_head/logits"))
    graph = helper.make_graph(e.nodes, name, inputs, outputs, initializer=e.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="npusim.zoo", doc_string=doc)
    model.ir_version = 8
    return model
