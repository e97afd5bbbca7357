"""Convolutions: Conv (grouped, depthwise, dilated, strided), ConvTranspose and their
integer forms QLinearConv and ConvInteger."""

from __future__ import annotations

import math

from npusim.errors import ShapeError
from npusim.ir.graph import Graph, Node
from npusim.ir.ops import FULL, FusionKind, out_elements, register

# Input positions of (x, w, bias) per op type.
_X_W_B = {"Conv": (0, 1, 2), "ConvTranspose": (0, 1, 2), "ConvInteger": (0, 1, None),
          "QLinearConv": (0, 3, 8)}


def _weight_shape(node: Node, graph: Graph) -> tuple[int, ...]:
    w = graph.shape(node.inputs[_X_W_B[node.op_type][1]])
    if len(w) < 3:
        raise ShapeError(f"node '{node.name}' ({node.op_type}): weight has rank {len(w)}, "
                         "expected >= 3")
    return w


def conv_macs(node: Node, graph: Graph) -> int:
    """MACs = output elements x (C_in / group) x kernel area; the weight is
    [C_out, C_in/group, k...], so that is output elements x prod(w.shape[1:])."""
    return out_elements(node, graph) * math.prod(_weight_shape(node, graph)[1:])


def conv_transpose_macs(node: Node, graph: Graph) -> int:
    """Every input element scatters into C_out/group x kernel area outputs; the weight is
    [C_in, C_out/group, k...]."""
    x = graph.tensor(node.inputs[0])
    return x.size * math.prod(_weight_shape(node, graph)[1:])


def _bias_adds(node: Node, graph: Graph) -> int:
    b = _X_W_B[node.op_type][2]
    has_bias = b is not None and node.input(b) is not None
    return out_elements(node, graph) if has_bias else 0


def _requant_ops(node: Node, graph: Graph) -> int:
    # bias add, scale multiply, round + zero point, saturate
    return 4 * out_elements(node, graph)


def _window(node: Node, graph: Graph) -> tuple[int, int, int]:
    """(kernel, stride, dilation) along H of a 2-D conv or pool."""
    kernel = node.attr("kernel_shape")
    if kernel is None:
        kernel = graph.shape(node.inputs[_X_W_B.get(node.op_type, (0, 1))[1]])[2:]
    strides = node.attr("strides") or (1,) * len(kernel)
    dilations = node.attr("dilations") or (1,) * len(kernel)
    return int(kernel[0]), int(strides[0]), int(dilations[0])


def window_rows(node: Node, graph: Graph, rows: int) -> dict[str, int] | None:
    """A tile of `rows` output rows of a 2-D window op reads (rows-1)*stride + dilated
    kernel input rows (the halo), at most the whole input; weights are needed whole."""
    x = node.inputs[_X_W_B.get(node.op_type, (0, 1, None))[0]]
    if len(graph.shape(x)) != 4:
        return None
    k, s, d = _window(node, graph)
    demand = {name: FULL for i, name in enumerate(node.inputs) if name and name != x}
    demand[x] = min(graph.shape(x)[2], (rows - 1) * s + d * (k - 1) + 1)
    return demand


def _transpose_rows(node: Node, graph: Graph, rows: int) -> dict[str, int] | None:
    x = node.inputs[0]
    if len(graph.shape(x)) != 4:
        return None
    k, s, d = _window(node, graph)
    demand = {name: FULL for name in node.inputs[1:] if name}
    demand[x] = min(graph.shape(x)[2], -(-(rows + d * (k - 1)) // s))
    return demand


register("Conv", FusionKind.CONV, macs=conv_macs, vector_ops=_bias_adds,
         bias_inputs=frozenset({2}), rows=window_rows)
register("ConvTranspose", FusionKind.CONV, macs=conv_transpose_macs, vector_ops=_bias_adds,
         bias_inputs=frozenset({2}), rows=_transpose_rows)
register("ConvInteger", FusionKind.CONV, macs=conv_macs, params=frozenset({2, 3}),
         rows=window_rows)
register("QLinearConv", FusionKind.CONV, macs=conv_macs, vector_ops=_requant_ops,
         params=frozenset({1, 2, 4, 5, 6, 7}), bias_inputs=frozenset({8}), rows=window_rows)
