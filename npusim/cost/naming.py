"""Names of fused groups, built from the user's ONNX node names so every figure traces back:
`a+b` along data flow, `x||y` between sibling chains, and a short form for narrow tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from npusim.ir import Graph


def group_name(graph: Graph, members: Sequence[int],
               sources: Sequence[tuple[int, ...]]) -> str:
    """ONNX node names joined with `+` along data flow and `||` between sibling chains
    (ops in one group that only share an input). `sources[i]`: the nodes whose outputs node
    i reads (`producer_indices`, computed once per graph)."""
    nodes = graph.nodes
    if len(members) == 1:
        return nodes[members[0]].name
    parts = ["+".join(nodes[i].name for i in chain)
             for chain in connected_parts(members, lambda i: sources[i])]
    if len(parts) == 1:
        return parts[0]
    return "||".join(f"({p})" if "+" in p else p for p in parts)


def connected_parts(members: Sequence[int], linked: Callable[[int], Iterable[int]]
                    ) -> list[list[int]]:
    """`members` split into the parts that `linked(i)` (the nodes i is joined to; those
    outside `members` are ignored) connects: each part in `members`' order, the parts in
    the order of their first member."""
    inside = set(members)
    parent = {i: i for i in members}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in members:
        for j in linked(i):
            if j in inside:
                parent[find(i)] = find(j)
    parts: dict[int, list[int]] = {}
    for i in members:
        parts.setdefault(find(i), []).append(i)
    return list(parts.values())


def producer_indices(graph: Graph) -> tuple[tuple[int, ...], ...]:
    """For each node, the indices of the nodes (views included) producing its inputs."""
    index = {n.name: i for i, n in enumerate(graph.nodes)}
    out = []
    for n in graph.nodes:
        srcs = []
        for name in n.inputs:
            node = graph.producer(name) if name else None
            if node is not None:
                srcs.append(index[node.name])
        out.append(tuple(srcs))
    return tuple(out)


def short_name(members: Sequence[str], width: int = 40) -> str:
    """A group as its first and last node and how many more it holds, in `width` characters:
    `first ... last (+N)`, the last node without the path it shares with the first (a node
    merged by canonicalization, conv+bn, shows as its first original node)."""
    if len(members) <= 1:
        return _cut_middle(members[0] if members else "", width)
    first, last = members[0].split("+")[0], members[-1].split("+")[0]
    shared = first[:len(_common_prefix(first, last))]
    last = last[shared.rfind("/") + 1:] if "/" in shared else last
    more = f" (+{len(members) - 2})" if len(members) > 2 else ""
    budget = width - len(more) - len(" ... ")
    last = _cut_start(last, max(8, budget // 3))
    return f"{_cut_middle(first, budget - len(last))} ... {last}{more}"


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _cut_start(name: str, width: int) -> str:
    """Keep the end of a long name (the part that differs between layers), at a `/`."""
    if len(name) <= width:
        return name
    parts = name.split("/")
    for k in range(1, len(parts)):
        tail = "/".join(parts[k:])
        if len(tail) + 2 <= width:
            return "…/" + tail
    return "…" + name[-(width - 1):]


def _cut_middle(name: str, width: int) -> str:
    """Keep both ends of a long name, where it is in the model and what it is, cutting
    whole path segments out of the middle where the name is a path."""
    if len(name) <= width:
        return name
    parts = name.split("/")
    head = "/".join(parts[:2]) if len(parts) > 2 else ""
    for k in range(2, len(parts)):
        tail = "/".join(parts[k:])
        if head and len(head) + len(tail) + 3 <= width:
            return f"{head}/…/{tail}"
    keep = (width - 1) // 2
    return name[:keep] + "…" + name[-(width - 1 - keep):]
