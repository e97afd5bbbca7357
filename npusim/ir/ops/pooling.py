"""Pooling: MaxPool / AveragePool / LpPool cost one op per output per window element;
the global forms one op per input element."""

from __future__ import annotations

import math

from npusim.ir.graph import Graph, Node
from npusim.ir.ops.conv import window_rows
from npusim.ir.ops import (Access, FusionKind, Role, out_elements, per_input_element,
                           register)


def _window_ops(node: Node, graph: Graph) -> int:
    kernel = node.attr("kernel_shape") or ()
    return out_elements(node, graph) * math.prod(kernel)


def _writes_main_output(node: Node, graph: Graph):
    # MaxPool's optional Indices output is rarely materialized by a compiler.
    return (Access(node.outputs[0], out_elements(node, graph), Role.ACTIVATION),)


register(("MaxPool", "AveragePool", "LpPool"), FusionKind.REDUCTION, vector_ops=_window_ops,
         writes=_writes_main_output, rows=window_rows)
register(("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"), FusionKind.REDUCTION,
         vector_ops=per_input_element(1))
