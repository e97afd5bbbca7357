"""Cut a graph at named tensors (`--outputs`), the way vendor toolchains deploy detectors.

The named tensors become the graph outputs and every node none of them needs is dropped,
so a data-dependent tail (NonMaxSuppression, NonZero) never reaches shape inference.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

import onnx

from npusim.errors import ShapeError


def parse_outputs(outputs: str | Sequence[str] | None) -> tuple[str, ...]:
    if outputs is None:
        return ()
    items = outputs.split(",") if isinstance(outputs, str) else list(outputs)
    names = tuple(dict.fromkeys(s.strip() for s in items if s.strip()))
    if not names:
        raise ShapeError("--outputs names no tensor; give NAME[,NAME...]")
    return names


def cut_outputs(nodes: list[onnx.NodeProto], inputs: Iterable[str], names: tuple[str, ...],
                declared: list[onnx.ValueInfoProto]) -> list[onnx.ValueInfoProto]:
    """The new graph outputs (typed where the model declared them); unknown names refused."""
    known = dict.fromkeys(inputs)
    for n in nodes:
        known.update(dict.fromkeys(o for o in n.output if o))
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ShapeError(f"--outputs names '{name}', which no node produces and no input "
                             f"provides{hint}")
    typed = {vi.name: vi for vi in declared}
    return [typed.get(name) or onnx.ValueInfoProto(name=name) for name in names]


def needed_nodes(nodes: list[onnx.NodeProto], outputs: Iterable[str]) -> list[onnx.NodeProto]:
    """Nodes some output depends on (one reverse walk; subgraph reads count as inputs)."""
    live = set(outputs)
    keep = []
    for node in reversed(nodes):
        if any(o in live for o in node.output):
            keep.append(node)
            live.update(i for i in node.input if i)
            live.update(_subgraph_reads(node))
    keep.reverse()
    return keep


def _subgraph_reads(node: onnx.NodeProto) -> set[str]:
    names: set[str] = set()
    stack = [a.g for a in node.attribute if a.type == onnx.AttributeProto.GRAPH]
    stack += [g for a in node.attribute if a.type == onnx.AttributeProto.GRAPHS for g in a.graphs]
    while stack:
        g = stack.pop()
        for n in g.node:
            names.update(i for i in n.input if i)
            stack += [a.g for a in n.attribute if a.type == onnx.AttributeProto.GRAPH]
            stack += [s for a in n.attribute if a.type == onnx.AttributeProto.GRAPHS
                      for s in a.graphs]
    return names
