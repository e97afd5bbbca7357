"""Transformer encoders emitted as ONNX: Hugging Face BertModel (base/large) and torchvision ViT-B/16.

Both share one encoder-layer routine, spelled as torch.onnx exports it at opset 17.
"""

from __future__ import annotations

import math

import numpy as np
from onnx import TensorProto

from ._builder import GraphBuilder


def _linear_scope(style: str, scope: str, pname: str, which: str) -> tuple[str, str]:
    """Module path of one projection, for BERT or torchvision-ViT naming."""
    if style == "bert":
        sub = {
            "q": "attention/self/query", "k": "attention/self/key", "v": "attention/self/value",
            "o": "attention/output/dense", "fc1": "intermediate/dense", "fc2": "output/dense",
        }[which]
    else:
        sub = {
            "q": "self_attention/q_proj", "k": "self_attention/k_proj", "v": "self_attention/v_proj",
            "o": "self_attention/out_proj", "fc1": "mlp/mlp.0", "fc2": "mlp/mlp.3",
        }[which]
    return f"{scope}/{sub}", f"{pname}.{sub.replace('/', '.').replace('mlp.mlp.', 'mlp.')}"


def _attention(g: GraphBuilder, x: str, *, batch, seq, hidden, heads, scope, pname, style, mask):
    """Multi-head self attention: Q/K/V MatMul+Add, heads split, softmax(QK^T/sqrt d + mask) V."""
    d = hidden // heads
    core = f"{scope}/attention/self" if style == "bert" else f"{scope}/self_attention"

    def proj(which, src):
        s, p = _linear_scope(style, scope, pname, which)
        return g.linear(src, hidden, hidden, s, p)

    def split_heads(t, perm):
        t = g.reshape(t, [batch, seq, heads, d], core)
        return g.node("Transpose", [t], core, perm=perm)

    q = split_heads(proj("q", x), [0, 2, 1, 3])
    k = split_heads(proj("k", x), [0, 2, 3, 1])  # K already transposed for Q @ K^T
    v = split_heads(proj("v", x), [0, 2, 1, 3])
    s = g.set_m2(g.node("MatMul", [q, k], core), d * g.m2(q) * g.m2(k))
    s = g.node("Div", [s, g.const(np.float32(math.sqrt(d)), core)], core)
    if mask is not None:
        s = g.node("Add", [s, mask], core)
    p = g.set_m2(g.node("Softmax", [s], core, axis=-1), 1.0 / seq)
    o = g.set_m2(g.node("MatMul", [p, v], core), g.m2(v))  # scale as if attention were peaked
    o = g.node("Transpose", [o], core, perm=[0, 2, 1, 3])
    o = g.reshape(o, [batch, seq, hidden], core)
    s_o, p_o = _linear_scope(style, scope, pname, "o")
    return g.linear(o, hidden, hidden, s_o, p_o)


def _mlp(g: GraphBuilder, x: str, *, hidden, inter, scope, pname, style):
    s1, p1 = _linear_scope(style, scope, pname, "fc1")
    h = g.linear(x, hidden, inter, s1, p1)
    act_scope = f"{scope}/intermediate/intermediate_act_fn" if style == "bert" else f"{scope}/mlp/mlp.1"
    h = g.gelu(h, act_scope)
    s2, p2 = _linear_scope(style, scope, pname, "fc2")
    return g.linear(h, inter, hidden, s2, p2)


def encoder_layer(g: GraphBuilder, x: str, *, batch, seq, hidden, heads, inter, scope, pname,
                  style: str, eps: float, mask: str | None = None) -> str:
    """One transformer encoder layer.

    ``style="bert"``: post-norm (x = LN(x + attn(x)); x = LN(x + mlp(x))), HF module names.
    ``style="vit"``: pre-norm (x = x + attn(LN(x)); x = x + mlp(LN(x))), torchvision names.
    """
    kw = dict(batch=batch, seq=seq, hidden=hidden, heads=heads, scope=scope, pname=pname, style=style)
    if style == "bert":
        a = _attention(g, x, mask=mask, **kw)
        x = g.node("Add", [a, x], f"{scope}/attention/output")
        x = g.layernorm(x, hidden, f"{scope}/attention/output/LayerNorm",
                        f"{pname}.attention.output.LayerNorm", eps=eps)
        m = _mlp(g, x, hidden=hidden, inter=inter, scope=scope, pname=pname, style=style)
        x = g.node("Add", [m, x], f"{scope}/output")
        return g.layernorm(x, hidden, f"{scope}/output/LayerNorm", f"{pname}.output.LayerNorm", eps=eps)
    h = g.layernorm(x, hidden, f"{scope}/ln_1", f"{pname}.ln_1", eps=eps)
    a = _attention(g, h, mask=mask, **kw)
    x = g.node("Add", [a, x], scope)
    h = g.layernorm(x, hidden, f"{scope}/ln_2", f"{pname}.ln_2", eps=eps)
    m = _mlp(g, h, hidden=hidden, inter=inter, scope=scope, pname=pname, style=style)
    return g.node("Add", [x, m], scope)


