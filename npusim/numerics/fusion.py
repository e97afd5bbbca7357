"""QDQ pattern fusion: DQ -> op [-> Relu/Clip] -> Q becomes one integer node, as onnxruntime's
QDQ transformer does (QLinearConv, QLinearMatMul, QGemm, QLinearAdd, QLinearMul,
QLinearGlobalAveragePool; for `ort` also QLinearSigmoid / LeakyRelu / Softmax / AveragePool /
Concat / Where; MaxPool and shape ops with equal in/out quantization run on ints).

`fuse` is a Graph -> Graph pass; a fused node keeps the float op's name, and its `_fused`
attribute lists every ONNX node it replaced.
"""

from __future__ import annotations

import numpy as np

from npusim.errors import NumericsError
from npusim.ir import Graph, Node, Tensor
from npusim.ir.dtypes import DType
from npusim.numerics.quant import quantize

_QLINEAR = {"Conv": "QLinearConv", "MatMul": "QLinearMatMul", "Gemm": "QGemm",
            "Add": "QLinearAdd", "Mul": "QLinearMul",
            "GlobalAveragePool": "QLinearGlobalAveragePool"}
# onnxruntime's CPU-only contrib rewrites (UnaryOpQDQRules, VariadicOpQDQRules, WhereQDQRules)
_ORT_ONLY = {"Sigmoid": "QLinearSigmoid", "LeakyRelu": "QLinearLeakyRelu",
             "Softmax": "QLinearSoftmax", "AveragePool": "QLinearAveragePool",
             "Concat": "QLinearConcat", "Where": "QLinearWhere"}
_CHAINABLE = frozenset(_QLINEAR)
_SAME_SCALE = frozenset({"MaxPool", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze",
                         "Identity"})
_ACTIVATIONS = frozenset({"Relu", "Clip"})


def fuse(graph: Graph, *, required: frozenset[str] = frozenset(), all_patterns: bool = True,
         ort_patterns: bool = True) -> Graph:
    """Fuse QDQ groups; with `all_patterns=False` only the nodes named in `required`, with
    `ort_patterns=False` none of onnxruntime's contrib-only rewrites unless required."""
    tensors = dict(graph.tensors)
    replaced: dict[str, Node] = {}   # core node name -> fused node
    removed: set[str] = set()
    for node in graph.nodes:
        if node.op_type not in _QLINEAR and node.op_type not in _SAME_SCALE:
            if node.op_type not in _ORT_ONLY or not (ort_patterns or node.name in required):
                continue
        if not all_patterns and node.name not in required:
            continue
        fused = _match(graph, node, tensors)
        if fused is None:
            if node.name in required:
                raise NumericsError(f"QOperator node '{node.name}' could not be rebuilt from "
                                    "its DQ -> op -> Q form (npusim bug)")
            continue
        new, absorbed = fused
        replaced[node.name] = new
        removed.update(absorbed)
    if not replaced:
        return graph
    nodes = [replaced.get(n.name, n) for n in graph.nodes if n.name not in removed]
    nodes = _drop_dead(graph, nodes)
    return graph.replace(nodes=nodes, tensors=tensors)


def _drop_dead(graph: Graph, nodes: list[Node]) -> list[Node]:
    live = set(graph.outputs)
    keep = []
    for n in reversed(nodes):
        if any(o in live for o in n.outputs if o):
            keep.append(n)
            live.update(i for i in n.inputs if i)
    return keep[::-1]


def _single_consumer(graph: Graph, tensor: str) -> Node | None:
    cons = graph.consumers(tensor)
    if len(cons) != 1 or tensor in graph.outputs:
        return None
    return cons[0]


def _dq_of(graph: Graph, tensor: str | None) -> Node | None:
    if not tensor:
        return None
    p = graph.producer(tensor)
    return p if p is not None and p.op_type == "DequantizeLinear" else None


