"""The op registry: for each ONNX op type, what it costs in chip-independent terms.

An `OpSpec` gives the op's fusion kind, its multiply-accumulates (work for a MAC array), its
other arithmetic (work for vector units) and which inputs are data rather than parameters.
`op_work(node, graph)` turns a node into an `OpWork` that the cost module prices on a chip.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from npusim.errors import UnsupportedOpError
from npusim.ir.graph import Graph, Node


class FusionKind(str, enum.Enum):
    CONV = "conv-like"
    MATMUL = "matmul-like"
    ELEMENTWISE = "elementwise"
    REDUCTION = "reduction"
    DATA_MOVEMENT = "data-movement"
    SHAPE_ONLY = "shape-only"


MAC_KINDS = (FusionKind.CONV, FusionKind.MATMUL)  # what MAC arrays and tensor cores run


class Role(str, enum.Enum):
    ACTIVATION = "activation"
    WEIGHT = "weight"
    BIAS = "bias"


@dataclass(frozen=True, slots=True)
class Access:
    """`elements` of tensor `tensor` read or written by one op."""

    tensor: str
    elements: int
    role: Role


@dataclass(frozen=True, slots=True)
class OpWork:
    """What one node does, independent of any chip."""

    node: str
    op_type: str
    kind: FusionKind
    macs: int
    vector_ops: int
    reads: tuple[Access, ...]
    writes: tuple[Access, ...]

    @property
    def flops(self) -> int:
        """Arithmetic operations: 2 per MAC plus the vector ops."""
        return 2 * self.macs + self.vector_ops


Counter = Callable[[Node, Graph], int]

FULL = -1
"""Row demand meaning "the whole tensor" (a weight, a broadcast operand, a matmul's B)."""

RowMap = Callable[[Node, Graph, int], dict[str, int] | None]
"""Given that a tile needs `rows` rows (axis -2) of the op's first output, how many rows of
each input does it read? FULL for an input needed whole; None if the op mixes rows (a
Transpose that moves axis -2, a reduction over it), so a group holding it cannot be
row-tiled."""


def _zero(node: Node, graph: Graph) -> int:
    return 0


@dataclass(frozen=True, slots=True)
class OpSpec:
    """How to count one op type. `params` are input indices that configure rather than feed
    the op (shapes, axes, scales): they are compiled into the instruction stream, not moved."""

    op_type: str
    kind: FusionKind
    macs: Counter = _zero
    vector_ops: Counter = _zero
    params: frozenset[int] = frozenset()
    bias_inputs: frozenset[int] = frozenset()
    reads: Callable[[Node, Graph], tuple[Access, ...]] | None = None
    writes: Callable[[Node, Graph], tuple[Access, ...]] | None = None
    rows: RowMap | None = None


_REGISTRY: dict[str, OpSpec] = {}


def register(op_types: str | Iterable[str], kind: FusionKind, **kw) -> None:
    for op_type in [op_types] if isinstance(op_types, str) else op_types:
        _REGISTRY[op_type] = OpSpec(op_type, kind, **kw)


def supported_ops() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def spec(node: Node) -> OpSpec:
    try:
        return _REGISTRY[node.op_type]
    except KeyError:
        domain = f" (domain '{node.domain}')" if node.domain else ""
        raise UnsupportedOpError(
            f"unsupported op '{node.op_type}'{domain} at node '{node.name}': npusim has no "
            "cost rule for it") from None


def op_work(node: Node, graph: Graph) -> OpWork:
    s = spec(node)
    reads = s.reads(node, graph) if s.reads else default_reads(node, graph, s)
    writes = s.writes(node, graph) if s.writes else default_writes(node, graph, s)
    return OpWork(node.name, node.op_type, s.kind, int(s.macs(node, graph)),
                  int(s.vector_ops(node, graph)), reads, writes)


def row_demand(node: Node, graph: Graph, rows: int) -> dict[str, int] | None:
    """Rows of each input a tile of `rows` output rows reads (see RowMap)."""
    s = spec(node)
    return None if s.rows is None else s.rows(node, graph, rows)


def rows_of(graph: Graph, tensor: str) -> int:
    """Size of the row axis (-2) of a tensor; tensors of rank < 2 are one row."""
    shape = graph.shape(tensor)
    return shape[-2] if len(shape) >= 2 else 1


def same_rows(node: Node, graph: Graph, rows: int) -> dict[str, int] | None:
    """Row-preserving ops (elementwise, normalizations over the last axis, concat on another
    axis): an input with the output's row count needs the same rows; a broadcast input (one
    row, or rank < 2) is needed whole; any other input mixes rows."""
    out = graph.shape(node.outputs[0])
    if len(out) < 2:
        return None
    demand = {}
    for i, name in enumerate(node.inputs):
        if not name or i in spec(node).params:
            continue
        shape = graph.shape(name)
        if len(shape) >= 2 and shape[-2] == out[-2] and shape[-2] > 1:
            demand[name] = rows
        elif len(shape) < 2 or shape[-2] == 1:
            demand[name] = FULL
        else:
            return None
    return demand


def default_reads(node: Node, graph: Graph, s: OpSpec) -> tuple[Access, ...]:
    if s.kind is FusionKind.SHAPE_ONLY:
        return ()
    out = []
    for i, name in enumerate(node.inputs):
        if not name or i in s.params:
            continue
        t = graph.tensor(name)
        if i in s.bias_inputs and t.is_constant:
            role = Role.BIAS
        else:
            role = Role.WEIGHT if t.is_constant else Role.ACTIVATION
        out.append(Access(name, t.size, role))
    return tuple(out)


def default_writes(node: Node, graph: Graph, s: OpSpec) -> tuple[Access, ...]:
    if s.kind is FusionKind.SHAPE_ONLY:
        return ()
    return tuple(Access(o, graph.tensor(o).size, Role.ACTIVATION) for o in node.outputs if o)


# -- counting helpers shared by the op modules ------------------------------------------------
def out_elements(node: Node, graph: Graph, i: int = 0) -> int:
    return graph.tensor(node.outputs[i]).size


def in_elements(node: Node, graph: Graph, i: int = 0) -> int:
    return graph.tensor(node.inputs[i]).size


def per_output_element(ops: int) -> Counter:
    return lambda node, graph: ops * sum(graph.tensor(o).size for o in node.outputs if o)


def per_input_element(ops: int) -> Counter:
    return lambda node, graph: ops * in_elements(node, graph)


from npusim.ir.ops import (  # noqa: E402,F401  (modules register their ops on import)
    conv,
    elementwise,
    matmul,
    movement,
    normalization,
    pooling,
    quant,
    recurrent,
    reduce,
)
