"""Hypothesis strategies shared by the planner and scheduler property tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from onnx import helper, numpy_helper

from npusim.frontend import load_graph
from npusim.ir import Graph
from npusim.ir.passes import canonicalize
from tests.conftest import make_model, vi


@st.composite
def conv_dags(draw, channels=(4, 8), sizes=(32,), min_ops=2, max_ops=12) -> Graph:
    """Conv / Relu / Add / MaxPool DAGs on 1xCxHxW maps: chains, diamonds, multi-consumer
    tensors (each op reads any earlier tensor); unconsumed tensors become outputs."""
    c = draw(st.sampled_from(channels))
    hw = draw(st.sampled_from(sizes))
    n_ops = draw(st.integers(min_ops, max_ops))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    tensors, nodes, inits = ["x"], [], []
    for k in range(n_ops):
        op = draw(st.sampled_from(["conv3", "conv1", "relu", "add", "pool"]))
        a = tensors[draw(st.integers(0, len(tensors) - 1))]
        out = f"t{k}"
        if op in ("conv3", "conv1"):
            ksz = 3 if op == "conv3" else 1
            inits.append(numpy_helper.from_array(
                rng.standard_normal((c, c, ksz, ksz)).astype(np.float32), f"w{k}"))
            nodes.append(helper.make_node("Conv", [a, f"w{k}"], [out], name=f"conv{k}",
                                          pads=[ksz // 2] * 4))
        elif op == "relu":
            nodes.append(helper.make_node("Relu", [a], [out], name=f"relu{k}"))
        elif op == "add":
            b = tensors[draw(st.integers(0, len(tensors) - 1))]
            nodes.append(helper.make_node("Add", [a, b], [out], name=f"add{k}"))
        else:
            nodes.append(helper.make_node("MaxPool", [a], [out], name=f"pool{k}",
                                          kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
        tensors.append(out)
    used = {i for n in nodes for i in n.input}
    outs = [t for t in tensors[1:] if t not in used]
    model = make_model(nodes, [vi("x", [1, c, hw, hw])], [vi(t, [1, c, hw, hw]) for t in outs],
                       inits)
    return canonicalize(load_graph(model))