def build_bert(name: str, *, batch: int, seed: int, weights: str, layers: int, hidden: int, heads: int,
               seq: int, vocab: int, intermediate: int | None = None, attention_mask: bool = False,
               max_position: int = 512, doc: str = ""):
    """Hugging Face BertModel (no pooler): output is the last hidden state [batch, seq, hidden]."""
    inter = intermediate or 4 * hidden
    max_position = max(max_position, seq)
    g = GraphBuilder(name, seed=seed, weights=weights)
    ids = g.input("input_ids", [batch, seq], TensorProto.INT64)
    mask_in = g.input("attention_mask", [batch, seq], TensorProto.INT64) if attention_mask else None

    word = g.param("embeddings.word_embeddings.weight", (vocab, hidden), "normal", std=0.02)
    pos = g.param("embeddings.position_embeddings.weight", (max_position, hidden), "normal", std=0.02)
    tt = g.param("embeddings.token_type_embeddings.weight", (2, hidden), "normal", std=0.02)
    e = g.node("Gather", [word, ids], "/embeddings/word_embeddings", axis=0)
    tt_ids = g.const(np.zeros((batch, seq), dtype=np.int64), "/embeddings")
    t = g.node("Gather", [tt, tt_ids], "/embeddings/token_type_embeddings", axis=0)
    e = g.node("Add", [e, t], "/embeddings")
    pos_ids = g.const(np.arange(seq, dtype=np.int64)[None, :], "/embeddings")
    p = g.node("Gather", [pos, pos_ids], "/embeddings/position_embeddings", axis=0)
    e = g.node("Add", [e, p], "/embeddings")
    x = g.layernorm(e, hidden, "/embeddings/LayerNorm", "embeddings.LayerNorm", eps=1e-12)

    # extended attention mask, computed once and shared by all layers: (1 - mask) * finfo.min
    if mask_in is not None:
        m = g.node("Unsqueeze", [mask_in, g.const(np.asarray([1, 2], dtype=np.int64))], "")
        m = g.node("Cast", [m], "", to=TensorProto.FLOAT)
        m = g.node("Sub", [g.const(np.float32(1.0)), m], "")
        mask = g.node("Mul", [m, g.const(np.float32(np.finfo(np.float32).min))], "")
    else:
        mask = g.const(np.zeros((batch, 1, 1, seq), dtype=np.float32))

    for i in range(layers):
        x = encoder_layer(g, x, batch=batch, seq=seq, hidden=hidden, heads=heads, inter=inter,
                          scope=f"/encoder/layer.{i}", pname=f"encoder.layer.{i}", style="bert",
                          eps=1e-12, mask=mask)
    g.output(x, "last_hidden_state")
    return g.build(doc)


def build_vit(*, batch: int, seed: int, weights: str, layers: int = 12, hidden: int = 768,
              heads: int = 12, intermediate: int | None = None, patch: int = 16, size: int = 224,
              classes: int = 1000, doc: str = ""):
    """torchvision vit_b_16: patch Conv, class token, position embedding, pre-norm encoder, head."""
    inter = intermediate or 4 * hidden
    n_patches = (size // patch) ** 2
    seq = n_patches + 1
    g = GraphBuilder("vit", seed=seed, weights=weights)
    x = g.input("input", [batch, 3, size, size])
    x = g.conv(x, 3, hidden, patch, "/conv_proj", "conv_proj", stride=patch, pad=0, bias=True)
    x = g.reshape(x, [batch, hidden, n_patches], "")
    x = g.node("Transpose", [x], "", perm=[0, 2, 1])
    cls = g.param("class_token", (1, 1, hidden), "normal", std=0.02)
    cls = g.node("Expand", [cls, g.const(np.asarray([batch, 1, hidden], dtype=np.int64))], "")
    x = g.node("Concat", [cls, x], "", axis=1)
    pos = g.param("encoder.pos_embedding", (1, seq, hidden), "normal", std=0.02)
    x = g.node("Add", [x, pos], "/encoder")
    for i in range(layers):
        x = encoder_layer(g, x, batch=batch, seq=seq, hidden=hidden, heads=heads, inter=inter,
                          scope=f"/encoder/layers/encoder_layer_{i}",
                          pname=f"encoder.layers.encoder_layer_{i}", style="vit", eps=1e-6)
    x = g.layernorm(x, hidden, "/encoder/ln", "encoder.ln", eps=1e-6)
    x = g.node("Gather", [x, g.const(np.int64(0))], "", axis=1)  # x[:, 0]: the class token
    g.output(g.gemm(x, hidden, classes, "/heads/head", "heads.head", outputs=["logits"]))
    return g.build(doc)
