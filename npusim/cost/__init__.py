"""Cost of ops and fused groups on a chip: which unit runs them, compute and DRAM time.

`CostModel(graph, chip, precision)` prices any op (`.op(i)`) or fused group (`.group(...)`),
choosing the group's tiling; `graph_costs` prices every op alone. Every result names the
estimated profile figures it rests on. Per-op compute time comes from `compute_time`.
"""

from npusim.cost.compute import ComputeTime, compute_time
from npusim.cost.model import (CostModel, Objective, OpCost, Tiling, assign_unit, by_ddr,
                               by_latency, group_name, tensor_bytes)
from npusim.hw.schema import Chip
from npusim.ir import Graph, Precision


def graph_costs(graph: Graph, chip: Chip, precision: Precision) -> tuple[OpCost, ...]:
    """Every op priced alone (reads inputs from and writes outputs to DRAM), in order."""
    return CostModel(graph, chip, precision).unfused()


__all__ = ["ComputeTime", "CostModel", "Objective", "OpCost", "Tiling", "assign_unit",
           "by_ddr", "by_latency", "compute_time", "graph_costs", "group_name",
           "tensor_bytes"]
