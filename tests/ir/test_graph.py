"""The IR graph orders nodes topologically in linear time and names a cycle when it has one."""

from __future__ import annotations

import time

import pytest

from npusim.errors import GraphError
from npusim.ir import DType, Graph, Node, Tensor


def _t(name):
    return Tensor(name, (1, 4), DType.FLOAT32)


def test_nodes_are_sorted_with_file_order_breaking_ties():
    nodes = (Node("b", "Relu", ("x1",), ("y",)), Node("a1", "Neg", ("x",), ("x1",)),
             Node("c", "Neg", ("x",), ("z",)))
    g = Graph("g", nodes, {n: _t(n) for n in ("x", "x1", "y", "z")}, ("x",), ("y", "z"), 21)
    assert [n.name for n in g.nodes] == ["a1", "b", "c"]


def test_a_cycle_is_named_by_its_nodes():
    nodes = (Node("p", "Relu", ("x", "b_out"), ("a_out",)),
             Node("q", "Neg", ("a_out",), ("b_out",)))
    with pytest.raises(GraphError, match="cycle: (p -> q -> p|q -> p -> q)"):
        Graph("g", nodes, {n: _t(n) for n in ("x", "a_out", "b_out")}, ("x",), ("b_out",), 21)


def test_a_50k_node_chain_is_ordered_in_linear_time():
    n = 50_000
    nodes = tuple(Node(f"n{i}", "Relu", (f"t{i}",), (f"t{i + 1}",)) for i in reversed(range(n)))
    tensors = {f"t{i}": _t(f"t{i}") for i in range(n + 1)}
    start = time.perf_counter()
    g = Graph("chain", nodes, tensors, ("t0",), (f"t{n}",), 21)
    assert g.nodes[0].name == "n0" and g.nodes[-1].name == f"n{n - 1}"
    assert time.perf_counter() - start < 10
