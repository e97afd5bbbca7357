"""The IR every stage after the frontend reads: immutable tensors, nodes and graphs.

A `Graph` holds its nodes in topological order and validates itself on construction (no
cycles, no dangling tensor references, one producer per tensor), so later stages can trust it.
"""

from __future__ import annotations

import heapq
import math
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from npusim.errors import GraphError
from npusim.ir.deferred import Deferred
from npusim.ir.dtypes import DType


@dataclass(frozen=True, slots=True, eq=False)
class Tensor:
    """A value in the graph: an activation, a graph input, or a constant (`value` set).
    A constant's value may be `Deferred` (weights left on disk): `data` reads it."""

    name: str
    shape: tuple[int, ...]
    dtype: DType
    value: np.ndarray | Deferred | None = None

    def __post_init__(self) -> None:
        if isinstance(self.value, np.ndarray) and self.value.flags.writeable:
            # The graph is immutable: a constant's array must not change under it.
            data = self.value.view()
            data.flags.writeable = False
            object.__setattr__(self, "value", data)

    @property
    def data(self) -> np.ndarray | None:
        """The constant's array (read from disk or computed on first use), or None."""
        v = self.value
        return v.array() if isinstance(v, Deferred) else v

    @property
    def is_constant(self) -> bool:
        return self.value is not None

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> float:
        """Bytes in the tensor's own dtype."""
        return self.size * self.dtype.itemsize

    @property
    def rank(self) -> int:
        return len(self.shape)


@dataclass(frozen=True, slots=True, eq=False)
class Node:
    """One operator application. `inputs` may hold "" for an omitted optional input."""

    name: str
    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    domain: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "attrs", types.MappingProxyType(dict(self.attrs)))

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def input(self, i: int) -> str | None:
        """Name of input i, or None when it is absent or omitted."""
        if i < len(self.inputs) and self.inputs[i]:
            return self.inputs[i]
        return None


