"""Matrix products: MatMul (batched, broadcast), Gemm, and the integer forms QLinearMatMul
and MatMulInteger."""

from __future__ import annotations

from npusim.ir.graph import Graph, Node
from npusim.ir.ops import FULL, FusionKind, out_elements, register

_A_B = {"MatMul": (0, 1), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3), "Gemm": (0, 1)}


def _reduction_dim(node: Node, graph: Graph) -> int:
    """K of the product: the last dim of A (the first if Gemm's transA is set)."""
    a = graph.shape(node.inputs[_A_B[node.op_type][0]])
    if node.op_type == "Gemm" and node.attr("transA", 0):
        return a[0]
    return a[-1]


def matmul_macs(node: Node, graph: Graph) -> int:
    """Output elements x K: numpy broadcasting of the batch dims is already in the output
    shape, and a 1-D operand contributes no output dim."""
    return out_elements(node, graph) * _reduction_dim(node, graph)


def _gemm_vector_ops(node: Node, graph: Graph) -> int:
    y = out_elements(node, graph)
    alpha = 0 if node.attr("alpha", 1.0) == 1.0 else y
    beta_c = y if node.input(2) is not None else 0
    return alpha + beta_c


def _matmul_rows(node: Node, graph: Graph, rows: int) -> dict[str, int] | None:
    """Rows of the output are rows of A (axis -2); B is needed whole by every tile."""
    a_index = _A_B[node.op_type][0]
    a = node.inputs[a_index]
    if len(graph.shape(a)) < 2 or (node.op_type == "Gemm" and node.attr("transA", 0)):
        return None
    demand = {name: FULL for i, name in enumerate(node.inputs)
              if name and i != a_index and i not in _PARAMS.get(node.op_type, ())}
    demand[a] = rows
    return demand


_PARAMS = {"MatMulInteger": (2, 3), "QLinearMatMul": (1, 2, 4, 5, 6, 7)}

register("MatMul", FusionKind.MATMUL, macs=matmul_macs, rows=_matmul_rows)
register("Gemm", FusionKind.MATMUL, macs=matmul_macs, vector_ops=_gemm_vector_ops,
         bias_inputs=frozenset({2}), rows=_matmul_rows)
register("MatMulInteger", FusionKind.MATMUL, macs=matmul_macs,
         params=frozenset(_PARAMS["MatMulInteger"]), rows=_matmul_rows)
register("QLinearMatMul", FusionKind.MATMUL, macs=matmul_macs,
         vector_ops=lambda n, g: 3 * out_elements(n, g),
         params=frozenset(_PARAMS["QLinearMatMul"]), rows=_matmul_rows)
