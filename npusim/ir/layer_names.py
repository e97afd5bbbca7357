"""Layer names a user writes (in a precision map, on the command line) resolved to the graph's
nodes: a node name, an original ONNX node merged into one (`conv+bn`), or a fused group's
name as the tables print it (`a+b`, `(a+b)||c`), which means all its members."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TypeVar

from npusim.errors import NpusimError
from npusim.ir.graph import Graph

V = TypeVar("V")


def resolve_layers(graph: Graph, values: Mapping[str, V], where: str) -> dict[str, V]:
    """`values` keyed by layer or group names -> keyed by node names. An unknown name is an
    `NpusimError` naming `where` and the closest node names; a node named twice with two
    different values is one too."""
    nodes = [n.name for n in graph.nodes]
    alias = _aliases(nodes)
    out: dict[str, V] = {}
    given: dict[str, str] = {}
    for key, value in values.items():
        members = members_of(key, alias)
        if members is None:
            close = difflib.get_close_matches(key, list(alias), n=3, cutoff=0.5)
            hint = f"; close matches: {', '.join(close)}" if close else ""
            raise NpusimError(f"{where}: layer '{key}', which is no node or fused group "
                              f"of {graph.name}{hint}")
        for m in members:
            if m in out and out[m] != value:
                raise NpusimError(f"{where}: layer '{m}' is given both {out[m]} (as "
                                  f"'{given[m]}') and {value} (as '{key}')")
            out[m], given[m] = value, key
    return out


def _aliases(nodes: list[str]) -> dict[str, str]:
    """Every name a node answers to: its own, and each original node merged into it."""
    alias: dict[str, str] = {}
    for name in nodes:
        for piece in name.split("+"):
            alias.setdefault(piece, name)
    alias.update({name: name for name in nodes})
    return alias


def members_of(key: str, alias: Mapping[str, str]) -> list[str] | None:
    """The nodes a layer or group name means (None if some part names no node)."""
    if key in alias:
        return [alias[key]]
    out: list[str] = []
    for part in key.split("||"):
        part = part.strip()
        if part.startswith("(") and part.endswith(")"):
            part = part[1:-1]
        chain = _chain(part.split("+"), alias)
        if chain is None:
            return None
        out += [m for m in chain if m not in out]
    return out


def _chain(pieces: list[str], alias: Mapping[str, str]) -> list[str] | None:
    """`a+b+c` split into node names, each the longest run of pieces that names a node
    (node names of a canonical graph contain `+` themselves)."""
    out: list[str] = []
    i = 0
    while i < len(pieces):
        for j in range(len(pieces), i, -1):
            name = "+".join(pieces[i:j])
            if name in alias:
                if alias[name] not in out:
                    out.append(alias[name])
                i = j
                break
        else:
            return None
    return out
