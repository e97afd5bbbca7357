"""Reductions over axes: one op per input element (ArgMax/TopK compare once per element)."""

from __future__ import annotations

from npusim.ir.ops import FusionKind, per_input_element, register

register(("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
          "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp", "ArgMax", "ArgMin", "CumSum"),
         FusionKind.REDUCTION, vector_ops=per_input_element(1), params=frozenset({1}))
register("TopK", FusionKind.REDUCTION, vector_ops=per_input_element(1), params=frozenset({1}))
