"""Reductions over axes: one op per input element (ArgMax/TopK compare once per element)."""

from __future__ import annotations

from npusim.ir.graph import Graph, Node
from npusim.ir.ops import FusionKind, per_input_element, register


def _reduce_rows(node: Node, graph: Graph, rows: int) -> dict[str, int] | None:
    """Rows stay independent when the reduction keeps every axis and spares axis -2."""
    shape = graph.shape(node.inputs[0])
    if len(shape) < 2 or graph.shape(node.outputs[0])[-2:-1] != shape[-2:-1]:
        return None
    axes = node.attr("axes")
    if axes is None and node.input(1):
        axes = graph.constant(node.inputs[1])
    if axes is None or len(axes) == 0 or not node.attr("keepdims", 1):
        return None
    rank = len(shape)
    if any((int(a) + rank) % rank == rank - 2 for a in axes):
        return None
    return {node.inputs[0]: rows}

register(("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
          "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp", "ArgMax", "ArgMin", "CumSum"),
         FusionKind.REDUCTION, vector_ops=per_input_element(1), params=frozenset({1}),
         rows=_reduce_rows)
register("TopK", FusionKind.REDUCTION, vector_ops=per_input_element(1), params=frozenset({1}))
