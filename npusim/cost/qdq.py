"""The precision of every node of a QDQ model, read off the graph: a node between a
DequantizeLinear and a QuantizeLinear runs in the integer precision of its Q/DQ (int8, int16);
a node left outside Q/DQ (a float island) runs in float on the first unit that can."""

from __future__ import annotations

from npusim.hw.schema import Chip
from npusim.ir import FusionKind, Graph, OpWork, Precision

_Q, _DQ = "QuantizeLinear", "DequantizeLinear"
_FUSED_AFTER = frozenset({"Relu", "Clip"})   # fused into the integer op before them
_FLOATS = (Precision.FP16, Precision.FP32, Precision.BF16)
_WEIGHTED = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul"})


def qdq_precisions(graph: Graph, chip: Chip, default: Precision,
                   work: tuple[OpWork, ...]) -> dict[str, Precision]:
    """Node name -> precision for the compute nodes of a QDQ model whose precision the graph
    fixes (empty for a float model, or a float default precision)."""
    nodes = graph.nodes
    if not default.is_integer or not any(
            n.op_type == _Q and not graph.tensor(n.inputs[0]).is_constant for n in nodes):
        return {}
    index = {n.name: i for i, n in enumerate(nodes)}
    shape_only = {i for i, w in enumerate(work) if w.kind is FusionKind.SHAPE_ONLY}
    compute = [i for i, n in enumerate(nodes) if n.op_type not in (_Q, _DQ)
               and i not in shape_only and _has_float_activation(graph, n)]

    def source(tensor: str) -> int | None:
        """The node behind a tensor, looking through shape-only ops."""
        while True:
            p = graph.producer(tensor)
            if p is None:
                return None
            i = index[p.name]
            if i not in shape_only or not p.inputs:
                return i
            tensor = p.inputs[0]

    def readers(tensor: str) -> list[int]:
        out = []
        for c in graph.consumers(tensor):
            i = index[c.name]
            if i in shape_only:
                out += [r for o in c.outputs if o for r in readers(o)]
            else:
                out.append(i)
        return out

    integer = set(compute)
    changed = True
    while changed:
        changed = False
        for i in sorted(integer):
            if not (_inputs_quantized(graph, nodes[i], source, integer)
                    and _outputs_quantized(graph, nodes[i], readers, integer)):
                integer.discard(i)
                changed = True
    out = {}
    for i in compute:
        n = nodes[i]
        if i in integer:
            p = _integer_precision(graph, n, source, default)
            if not any(u.runs(n.op_type) and p in u.macs_per_cycle for u in chip.ordered_units):
                p = default  # int16 Q/DQ on a chip without int16: priced at the default
            out[n.name] = p
        else:
            out[n.name] = float_precision(chip, n.op_type)
    return {k: v for k, v in out.items() if v is not default}


def _has_float_activation(graph: Graph, node) -> bool:
    return any(t and graph.tensor(t).dtype.is_float and not graph.tensor(t).is_constant
               for t in (*node.inputs, *node.outputs))


def _inputs_quantized(graph: Graph, node, source, integer: set[int]) -> bool:
    for k, t in enumerate(node.inputs):
        if not t or not graph.tensor(t).dtype.is_float:
            continue
        if graph.tensor(t).is_constant:
            if k == 1 and node.op_type in _WEIGHTED:
                return False  # float weights read as they are: the quantizer left it float
            continue
        src = source(t)
        if src is None:
            return False  # a float graph input read directly
        p = graph.nodes[src]
        if p.op_type == _DQ:
            continue
        if not (node.op_type in _FUSED_AFTER and src in integer):
            return False
    return True


def _outputs_quantized(graph: Graph, node, readers, integer: set[int]) -> bool:
    for t in node.outputs:
        if not t or not graph.tensor(t).dtype.is_float:
            continue
        if t in graph.outputs:
            return False
        rs = readers(t)
        if not rs:
            return False
        for r in rs:
            c = graph.nodes[r]
            if c.op_type == _Q:
                continue
            if not (c.op_type in _FUSED_AFTER and r in integer):
                return False
    return True


def _integer_precision(graph: Graph, node, source, default: Precision) -> Precision:
    """int16 where the node reads an int16 quantized activation, else the default."""
    for t in node.inputs:
        src = source(t) if t else None
        if src is not None and graph.nodes[src].op_type == _DQ:
            q = graph.tensor(graph.nodes[src].inputs[0])
            if not q.is_constant and q.dtype.itemsize == 2:
                return Precision.INT16
    return default


def float_precision(chip: Chip, op_type: str) -> Precision:
    """The float precision a float op runs in: the narrowest float the first unit that runs
    the op in float offers (fp16 on a GPU or DLA; on a BPU without float, the CPU's)."""
    for unit in chip.ordered_units:
        if unit.runs(op_type):
            for p in _FLOATS:
                if p in unit.macs_per_cycle:
                    return p
    return Precision.FP32
