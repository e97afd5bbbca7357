"""Operator fusion: which ops run together without a DRAM round trip, and how they tile.

`plan(problem, strategy, objective)` returns a frozen `Plan` that holds its `Problem`. Strategies share
one search space (segmentations of `fusion_order`, validity in `space.py`) and one cost model,
so the exact `dp` is never worse than `none`, `rules` or `greedy`.
"""

from __future__ import annotations

import math
import time

from npusim.cost import CostModel, OpCost, Problem, by_ddr, by_latency
from npusim.errors import NpusimError
from npusim.fusion.baselines import plan_greedy, plan_none, plan_rules
from npusim.fusion.dp import Key, plan_dp
from npusim.fusion.order import fusion_order
from npusim.fusion.plan import Plan
from npusim.fusion.space import SpaceRules

STRATEGIES = ("none", "rules", "greedy", "dp")

__all__ = ["STRATEGIES", "Plan", "fusion_order", "objective_key", "plan"]


def objective_key(objective: str) -> Key:
    """`latency` (default), `ddr`, or `weighted:W` = latency_ms + W x DDR MB."""
    if objective == "latency":
        return by_latency
    if objective == "ddr":
        return by_ddr
    if objective.startswith("weighted:"):
        try:
            w = float(objective.split(":", 1)[1])
        except ValueError:
            w = -1.0
        if math.isfinite(w) and w >= 0:
            return lambda c: (c.latency_ms + w * c.ddr_bytes / 1e6, c.latency_ms)
    raise NpusimError(f"unknown objective '{objective}': use latency, ddr or weighted:W "
                      "(W >= 0, ms per DDR MB)")


def plan(problem: Problem, strategy: str = "dp", objective: str = "latency",
         cost_model: CostModel | None = None) -> Plan:
    """Partition `problem`'s graph into fused groups with `strategy` (none, rules, greedy or
    dp), minimizing `objective` summed over groups. Strategies that share `cost_model`
    share its memo of priced groups."""
    if strategy not in STRATEGIES:
        raise NpusimError(f"unknown fusion strategy '{strategy}': use one of "
                          f"{', '.join(STRATEGIES)}")
    key = objective_key(objective)
    started = time.perf_counter()
    model = cost_model or CostModel(problem)
    order = fusion_order(problem.graph)
    if strategy == "none":
        segments = plan_none(order)
    else:
        rules = SpaceRules(model)
        planner = {"rules": plan_rules, "greedy": plan_greedy, "dp": plan_dp}[strategy]
        segments = planner(model, rules, order, key)
    groups: list[OpCost] = []
    for start, end in segments:
        cost = model.group(order[start:end], key)
        assert cost is not None, "planners return only valid, feasible segments"
        groups.append(cost)
    elapsed_ms = 1e3 * (time.perf_counter() - started)
    return Plan(problem, strategy, objective, tuple(groups), elapsed_ms)
