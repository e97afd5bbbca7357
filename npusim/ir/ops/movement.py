"""Ops that move or reinterpret data without arithmetic.

Data movement (Transpose, Concat, Slice, Gather, Resize, ...) reads and writes real bytes.
Shape-only ops (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout at inference, Shape)
are views: a compiler turns them into a change of tensor descriptor, so they move nothing.
"""

from __future__ import annotations

from npusim.ir.graph import Graph, Node
from npusim.ir.ops import Access, FusionKind, Role, out_elements, register, same_rows


def _role(graph: Graph, name: str) -> Role:
    return Role.WEIGHT if graph.tensor(name).is_constant else Role.ACTIVATION


def _read_output_sized(node: Node, graph: Graph) -> tuple[Access, ...]:
    """Gather / Slice touch only the elements they emit (plus Gather's indices)."""
    data = node.inputs[0]
    reads = [Access(data, out_elements(node, graph), _role(graph, data))]
    if node.op_type.startswith("Gather") and node.input(1):
        idx = node.inputs[1]
        reads.append(Access(idx, graph.tensor(idx).size, _role(graph, idx)))
    return tuple(reads)


def _read_first(node: Node, graph: Graph) -> tuple[Access, ...]:
    data = node.inputs[0]
    return (Access(data, graph.tensor(data).size, _role(graph, data)),)


def _resize_ops(node: Node, graph: Graph) -> int:
    per_element = {"nearest": 0, "linear": 7, "cubic": 30}.get(node.attr("mode", "nearest"), 7)
    return per_element * out_elements(node, graph)


def _keeps_row_axis(node: Node, graph: Graph, rows: int) -> dict[str, int] | None:
    """Views and copies that leave the last two axes as they are keep rows independent."""
    x = node.inputs[0]
    if graph.shape(node.outputs[0])[-2:] != graph.shape(x)[-2:] or len(graph.shape(x)) < 2:
        return None
    return {x: rows}


def _axis_rows(node: Node, graph: Graph, rows: int) -> dict[str, int] | None:
    """Concat / Split along an axis other than -2."""
    rank = len(graph.shape(node.outputs[0]))
    axis = int(node.attr("axis", 0))
    if rank < 2 or (axis + rank) % rank == rank - 2:
        return None
    return same_rows(node, graph, rows)


def _transpose_rows(node: Node, graph: Graph, rows: int) -> dict[str, int] | None:
    rank = len(graph.shape(node.inputs[0]))
    perm = node.attr("perm") or tuple(reversed(range(rank)))
    return {node.inputs[0]: rows} if rank >= 2 and perm[rank - 2] == rank - 2 else None


def _resize_rows(node: Node, graph: Graph, rows: int) -> dict[str, int] | None:
    x = node.inputs[0]
    h_in, h_out = graph.shape(x)[-2], graph.shape(node.outputs[0])[-2]
    if len(graph.shape(x)) != 4:
        return None
    return {x: min(h_in, -(-rows * h_in // h_out) + 1)}


def _pad_rows(node: Node, graph: Graph, rows: int) -> dict[str, int] | None:
    pads = graph.constant(node.input(1))
    rank = len(graph.shape(node.inputs[0]))
    if pads is None or rank < 2 or node.input(3) or pads[rank - 2] or pads[2 * rank - 2]:
        return None
    return {node.inputs[0]: rows}


register("Transpose", FusionKind.DATA_MOVEMENT, rows=_transpose_rows)
register("Concat", FusionKind.DATA_MOVEMENT, rows=_axis_rows)
register("Split", FusionKind.DATA_MOVEMENT, rows=_axis_rows, params=frozenset({1}))
register(("DepthToSpace", "SpaceToDepth", "ScatterND", "ScatterElements", "ReverseSequence"),
         FusionKind.DATA_MOVEMENT)
register(("Gather", "GatherElements", "GatherND", "Slice"), FusionKind.DATA_MOVEMENT,
         reads=_read_output_sized)
register(("Expand", "Tile"), FusionKind.DATA_MOVEMENT, reads=_read_first)
register("Pad", FusionKind.DATA_MOVEMENT, reads=_read_first, rows=_pad_rows)
register(("Resize", "Upsample"), FusionKind.DATA_MOVEMENT, vector_ops=_resize_ops,
         reads=_read_first, rows=_resize_rows)
register(("ConstantOfShape", "Range", "EyeLike"), FusionKind.DATA_MOVEMENT,
         reads=lambda n, g: ())
register(("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"),
         FusionKind.SHAPE_ONLY, rows=_keeps_row_axis)
register(("Shape", "Size"), FusionKind.SHAPE_ONLY)
