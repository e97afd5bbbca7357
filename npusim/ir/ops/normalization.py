"""Normalizations and Softmax: ops that reduce over an axis and then scale every element.

Counts per element: Softmax 5 (max, subtract, exp, sum, divide); LayerNormalization,
GroupNormalization and InstanceNormalization 8 (mean, subtract, square, mean, add eps and
rsqrt amortized, multiply, scale, shift); BatchNormalization in inference 2 (scale, shift);
LRN 3 + size (square-sum window, pow, divide).
"""

from __future__ import annotations

from npusim.ir.graph import Graph, Node
from npusim.ir.ops import FusionKind, per_output_element, register, same_rows


def _rows_if_last_axes(node: Node, graph: Graph, rows: int) -> dict[str, int] | None:
    """Softmax / LayerNorm-style ops normalize from `axis` to the end (Softmax: one axis);
    rows stay independent unless axis -2 is among the normalized axes."""
    rank = len(graph.shape(node.inputs[0]))
    default = -1 if node.op_type in ("Softmax", "LogSoftmax", "LayerNormalization",
                                     "RMSNormalization") else 1
    axis = node.attr("axis", default)
    axis = axis + rank if axis < 0 else axis
    if node.op_type in ("GroupNormalization", "InstanceNormalization",
                        "MeanVarianceNormalization") or axis <= rank - 2:
        return None
    return same_rows(node, graph, rows)


def _lrn_ops(node: Node, graph: Graph) -> int:
    return (3 + int(node.attr("size", 5))) * graph.tensor(node.outputs[0]).size


register(("Softmax", "LogSoftmax"), FusionKind.REDUCTION, vector_ops=per_output_element(5),
         rows=_rows_if_last_axes)
register(("LayerNormalization", "GroupNormalization", "InstanceNormalization",
          "RMSNormalization", "MeanVarianceNormalization", "LpNormalization"),
         FusionKind.REDUCTION,
         vector_ops=lambda n, g: 8 * g.tensor(n.outputs[0]).size, rows=_rows_if_last_axes)
register("BatchNormalization", FusionKind.ELEMENTWISE, vector_ops=per_output_element(2),
         rows=same_rows)
register("LRN", FusionKind.REDUCTION, vector_ops=_lrn_ops, rows=same_rows)  # across channels