def _match(graph: Graph, node: Node, tensors: dict[str, Tensor]):
    # output side: [Relu | Clip] then exactly one QuantizeLinear
    chain: list[Node] = []
    out = node.outputs[0]
    nxt = _single_consumer(graph, out)
    while nxt is not None and nxt.op_type in _ACTIVATIONS and node.op_type in _CHAINABLE:
        chain.append(nxt)
        out = nxt.outputs[0]
        nxt = _single_consumer(graph, out)
    q = nxt
    if q is None or q.op_type != "QuantizeLinear":
        return _match_gemm_float(graph, node, tensors) if node.op_type == "Gemm" else None
    y_scale, y_zp = q.input(1), _zero_point(q, tensors, graph)
    if node.op_type in _SAME_SCALE:
        return _match_same_scale(graph, node, q, tensors)
    if node.op_type in _ORT_ONLY:
        return _match_ort(graph, node, q, tensors)
    n_act = {"Conv": 2, "MatMul": 2, "Gemm": 2, "Add": 2, "Mul": 2, "GlobalAveragePool": 1}
    dqs = [_dq_of(graph, node.input(i)) for i in range(n_act[node.op_type])]
    if any(d is None for d in dqs):
        return None
    if q.attr("block_size", 0) or any(d.attr("block_size", 0) for d in dqs):
        return None
    absorbed = {q.name, *(c.name for c in chain)}
    ins: list[str] = []
    for d in dqs:
        ins += [d.inputs[0], d.input(1), _zero_point(d, tensors, graph)]
    bias = ""
    if node.op_type in ("Conv", "Gemm") and node.input(2):
        bdq = _dq_of(graph, node.input(2))
        if bdq is None or graph.tensor(bdq.inputs[0]).dtype != DType.INT32:
            return None
        bias = bdq.inputs[0]
    if node.op_type in ("Conv", "MatMul"):
        ins += [y_scale, y_zp]
        if bias:
            ins.append(bias)
    elif node.op_type == "Gemm":
        ins += [bias, y_scale, y_zp]
    else:
        ins += [y_scale, y_zp]
    clamp = _activation_clamp(graph, chain, q)
    if clamp is False:
        return None
    attrs = dict(node.attrs)
    attrs["_fused"] = tuple(n.name for n in (*dqs, node, *chain, q))
    if clamp is not None:
        attrs["_clamp"] = clamp
    fused = Node(node.name, _QLINEAR[node.op_type], tuple(ins), (q.outputs[0],), attrs,
                 "com.microsoft" if node.op_type in ("Gemm", "Add", "Mul",
                                                     "GlobalAveragePool") else "")
    return fused, absorbed


def _match_gemm_float(graph, node, tensors):
    """DQ(A), DQ(B)[, DQ(int32 C)] -> Gemm with a float output: QGemm without y_scale."""
    dqs = [_dq_of(graph, node.input(i)) for i in range(2)]
    if any(d is None or d.attr("block_size", 0) for d in dqs):
        return None
    ins = [v for d in dqs for v in (d.inputs[0], d.input(1), _zero_point(d, tensors, graph))]
    if node.input(2):
        bdq = _dq_of(graph, node.input(2))
        if bdq is None or graph.tensor(bdq.inputs[0]).dtype != DType.INT32:
            return None
        ins.append(bdq.inputs[0])
    attrs = dict(node.attrs)
    attrs["_fused"] = tuple(n.name for n in (*dqs, node))
    return Node(node.name, "QGemm", tuple(ins), node.outputs, attrs, "com.microsoft"), set()


