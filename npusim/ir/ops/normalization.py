"""Normalizations and Softmax: ops that reduce over an axis and then scale every element.

Counts per element: Softmax 5 (max, subtract, exp, sum, divide); LayerNormalization,
GroupNormalization and InstanceNormalization 8 (mean, subtract, square, mean, add eps and
rsqrt amortized, multiply, scale, shift); BatchNormalization in inference 2 (scale, shift);
LRN 3 + size (square-sum window, pow, divide).
"""

from __future__ import annotations

from npusim.ir.graph import Graph, Node
from npusim.ir.ops import FusionKind, per_output_element, register


def _lrn_ops(node: Node, graph: Graph) -> int:
    return (3 + int(node.attr("size", 5))) * graph.tensor(node.outputs[0]).size


register(("Softmax", "LogSoftmax"), FusionKind.REDUCTION, vector_ops=per_output_element(5))
register(("LayerNormalization", "GroupNormalization", "InstanceNormalization",
          "RMSNormalization", "MeanVarianceNormalization", "LpNormalization"),
         FusionKind.REDUCTION,
         vector_ops=lambda n, g: 8 * g.tensor(n.outputs[0]).size)
register("BatchNormalization", FusionKind.ELEMENTWISE, vector_ops=per_output_element(2))
register("LRN", FusionKind.REDUCTION, vector_ops=_lrn_ops)
