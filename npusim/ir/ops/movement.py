"""Ops that move or reinterpret data without arithmetic.

Data movement (Transpose, Concat, Slice, Gather, Resize, ...) reads and writes real bytes.
Shape-only ops (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout at inference, Shape)
are views: a compiler turns them into a change of tensor descriptor, so they move nothing.
"""

from __future__ import annotations

from npusim.ir.graph import Graph, Node
from npusim.ir.ops import Access, FusionKind, Role, out_elements, register


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


register(("Transpose", "Concat", "Split", "DepthToSpace", "SpaceToDepth", "ScatterND",
          "ScatterElements", "ReverseSequence"), FusionKind.DATA_MOVEMENT)
register(("Gather", "GatherElements", "GatherND", "Slice"), FusionKind.DATA_MOVEMENT,
         reads=_read_output_sized)
register(("Expand", "Tile", "Pad"), FusionKind.DATA_MOVEMENT, reads=_read_first)
register(("Resize", "Upsample"), FusionKind.DATA_MOVEMENT, vector_ops=_resize_ops,
         reads=_read_first)
register(("ConstantOfShape", "Range", "EyeLike"), FusionKind.DATA_MOVEMENT,
         reads=lambda n, g: ())
register(("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Shape",
          "Size"), FusionKind.SHAPE_ONLY)
