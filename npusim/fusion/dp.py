"""The exact planner: dynamic programming over the segmentations of the fusion order.

Search space: every partition of the fusion order (see `order.py`) into contiguous segments
that are valid groups (see `space.py`), each priced with its best feasible tiling by the cost
model. The objective is additive over groups (ops run one group after another), so
    best[j] = min over valid segments [i, j) of best[i] + cost([i, j))
is exact for that space. Objective values are tuples compared lexicographically (primary
objective, then a tie-breaker), which addition preserves.

Complexity: a segment ending at j grows leftward until a monotone rule breaks (unit change,
more than `max_ops` compute ops or `max_mac_ops` MAC ops), so at most n * W segments are
priced, W = the longest valid run (max_ops plus the view ops inside it). Pricing a segment
costs O(W log H) (a binary search over row tiles, H the output rows), so planning is
O(n W^2 log H) time and O(n) memory besides the memo of priced segments.
"""

from __future__ import annotations

from collections.abc import Callable

from npusim.cost import CostModel, OpCost
from npusim.fusion.space import Segment, SpaceRules

Key = Callable[[OpCost], tuple[float, ...]]


def add(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(x + y for x, y in zip(a, b))


def plan_dp(model: CostModel, rules: SpaceRules, order: tuple[int, ...], key: Key
            ) -> list[tuple[int, int]]:
    """Optimal segments [(start, end), ...] of `order` under `key`."""
    n = len(order)
    zero = key(model.op(order[0]))
    zero = tuple(0.0 for _ in zero)
    best: list[tuple[float, ...] | None] = [zero] + [None] * n
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        seg = Segment(rules)
        io = model.group_io()
        for i in range(j - 1, -1, -1):
            if not seg.add(order[i]):
                break
            io.prepend(model, order[i])
            if not seg.connected or best[i] is None:
                continue
            cost = model.group(order[i:j], key, io)
            if cost is None:
                continue
            value = add(best[i], key(cost))
            if best[j] is None or value < best[j]:
                best[j], cut[j] = value, i
    segments = []
    j = n
    while j > 0:
        segments.append((cut[j], j))
        j = cut[j]
    return segments[::-1]
