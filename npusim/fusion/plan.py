"""The fusion planner's result: a frozen `Plan` of groups, each an `OpCost` of the cost model.

A group names its ONNX nodes (`a+b` along data flow, `x||y` between sibling chains), its unit,
tiling, the tensors it loads from and stores to DRAM, what stays resident, and its latency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from npusim.cost import OpCost


@dataclass(frozen=True, slots=True)
class Plan:
    """Groups in execution order; every node of the graph is in exactly one group."""

    model: str
    chip: str
    precision: str
    strategy: str
    objective: str
    groups: tuple[OpCost, ...]
    input_shapes: Mapping[str, tuple[int, ...]]
    planning_ms: float  # how long planning took: varies run to run, never written to JSON

    @property
    def latency_ms(self) -> float:
        return sum(g.latency_ms for g in self.groups)

    @property
    def compute_ms(self) -> float:
        return sum(g.compute_ms for g in self.groups)

    @property
    def ddr_bytes(self) -> int:
        return sum(g.ddr_bytes for g in self.groups)

    @property
    def ddr_round_trips(self) -> int:
        """Activations written to DRAM by one group and read back by a later one."""
        loaded = {t for g in self.groups for t, _ in g.loads}
        return sum(1 for g in self.groups for t, _ in g.stores if t in loaded)

    def group_of(self, node: str) -> OpCost:
        for g in self.groups:
            if node in g.members:
                return g
        raise KeyError(node)
