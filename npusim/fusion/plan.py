"""The fusion planner's result: a frozen `Plan` of groups, each an `OpCost` of the cost model,
holding the prepared `Problem` it was planned for (graph, chip, precision per node, facts).

A group names its ONNX nodes (`a+b` along data flow, `x||y` between sibling chains), its unit,
tiling, every tensor it moves over DRAM, what stays resident, and its latency in isolation.
"""

from __future__ import annotations

from dataclasses import dataclass

from npusim.cost import OpCost, Problem
from npusim.hw import Chip
from npusim.ir import Graph, Precision


@dataclass(frozen=True, slots=True, eq=False)
class Plan:
    """Groups in execution order; every node of the graph is in exactly one group."""

    problem: Problem
    strategy: str
    objective: str
    groups: tuple[OpCost, ...]
    planning_ms: float  # how long planning took: varies run to run, never written to JSON

    @property
    def graph(self) -> Graph:
        return self.problem.graph

    @property
    def chip(self) -> Chip:
        return self.problem.chip

    @property
    def model(self) -> str:
        return self.problem.model

    @property
    def precision(self) -> Precision:
        """The default precision (every node's, unless a precision map says otherwise)."""
        return self.problem.precision

    @property
    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        return self.problem.input_shapes

    @property
    def serial_latency_ms(self) -> float:
        """Sum of the groups' latencies, each priced in isolation: the planner's objective,
        not the latency (the scheduled timeline's makespan overlaps and stalls)."""
        return sum(g.latency_ms for g in self.groups)

    @property
    def compute_ms(self) -> float:
        return sum(g.compute_ms for g in self.groups)

    @property
    def ddr_bytes(self) -> int:
        """DRAM bytes the groups were priced with (valid bytes, without layout padding)."""
        return sum(g.ddr_bytes for g in self.groups)

    @property
    def ddr_round_trips(self) -> int:
        """Activations written to DRAM by one group and read back by a later one."""
        loaded = {t.tensor for g in self.groups for t in g.loads}
        return sum(1 for g in self.groups for t in g.stores if t.tensor in loaded)

    def group_of(self, node: str) -> OpCost:
        for g in self.groups:
            if node in g.members:
                return g
        raise KeyError(node)
