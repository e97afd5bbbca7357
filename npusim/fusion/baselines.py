"""Baseline planners over the same order, rules and cost model as the DP, so DP <= each.

- `none`: every op alone.
- `rules`: TensorRT/TVM-style vertical patterns: a conv or matmul absorbs the elementwise ops
  that follow it in the order and consume the group's output (bias, BatchNorm, activation,
  residual Add), while the result stays a valid, feasible group.
- `greedy`: walk the order and grow the current group by the next op while that lowers the
  objective against closing the group there; otherwise start a new group.
"""

from __future__ import annotations

from npusim.cost import CostModel
from npusim.fusion.dp import Key, add
from npusim.fusion.space import Segment, SpaceRules
from npusim.ir import MAC_KINDS, FusionKind

_ANCHORS = MAC_KINDS


def plan_none(order: tuple[int, ...]) -> list[tuple[int, int]]:
    return [(i, i + 1) for i in range(len(order))]


def plan_rules(model: CostModel, rules: SpaceRules, order: tuple[int, ...], key: Key
               ) -> list[tuple[int, int]]:
    graph = model.problem.graph
    segments, i, n = [], 0, len(order)
    while i < n:
        end = i + 1
        if model.problem.work[order[i]].kind in _ANCHORS:
            seg = Segment(rules)
            seg.add(order[i])
            produced = set(graph.nodes[order[i]].outputs)
            j = i + 1
            while j < n:
                node = graph.nodes[order[j]]
                kind = model.problem.work[order[j]].kind
                follows = any(model.problem.root_of(t) in produced or t in produced
                              for t in node.inputs if t)
                if kind not in (FusionKind.ELEMENTWISE, FusionKind.SHAPE_ONLY) or not follows:
                    break
                if not seg.add(order[j]) or model.group(order[i:j + 1], key) is None:
                    break
                produced.update(node.outputs)
                j += 1
                end = j
        segments.append((i, end))
        i = end
    return segments


def plan_greedy(model: CostModel, rules: SpaceRules, order: tuple[int, ...], key: Key
                ) -> list[tuple[int, int]]:
    segments, start, n = [], 0, len(order)
    seg = Segment(rules)
    seg.add(order[0])
    for j in range(1, n):
        grown_ok = seg.add(order[j])
        grown = model.group(order[start:j + 1], key) if grown_ok and seg.connected else None
        if grown is not None:
            apart = add(key(model.group(order[start:j], key)), key(model.op(order[j])))
            if key(grown) < apart:
                continue
        segments.append((start, j))
        start = j
        seg = Segment(rules)
        seg.add(order[j])
    segments.append((start, n))
    return segments
