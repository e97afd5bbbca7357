"""Elementwise ops: arithmetic, comparisons, activations, casts.

Vector work is counted per output element: 1 for a basic arithmetic or compare, and the
listed count for composite activations (the number of basic ops their usual formula takes,
e.g. HardSwish = x * clip(x/6 + 1/2, 0, 1): 4). Transcendentals (exp, erf, tanh) count 1, as
vector units with a special-function unit issue them at the basic rate.
"""

from __future__ import annotations

from npusim.ir.graph import Graph, Node
from npusim.ir.ops import FusionKind, out_elements, per_output_element, register, same_rows

_OPS_PER_ELEMENT = {
    # arithmetic
    "Add": 1, "Sub": 1, "Mul": 1, "Div": 1, "Pow": 1, "Sqrt": 1, "Reciprocal": 1, "Neg": 1,
    "Abs": 1, "Exp": 1, "Log": 1, "Floor": 1, "Ceil": 1, "Round": 1, "Sign": 1, "Mod": 1,
    "Sin": 1, "Cos": 1, "BitShift": 1,
    # compare / logic / select / cast
    "Equal": 1, "Greater": 1, "Less": 1, "GreaterOrEqual": 1, "LessOrEqual": 1, "And": 1,
    "Or": 1, "Xor": 1, "Not": 1, "IsNaN": 1, "IsInf": 1, "Where": 1, "Cast": 1, "CastLike": 1,
    # activations
    "Relu": 1, "LeakyRelu": 2, "PRelu": 2, "Clip": 2, "Sigmoid": 3, "HardSigmoid": 3,
    "HardSwish": 4, "Tanh": 1, "Erf": 1, "Gelu": 8, "Elu": 3, "Selu": 4, "Celu": 4,
    "Softplus": 3, "Softsign": 3, "Mish": 6, "ThresholdedRelu": 2, "Shrink": 2,
}

for _op, _n in _OPS_PER_ELEMENT.items():
    _params = frozenset({1, 2}) if _op == "Clip" else frozenset()
    register(_op, FusionKind.ELEMENTWISE, vector_ops=per_output_element(_n), params=_params,
             rows=same_rows)


def _variadic_ops(node: Node, graph: Graph) -> int:
    """Sum/Max/Min/Mean of n inputs: n - 1 binary ops per element (+1 for Mean's divide)."""
    n = sum(1 for i in node.inputs if i)
    extra = 1 if node.op_type == "Mean" else 0
    return (max(n - 1, 0) + extra) * out_elements(node, graph)


register(("Sum", "Max", "Min", "Mean"), FusionKind.ELEMENTWISE, vector_ops=_variadic_ops,
         rows=same_rows)
