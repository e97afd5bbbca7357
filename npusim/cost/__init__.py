"""Cost of ops and fused groups on a chip: which unit runs them, compute and DRAM time.

`prepare_problem(graph, chip, precision)` computes every fact once (a frozen `Problem`);
`CostModel(problem)` prices any op (`.op(i)`) or fused group (`.group(...)`), choosing the
group's tiling and recording every tensor it moves (`Traffic`). Every result names the
estimated profile figures it rests on. Per-op compute time comes from `compute_time`.
"""

from npusim.cost.compute import ComputeTime, compute_time
from npusim.cost.model import CostModel
from npusim.cost.naming import group_name, short_name
from npusim.cost.opcost import (
    Bound,
    Objective,
    OpCost,
    Tiling,
    Traffic,
    WeightMode,
    by_ddr,
    by_latency,
)
from npusim.cost.problem import (
    Problem,
    assign_unit,
    element_bytes,
    is_view,
    prepare_problem,
    tensor_bytes,
)
from npusim.hw.schema import Chip
from npusim.ir import Graph, Precision


def graph_costs(graph: Graph, chip: Chip, precision: Precision) -> tuple[OpCost, ...]:
    """Every op priced alone (reads inputs from and writes outputs to DRAM), in order."""
    return CostModel(prepare_problem(graph, chip, precision)).unfused()


__all__ = ["Bound", "ComputeTime", "CostModel", "Objective", "OpCost", "Problem", "Tiling",
           "Traffic", "WeightMode", "assign_unit", "by_ddr", "by_latency", "compute_time",
           "element_bytes", "graph_costs", "group_name", "is_view", "prepare_problem",
           "short_name", "tensor_bytes"]