def _match_ort(graph, node, q, tensors):
    """DQ inputs -> Sigmoid / LeakyRelu / Softmax / AveragePool / Concat / Where -> Q, all
    8-bit, as one com.microsoft QLinear* node (input order of the contrib op)."""
    first = 1 if node.op_type == "Where" else 0
    n_act = len(node.inputs) if node.op_type == "Concat" else (2 if first else 1)
    dqs = [_dq_of(graph, node.input(first + i)) for i in range(n_act)]
    if any(d is None for d in dqs) or q.attr("block_size", 0):
        return None
    for t in [d.inputs[0] for d in dqs] + [q.outputs[0]]:
        if graph.tensor(t).dtype not in (DType.UINT8, DType.INT8):
            return None
    scales = [d.input(1) for d in dqs] + [q.input(1)]
    if any(graph.constant(s) is None or graph.constant(s).size != 1 for s in scales):
        return None
    quads = [[d.inputs[0], d.input(1), _zero_point(d, tensors, graph)] for d in dqs]
    out = [q.input(1), _zero_point(q, tensors, graph)]
    if node.op_type == "Concat":
        ins = out + [v for trio in quads for v in trio]
    elif node.op_type == "Where":
        ins = [node.inputs[0], *quads[0], *quads[1], *out]
    else:
        ins = quads[0] + out
    attrs = dict(node.attrs)
    attrs["_fused"] = tuple(n.name for n in (*dqs, node, q))
    if node.op_type == "Softmax":
        attrs["opset"] = 13
    fused = Node(node.name, _ORT_ONLY[node.op_type], tuple(ins), (q.outputs[0],), attrs,
                 "com.microsoft")
    return fused, {q.name}


def _match_same_scale(graph, node, q, tensors):
    dq = _dq_of(graph, node.inputs[0])
    if dq is None:
        return None
    s_in, s_out = graph.constant(dq.input(1)), graph.constant(q.input(1))
    z_in = graph.constant(dq.input(2)) if dq.input(2) else np.zeros((), np.uint8)
    z_out = graph.constant(q.input(2)) if q.input(2) else np.zeros((), np.uint8)
    if s_in is None or s_out is None or z_in is None or z_out is None:
        return None
    if (s_in.dtype != s_out.dtype or s_in.shape != s_out.shape or not np.array_equal(s_in, s_out)
            or z_in.dtype != z_out.dtype or not np.array_equal(z_in, z_out) or s_in.size != 1):
        return None
    attrs = dict(node.attrs)
    attrs["_fused"] = (dq.name, node.name, q.name)
    fused = Node(node.name, node.op_type, (dq.inputs[0], *node.inputs[1:]), (q.outputs[0],),
                 attrs, node.domain)
    return fused, {q.name}


def _zero_point(node: Node, tensors: dict[str, Tensor], graph: Graph) -> str:
    """The node's zero-point tensor; an omitted one becomes an explicit uint8 zero."""
    zp = node.input(2)
    if zp:
        return zp
    dtype = np.uint8
    if node.op_type == "QuantizeLinear" and node.attr("output_dtype"):
        import onnx
        dtype = onnx.helper.tensor_dtype_to_np_dtype(node.attr("output_dtype"))
    elif node.op_type == "DequantizeLinear":
        dtype = graph.tensor(node.inputs[0]).dtype.numpy
    name = f"{node.name}__zero_point"
    value = np.zeros((), dtype)
    tensors[name] = Tensor(name, (), DType.from_numpy(value.dtype), value)
    return name


def _activation_clamp(graph: Graph, chain: list[Node], q: Node):
    """Relu / Clip after the op as an integer clamp [lo, hi] in the output's domain.

    Exact because Q is monotone: Q(max(x, a)) = max(Q(x), Q(a)). False when a Clip bound is
    not a constant or the output scale is unknown at fusion time.
    """
    if not chain:
        return None
    scale = graph.constant(q.input(1))
    zp = graph.constant(q.input(2)) if q.input(2) else np.zeros((), np.uint8)
    if scale is None or zp is None or scale.size != 1:
        return False
    lo, hi = -(2**62), 2**62
    for act in chain:
        if act.op_type == "Relu":
            bounds = (0.0, None)
        else:
            a = graph.constant(act.input(1)) if act.input(1) else None
            b = graph.constant(act.input(2)) if act.input(2) else None
            if (act.input(1) and a is None) or (act.input(2) and b is None):
                return False
            bounds = (a, b)
        for k, v in enumerate(bounds):
            if v is None:
                continue
            qv = int(quantize(np.asarray(v, np.float32).reshape(1), scale, zp, zp.dtype)[0])
            lo, hi = (max(lo, qv), hi) if k == 0 else (lo, min(hi, qv))
    return (lo, hi)
