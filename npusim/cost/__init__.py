"""Per-op cost on a chip: which unit runs it, compute and memory time, DDR bytes.

`op_cost` prices one op in isolation (inputs read from and outputs written to DRAM);
`graph_costs` does so for a whole graph. Every result names the estimated profile figures it
rests on.
"""

from npusim.cost.roofline import OpCost, assign_unit, graph_costs, op_cost, tensor_bytes

__all__ = ["OpCost", "assign_unit", "graph_costs", "op_cost", "tensor_bytes"]
