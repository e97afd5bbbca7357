"""The search space: which runs of the fusion order may form a group.

A segment (a contiguous run of the order) is a valid group when:
1. its compute ops (view ops do not count) all run on one unit, at one precision unless the
   unit's fusion rules allow `mixed_precision`;
2. if it has more than one compute op: that unit has fusion rules, every op's kind is in
   them, and it holds at most `max_ops` ops and `max_mac_ops` conv/matmul ops;
3. it is connected, counting an edge between a producer and its consumer (through views)
   and between two ops that read the same activation (horizontal fusion);
4. on a unit with `tail_conv_int32` (J5) at an integer precision, a Conv that feeds the model
   output only through elementwise ops emits int32 and holds no consumer of its output;
5. the cost model finds a tiling whose working set fits the unit's fusion SRAM.
Rules 1, 2 and 4 only get worse as a segment grows, so a planner extending a segment may stop
at the first violation; rules 3 and 5 may not, and are checked per segment.
"""

from __future__ import annotations

from npusim.cost import CostModel
from npusim.ir import MAC_KINDS, FusionKind

_PASS_THROUGH = (FusionKind.ELEMENTWISE, FusionKind.SHAPE_ONLY)


class SpaceRules:
    """Per-node facts the validity rules need, computed once per graph."""

    def __init__(self, model: CostModel):
        self.model = model
        graph = model.problem.graph
        n = len(graph.nodes)
        self.neighbours: list[set[int]] = [set() for _ in range(n)]
        readers_of_root: dict[str, list[int]] = {}
        for i, node in enumerate(graph.nodes):
            for name in node.inputs:
                if not name or graph.tensor(name).is_constant:
                    continue
                p = graph.producer(name)
                if p is not None:
                    j = model.problem.index[p.name]
                    self.neighbours[i].add(j)
                    self.neighbours[j].add(i)
                readers_of_root.setdefault(model.problem.root_of(name), []).append(i)
        for readers in readers_of_root.values():  # siblings sharing an activation
            for a in readers:
                self.neighbours[a].update(b for b in readers if b != a)
        self.tail_consumers: list[set[int]] = [set() for _ in range(n)]
        for i, node in enumerate(graph.nodes):
            unit = model.problem.unit[i]
            if (model.problem.precision_of(i).is_integer and node.op_type == "Conv" and unit is not None
                    and unit.fusion is not None and unit.fusion.tail_conv_int32
                    and self._feeds_output_elementwise(i)):
                self.tail_consumers[i] = {model.problem.index[c.name]
                                          for c in graph.consumers(node.outputs[0])}

    def _feeds_output_elementwise(self, i: int) -> bool:
        """True if every path from node i reaches a graph output through elementwise and
        view ops only (a tail conv, in Horizon's sense)."""
        graph, model = self.model.problem.graph, self.model
        outputs = set(graph.outputs)
        stack, seen = [i], set()
        reached = False
        while stack:
            j = stack.pop()
            if j in seen:
                continue
            seen.add(j)
            for out in graph.nodes[j].outputs:
                reached |= out in outputs
                for c in graph.consumers(out):
                    k = model.problem.index[c.name]
                    if model.problem.work[k].kind not in _PASS_THROUGH:
                        return False
                    stack.append(k)
        return reached


class Segment:
    """A growing run of the order; `add` returns False once a monotone rule is broken."""

    __slots__ = ("rules", "members", "unit", "precision", "compute_ops", "mac_ops",
                 "non_fusible", "parent", "components")

    def __init__(self, rules: SpaceRules):
        self.rules = rules
        self.members: list[int] = []
        self.unit = None
        self.precision = None
        self.compute_ops = self.mac_ops = self.non_fusible = 0
        self.parent: dict[int, int] = {}
        self.components = 0

    def add(self, i: int) -> bool:
        model = self.rules.model
        self.members.append(i)
        self.parent[i] = i
        self.components += 1
        for j in self.rules.neighbours[i]:
            if j in self.parent:
                a, b = self._find(i), self._find(j)
                if a != b:
                    self.parent[a] = b
                    self.components -= 1
        if model.problem.is_view[i]:
            return True
        unit, precision = model.problem.unit[i], model.problem.precision_of(i)
        if self.unit is None:
            self.unit, self.precision = unit, precision
        elif unit.name != self.unit.name or (
                precision is not self.precision and not unit.fuses_mixed_precision):
            return False  # a group runs on one unit, at one precision unless it may mix
        kind = model.problem.work[i].kind
        self.compute_ops += 1
        self.mac_ops += kind in MAC_KINDS
        fusion = unit.fusion
        self.non_fusible += fusion is None or kind not in fusion.kinds
        if self.compute_ops > 1:
            if self.non_fusible or self.compute_ops > fusion.max_ops.value or (
                    self.mac_ops > fusion.max_mac_ops.value):
                return False
        for j in self.members:
            if j in self.rules.tail_consumers[i] or i in self.rules.tail_consumers[j]:
                return False
        return True

    def _find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    @property
    def connected(self) -> bool:
        return self.components == 1

