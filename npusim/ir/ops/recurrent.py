"""Recurrent layers (LSTM, GRU, RNN) and Einsum, priced from their multiply-accumulates.

Each counter's docstring gives its formula; both kinds run on the MAC array.
"""

from __future__ import annotations

import math

from npusim.ir.graph import Graph, Node
from npusim.ir.ops import FusionKind, register

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
STATE_UPDATE_OPS = {"LSTM": 5, "GRU": 4, "RNN": 0}


def recurrent_dims(node: Node, graph: Graph) -> tuple[int, int, int, int, int]:
    """(steps, batch, input size, hidden size, directions) of a recurrent node."""
    x = graph.shape(node.inputs[0])
    steps, batch = (x[1], x[0]) if node.attr("layout", 0) else (x[0], x[1])
    w = graph.shape(node.inputs[1])  # [directions, gates * hidden, input]
    hidden = node.attr("hidden_size") or w[1] // GATES[node.op_type]
    return steps, batch, x[2], int(hidden), w[0]


def recurrent_macs(node: Node, graph: Graph) -> int:
    """gates x (input + hidden) x hidden x steps x directions x batch; gates: LSTM 4, GRU 3,
    RNN 1 (each gate multiplies [x_t, h_t-1] by its slice of W and R every step)."""
    steps, batch, inp, hidden, dirs = recurrent_dims(node, graph)
    return GATES[node.op_type] * (inp + hidden) * hidden * steps * dirs * batch


def _recurrent_vector_ops(node: Node, graph: Graph) -> int:
    """Per hidden unit and step: 2 bias adds and one activation per gate, plus the state
    update (LSTM 5: f*c + i*g, tanh(c), o*tanh(c); GRU 4; RNN 0)."""
    steps, batch, _, hidden, dirs = recurrent_dims(node, graph)
    gates = GATES[node.op_type]
    per_unit = 2 * gates + gates + STATE_UPDATE_OPS[node.op_type]
    return per_unit * hidden * steps * dirs * batch


def einsum_labels(node: Node, graph: Graph) -> dict[str, int]:
    """Size of every label of the equation ('...' dims as labels '0', '1', ...)."""
    equation = str(node.attr("equation")).replace(" ", "")
    operands = equation.split("->")[0].split(",")
    sizes: dict[str, int] = {}
    for term, name in zip(operands, node.inputs):
        shape = graph.shape(name)
        explicit = term.replace("...", "")
        if "..." in term:
            n = len(shape) - len(explicit)
            head = term.index("...")
            # ellipsis dims are right-aligned across operands, as in numpy broadcasting
            labels = list(term[:head]) + [f"...{n - k}" for k in range(n)] + \
                list(term[head + 3:])
        else:
            labels = list(term)
        for label, dim in zip(labels, shape):
            sizes[label] = max(sizes.get(label, 1), int(dim))
    return sizes


def einsum_macs(node: Node, graph: Graph) -> int:
    """Product of the sizes of every label: one multiply-add per point of the iteration space
    (a single-operand Einsum is a copy or reduction: vector work, no MACs)."""
    if len([i for i in node.inputs if i]) < 2:
        return 0
    return math.prod(einsum_labels(node, graph).values())


def _einsum_vector_ops(node: Node, graph: Graph) -> int:
    if len([i for i in node.inputs if i]) >= 2:
        return 0
    return graph.tensor(node.inputs[0]).size


register(("LSTM", "GRU", "RNN"), FusionKind.MATMUL, macs=recurrent_macs,
         vector_ops=_recurrent_vector_ops, params=frozenset({4}), bias_inputs=frozenset({3}))
register("Einsum", FusionKind.MATMUL, macs=einsum_macs, vector_ops=_einsum_vector_ops)
