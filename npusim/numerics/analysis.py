"""Per-layer error analysis of a quantized run against its float reference: graphwise and
layerwise views, the worst-layer ranking, and the mixed-precision search.

The float reference of a QDQ graph is the same graph with every activation Q/DQ pair made an
identity (weights stay dequantized), so tensor names match between the two runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from npusim.ir import DType, Graph, Node, Tensor
from npusim.numerics.executor import execute
from npusim.numerics.metrics import errors, sqnr_db
from npusim.numerics.ops import load_all
from npusim.numerics.ops.context import Context
from npusim.numerics.quant import dequantize, quantize
from npusim.numerics.result import LayerRow

_OUT_PARAMS = {"QLinearConv": (6, 7), "QLinearMatMul": (6, 7), "QLinearAdd": (6, 7),
               "QLinearMul": (6, 7), "QGemm": (7, 8), "QLinearGlobalAveragePool": (3, 4),
               "QLinearSigmoid": (3, 4), "QLinearLeakyRelu": (3, 4), "QLinearSoftmax": (3, 4),
               "QLinearAveragePool": (3, 4), "QLinearConcat": (0, 1), "QLinearWhere": (7, 8)}


def strip_qdq(graph: Graph, restore_relus: bool = False) -> Graph:
    """The float reference: activation Q and DQ become Identity; constant DQs stay. With
    `restore_relus` (a model that arrived quantized), a Q whose range starts at zero (zero
    point at the integer minimum: uint8 with zp 0) becomes a Relu: quantizers drop the Relu
    before such a Q (onnxruntime's quantize_static does), and the float model has it. npusim's
    own quantizer keeps its Relus, so its graphs strip to the float model exactly."""
    nodes = []
    tensors = dict(graph.tensors)
    for n in graph.nodes:
        act_dq = n.op_type == "DequantizeLinear" and not graph.tensor(n.inputs[0]).is_constant
        if n.op_type == "QuantizeLinear" or act_dq:
            op = "Relu" if (restore_relus and n.op_type == "QuantizeLinear"
                            and _starts_at_zero(graph, n)) else "Identity"
            nodes.append(Node(n.name, op, (n.inputs[0],), n.outputs, {}, ""))
            src = graph.tensor(n.inputs[0])
            for o in n.outputs:
                tensors[o] = Tensor(o, tensors[o].shape, src.dtype)
        else:
            nodes.append(n)
    return graph.replace(nodes=nodes, tensors=tensors)


def _starts_at_zero(graph: Graph, q: Node) -> bool:
    """The integer range of QuantizeLinear `q` dequantizes to [0, ...]: its zero point (every
    channel's) is the minimum of its integer type."""
    dtype = graph.tensor(q.outputs[0]).dtype.numpy
    if dtype.kind not in "iu":
        return False
    zp = graph.constant(q.inputs[2]) if len(q.inputs) > 2 and q.inputs[2] else np.zeros(1, dtype)
    return zp is not None and bool(np.all(np.asarray(zp) == np.iinfo(dtype).min))


def layers_of(qgraph: Graph) -> list[Node]:
    """Fused integer nodes; in an unfused graph (`onnx-ref`), the activation QuantizeLinears."""
    fused = [n for n in qgraph.nodes if "_fused" in n.attrs]
    if fused:
        return fused
    return [n for n in qgraph.nodes if n.op_type == "QuantizeLinear"
            and qgraph.producer(n.inputs[0]) is not None]


def layer_name(node: Node, qgraph: Graph) -> tuple[str, str, tuple[str, ...]]:
    if "_fused" in node.attrs:
        return node.name, node.op_type, tuple(node.attrs["_fused"])
    p = qgraph.producer(node.inputs[0])
    return p.name, p.op_type, (p.name, node.name)


def _value(name, values, graph):
    if not name:
        return None
    v = values.get(name)
    return graph.constant(name) if v is None else v


def output_params(node: Node, qgraph: Graph, values) -> tuple[np.ndarray, np.ndarray | None]:
    i, j = _OUT_PARAMS[node.op_type]
    return _value(node.input(i), values, qgraph), _value(node.input(j), values, qgraph)


def dequantized_output(node, qgraph, values, original: Graph) -> np.ndarray | None:
    q = values[node.outputs[0]]
    if q.dtype.kind == "f":
        return q
    if node.op_type in _OUT_PARAMS:
        s, z = output_params(node, qgraph, values)
    elif node.op_type == "QuantizeLinear":
        s, z = _value(node.input(1), values, qgraph), _value(node.input(2), values, qgraph)
    else:
        dq = original.node(node.attrs["_fused"][0])
        s, z = _value(dq.input(1), values, original), _value(dq.input(2), values, original)
    if s is None:
        return None
    return dequantize(q, s, z)


def graphwise_rows(qgraph: Graph, original: Graph, qvalues, fvalues, ctx: Context,
                   precision: str) -> list[dict]:
    rows = []
    for node in layers_of(qgraph):
        t = node.outputs[0]
        deq = dequantized_output(node, qgraph, qvalues, original)
        ref = fvalues.get(t)
        if deq is None or ref is None:
            continue
        ev = ctx.events.get(node.name)
        sat = ev.saturated if ev else 0
        total = ev.total if ev and ev.total else int(np.size(deq))
        name, op_type, nodes = layer_name(node, qgraph)
        sqnr, cos, big = errors(ref, deq)
        rows.append(dict(name=name, op_type=op_type, precision=precision,
                         nodes=nodes, sqnr_db=sqnr, cosine=cos, max_abs_error=big,
                         saturation_count=sat, saturation_rate=sat / total if total else 0.0,
                         overflow_count=ev.overflow if ev else 0))
    return rows


def _downstream(graph: Graph, tensor: str) -> set[str]:
    """Tensors computed (directly or not) from `tensor`."""
    out: set[str] = set()
    frontier = [tensor]
    while frontier:
        t = frontier.pop()
        for c in graph.consumers(t):
            for o in c.outputs:
                if o and o not in out:
                    out.add(o)
                    frontier.append(o)
    return out


def layerwise(qgraph: Graph, fgraph: Graph, original: Graph, qvalues, fvalues,
              settings) -> dict[str, tuple[float, float]]:
    """Per layer: (SQNR of its own output, SQNR of the model output) with only it quantized."""
    kernels = load_all()
    out_name = fgraph.outputs[0]
    ref_out = fvalues[out_name]
    result = {}
    for node in layers_of(qgraph):
        t = node.outputs[0]
        args = []
        for name in node.inputs:
            qv = _value(name, qvalues, qgraph)
            fv = fvalues.get(name) if name else None
            if (qv is not None and fv is not None and fv.dtype.kind == "f"
                    and not qgraph.tensor(name).is_constant):
                if qv.dtype.kind in "iu":
                    s, z = _input_params(name, original, qvalues)
                    qv = quantize(fv, s, z, qv.dtype) if s is not None else qv
                else:
                    qv = fv
            args.append(qv)
        ctx = Context(settings)
        try:
            y = kernels[node.op_type](node, args, ctx)[0]
        except Exception:  # a layer whose isolated run is not meaningful is left out
            continue
        vals = dict(qvalues)
        vals[t] = y
        deq = dequantized_output(node, qgraph, vals, original)
        if deq is None or t not in fvalues:
            continue
        local = sqnr_db(fvalues[t], deq)
        down = _downstream(fgraph, t)
        start = {k: v for k, v in fvalues.items() if k not in down}
        start[t] = deq.astype(fvalues[t].dtype)
        # the rest of the float model, as the float reference ran it (numpy's BLAS order)
        vals2 = execute(fgraph, {}, Context(replace(settings, float_order="blas")), start=start)
        result[layer_name(node, qgraph)[0]] = (local, sqnr_db(ref_out, vals2[out_name]))
    return result


def _input_params(tensor: str, original: Graph, values):
    for c in original.consumers(tensor):
        if c.op_type == "DequantizeLinear":
            return _value(c.input(1), values, original), _value(c.input(2), values, original)
    return None, None


def keep_float(graph: Graph, layers: set[str], keep_precision: str = "fp16",
               restore_relus: bool = False) -> Graph:
    """The QDQ graph with the named layers computed in float: their activation inputs skip
    Q/DQ and their weights are the dequantized values (rounded to `keep_precision`). With
    `restore_relus`, a skipped Q whose range starts at zero keeps its clamp as a Relu (see
    `strip_qdq`)."""
    from npusim.numerics.quant import cast_float
    tensors = dict(graph.tensors)
    relu_of: dict[str, str] = {}   # a skipped zero-start Q's name -> its float Relu output

    def past(q: Node) -> str:
        """The float value a reader skipping Q `q` (and its DQ) reads."""
        if not (restore_relus and _starts_at_zero(graph, q)):
            return q.inputs[0]
        name = relu_of.setdefault(q.name, f"{q.inputs[0]}__relu")
        tensors[name] = Tensor(name, graph.tensor(q.inputs[0]).shape, DType.FLOAT32)
        return name

    rewritten: dict[str, Node] = {}
    for n in graph.nodes:
        if n.name not in layers:
            continue
        ins = list(n.inputs)
        for i, name in enumerate(ins):
            dq = graph.producer(name) if name else None
            if dq is None or dq.op_type != "DequantizeLinear":
                continue
            src = graph.producer(dq.inputs[0])
            if src is not None and src.op_type == "QuantizeLinear":
                ins[i] = past(src)
            elif graph.tensor(dq.inputs[0]).is_constant:
                w = dequantize(graph.constant(dq.inputs[0]), graph.constant(dq.input(1)),
                               graph.constant(dq.input(2)) if dq.input(2) else None,
                               axis=dq.attr("axis", 1))
                if keep_precision in ("fp16", "bf16"):
                    w = cast_float(w, keep_precision).astype(np.float32)
                cname = f"{name}__{keep_precision}"
                tensors[cname] = Tensor(cname, tuple(w.shape), DType.FLOAT32, w)
                ins[i] = cname
        rewritten[n.name] = Node(n.name, n.op_type, tuple(ins), n.outputs, n.attrs, n.domain)
    # the kept layers' outputs stay float too: their consumers read them past Q -> DQ
    bypass: dict[str, str] = {}
    for n in graph.nodes:
        if n.name in layers:
            out = _after_activation_chain(graph, n.outputs[0])
            for q in graph.consumers(out):
                if q.op_type == "QuantizeLinear":
                    for dq in graph.consumers(q.outputs[0]):
                        if dq.op_type == "DequantizeLinear":
                            bypass[dq.outputs[0]] = past(q)
    nodes = []
    for n in graph.nodes:
        nodes.append(rewritten.get(n.name, n))
        if n.name in relu_of:  # the clamp of a skipped Q, right where its input is ready
            nodes.append(Node(f"{n.name}__relu", "Relu", (n.inputs[0],), (relu_of[n.name],),
                              {}, ""))
    nodes = [Node(n.name, n.op_type, tuple(bypass.get(i, i) for i in n.inputs), n.outputs,
                  n.attrs, n.domain) for n in nodes]
    outputs = [bypass.get(o, o) for o in graph.outputs]
    if outputs != list(graph.outputs):
        nodes += [Node(f"{o}__keep", "Identity", (bypass[o],), (o,)) for o in graph.outputs
                  if o in bypass]
        for o in graph.outputs:
            if o in bypass:
                nodes = [m for m in nodes if o not in m.outputs or m.name == f"{o}__keep"]
    return graph.replace(nodes=nodes, tensors=tensors)


def _after_activation_chain(graph: Graph, t: str) -> str:
    while True:
        cons = graph.consumers(t)
        if len(cons) != 1 or cons[0].op_type not in ("Relu", "Clip"):
            return t
        t = cons[0].outputs[0]


def noise_share(output_sqnr: float) -> float:
    """Relative noise power 10^(-SQNR/10) (0 for an exact layer)."""
    if math.isinf(output_sqnr):
        return 0.0 if output_sqnr > 0 else math.inf
    return 10.0 ** (-output_sqnr / 10.0)


def as_rows(dicts: list[dict], lw: Mapping[str, tuple[float, float]]) -> tuple[LayerRow, ...]:
    rows = []
    for d in dicts:
        local, out = lw.get(d["name"], (None, None))
        rows.append(LayerRow(**d, layerwise_sqnr_db=local, layerwise_output_sqnr_db=out))
    return tuple(rows)