@dataclass(frozen=True, slots=True, eq=False)
class Graph:
    """A validated dataflow graph; `nodes` are in topological order."""

    name: str
    nodes: tuple[Node, ...]
    tensors: Mapping[str, Tensor]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    opset: int
    notes: tuple[str, ...] = ()  # what the user should know (e.g. weights absent: shapes only)
    _producer: Mapping[str, Node] = field(init=False, repr=False)
    _consumers: Mapping[str, tuple[Node, ...]] = field(init=False, repr=False)
    _by_name: Mapping[str, Node] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        tensors = types.MappingProxyType(dict(self.tensors))
        object.__setattr__(self, "tensors", tensors)
        producer: dict[str, Node] = {}
        by_name: dict[str, Node] = {}
        for node in self.nodes:
            if node.name in by_name:
                raise GraphError(f"graph '{self.name}': two nodes are named '{node.name}'")
            by_name[node.name] = node
            for out in node.outputs:
                if not out:
                    continue
                if out in producer:
                    raise GraphError(f"graph '{self.name}': tensor '{out}' is produced by both "
                                     f"'{producer[out].name}' and '{node.name}'")
                producer[out] = node
        for name in (*self.inputs, *producer):
            if name not in tensors:
                raise GraphError(f"graph '{self.name}': tensor '{name}' has no type or shape")
        consumers: dict[str, list[Node]] = {}
        for node in self.nodes:
            for inp in node.inputs:
                if not inp:
                    continue
                if inp not in tensors:
                    raise GraphError(f"node '{node.name}' ({node.op_type}) reads '{inp}', "
                                     "which no node, input or initializer provides")
                consumers.setdefault(inp, []).append(node)
        for out in self.outputs:
            if out not in tensors:
                raise GraphError(f"graph output '{out}' is never produced")
        object.__setattr__(self, "_producer", types.MappingProxyType(producer))
        object.__setattr__(self, "_by_name", types.MappingProxyType(by_name))
        object.__setattr__(self, "_consumers", types.MappingProxyType(
            {k: tuple(v) for k, v in consumers.items()}))
        object.__setattr__(self, "nodes", _topological(self.name, self.nodes, producer))

    # -- lookups ---------------------------------------------------------------------------
    def node(self, name: str) -> Node:
        try:
            return self._by_name[name]
        except KeyError:
            raise GraphError(f"graph '{self.name}' has no node named '{name}'") from None

    def tensor(self, name: str) -> Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise GraphError(f"graph '{self.name}' has no tensor named '{name}'") from None

    def producer(self, tensor: str) -> Node | None:
        return self._producer.get(tensor)

    def consumers(self, tensor: str) -> tuple[Node, ...]:
        return self._consumers.get(tensor, ())

    def constant(self, name: str | None) -> np.ndarray | None:
        """The value of a constant tensor, or None if it is absent or not constant."""
        if not name:
            return None
        t = self.tensors.get(name)
        return None if t is None else t.data

    def shape(self, name: str) -> tuple[int, ...]:
        return self.tensor(name).shape

    @property
    def constants(self) -> tuple[Tensor, ...]:
        return tuple(t for t in self.tensors.values() if t.is_constant)

    def replace(self, *, nodes: Iterable[Node] | None = None,
                tensors: Mapping[str, Tensor] | None = None,
                inputs: Iterable[str] | None = None,
                outputs: Iterable[str] | None = None,
                notes: Iterable[str] | None = None) -> Graph:
        """A new graph with some parts swapped; tensors nothing refers to are dropped."""
        nodes = tuple(self.nodes if nodes is None else nodes)
        tensors = dict(self.tensors if tensors is None else tensors)
        inputs = tuple(self.inputs if inputs is None else inputs)
        outputs = tuple(self.outputs if outputs is None else outputs)
        used = set(inputs) | set(outputs)
        for n in nodes:
            used.update(i for i in n.inputs if i)
            used.update(o for o in n.outputs if o)
        tensors = {k: v for k, v in tensors.items() if k in used}
        notes = tuple(self.notes if notes is None else notes)
        return Graph(self.name, nodes, tensors, inputs, outputs, self.opset, notes)


def _topological(graph_name: str, nodes: tuple[Node, ...],
                 producer: Mapping[str, Node]) -> tuple[Node, ...]:
    """Nodes in a stable topological order (ties keep file order); a cycle is an error.
    Kahn's algorithm with a heap of file positions: O(n log n), no recursion."""
    index = {id(n): i for i, n in enumerate(nodes)}
    successors: list[list[int]] = [[] for _ in nodes]
    indegree = [0] * len(nodes)
    for i, node in enumerate(nodes):
        for src in {index[id(p)] for p in (producer.get(x) for x in node.inputs if x) if p}:
            successors[src].append(i)
            indegree[i] += 1
    ready = [i for i, d in enumerate(indegree) if d == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(nodes[i])
        for j in successors[i]:
            indegree[j] -= 1
            if indegree[j] == 0:
                heapq.heappush(ready, j)
    if len(order) < len(nodes):
        cycle = _cycle(nodes, indegree, index, producer)
        raise GraphError(f"graph '{graph_name}' has a cycle: {cycle}")
    return tuple(order)


def _cycle(nodes, indegree, index, producer) -> str:
    """One cycle among the nodes Kahn's algorithm could not order, as a path of names."""
    stuck = {i for i, d in enumerate(indegree) if d > 0}
    i = min(stuck)
    path: list[int] = []
    seen: dict[int, int] = {}
    while i not in seen:
        seen[i] = len(path)
        path.append(i)
        preds = [index[id(p)] for p in (producer.get(x) for x in nodes[i].inputs if x) if p]
        i = next(j for j in preds if j in stuck)
    loop = path[seen[i]:][::-1]
    return " -> ".join(nodes[j].name for j in loop) + f" -> {nodes[loop[0]].name}"
