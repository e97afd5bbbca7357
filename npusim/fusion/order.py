"""The execution order the planner partitions: a topological order that keeps fusible chains
next to each other.

It is the post-order of a depth-first walk back from the graph outputs that visits the
shallower input branch of a join first: a residual block comes out as shortcut, then main
branch, then the Add, so the Add follows the conv that feeds it.
"""

from __future__ import annotations

from npusim.ir import Graph


def fusion_order(graph: Graph) -> tuple[int, ...]:
    index = {n.name: i for i, n in enumerate(graph.nodes)}
    producers: list[list[int]] = []
    for node in graph.nodes:
        srcs = []
        for name in node.inputs:
            p = graph.producer(name) if name else None
            if p is not None and index[p.name] not in srcs:
                srcs.append(index[p.name])
        producers.append(srcs)
    depth = [0] * len(graph.nodes)
    for i, srcs in enumerate(producers):  # graph.nodes is topologically sorted
        depth[i] = 1 + max((depth[s] for s in srcs), default=-1)
    roots = [index[p.name] for p in (graph.producer(o) for o in graph.outputs) if p]
    roots += range(len(graph.nodes))  # anything not reaching an output, in file order
    done: set[int] = set()
    order: list[int] = []
    for root in roots:
        if root in done:
            continue
        stack = [(root, False)]
        while stack:  # iterative: real graphs are deeper than Python's recursion limit
            i, expanded = stack.pop()
            if i in done:
                continue
            if expanded:
                done.add(i)
                order.append(i)
                continue
            stack.append((i, True))
            # pushed deepest first, so the shallowest input branch is walked (emitted) first
            for s in sorted(producers[i], key=lambda s: (depth[s], s), reverse=True):
                if s not in done:
                    stack.append((s, False))
    return tuple(order)
