"""Turn a shape-inferred, folded ONNX graph into an `ir.Graph` with static shapes."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import onnx
from onnx import helper, numpy_helper

from npusim.errors import ShapeError, UnsupportedOpError
from npusim.frontend.fold import ValueType, evaluate
from npusim.frontend.load import TARGET_OPSET
from npusim.ir import DType, Graph, Node, Tensor, supported_ops
from npusim.ir.deferred import Deferred


def to_ir(name: str, nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto],
          outputs: list[str], consts: Mapping[str, np.ndarray],
          types: Mapping[str, ValueType], notes: tuple[str, ...] = ()) -> Graph:
    ir_nodes = _nodes(nodes)
    protos = {n.name: proto for n, proto in zip(ir_nodes, nodes)}
    _require_known_ops(ir_nodes)
    live = _live_tensors(ir_nodes, outputs)
    ir_nodes = tuple(n for n in ir_nodes if any(o in live for o in n.outputs))
    used = set(outputs) | {i for n in ir_nodes for i in n.inputs if i}
    tensors: dict[str, Tensor] = {}
    for k, v in consts.items():
        if k in used:
            tensors[k] = Tensor(k, tuple(int(d) for d in v.shape), DType.from_numpy(v.dtype), v)
    graph_inputs = tuple(vi.name for vi in inputs if vi.name in used)
    for vi in inputs:
        if vi.name in used:
            tensors[vi.name] = _tensor(vi.name, types.get(vi.name), None)
    for node in ir_nodes:
        for out in node.outputs:
            if out and out not in tensors:
                tensors[out] = _tensor(out, types.get(out), node, lambda n=node: _why_unknown(
                    protos[n.name], types, consts))
    return Graph(name, ir_nodes, tensors, graph_inputs, tuple(outputs), TARGET_OPSET, notes)


# A diagnosis evaluates a node again only on constants up to this many elements in all (an
# error message must not cost a model's worth of arithmetic or weight reading).
_DIAGNOSE_LIMIT = 1 << 20


def _why_unknown(node: onnx.NodeProto, types: Mapping[str, ValueType],
                 consts: Mapping[str, np.ndarray]) -> str:
    """What the node itself says when shape inference leaves its output unknown: the error
    of evaluating it on its inputs, where they are all small constants (a fold that failed),
    or of inferring its shapes strictly from its inputs' known types (small constants by
    value); '' when neither says."""
    present = [i for i in node.input if i]
    small = {i for i in present if i in consts and not isinstance(consts[i], Deferred)
             and consts[i].size <= _DIAGNOSE_LIMIT}
    try:
        if present and set(present) <= small and sum(consts[i].size for i in small) <= \
                _DIAGNOSE_LIMIT:
            evaluate(node, {i: np.asarray(consts[i]) for i in present})
        elif all(types.get(i) is not None and types[i].dims is not None for i in present):
            typed = [helper.make_tensor_value_info(i, types[i].elem_type, types[i].dims)
                     for i in present if i not in small]
            values = [numpy_helper.from_array(np.asarray(consts[i]), i) for i in small]
            outs = [helper.make_tensor_value_info(o, 0, None) for o in node.output if o]
            graph = helper.make_graph([node], "node", typed, outs, initializer=values)
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid(
                "", TARGET_OPSET)])
            onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception as e:  # noqa: BLE001 - any failure is the diagnosis
        lines = str(e).strip().splitlines()
        return (f"{node.op_type} fails on its inputs {_described(present, types, consts)} "
                f"({lines[0] if lines else type(e).__name__})")
    return ""


def _described(names: list[str], types: Mapping[str, ValueType],
               consts: Mapping[str, np.ndarray]) -> str:
    """Inputs as a user reads them: a small constant by value, anything else by shape."""
    parts = []
    for i in names:
        value = consts.get(i)
        if value is not None and not isinstance(value, Deferred) and value.size <= 8:
            parts.append(f"'{i}' = {np.asarray(value).tolist()}")
        else:
            vt = types.get(i)
            dims = "?" if vt is None or vt.dims is None else "x".join(map(str, vt.dims)) or "scalar"
            parts.append(f"'{i}' {dims}")
    return "(" + ", ".join(parts) + ")"


def _nodes(nodes: list[onnx.NodeProto]) -> tuple[Node, ...]:
    seen: set[str] = set()
    out = []
    for n in nodes:
        # Exporters may leave names empty or repeat them; an unnamed node is called after
        # its op and first output, which is how a user finds it in Netron.
        name = n.name or f"{n.op_type}:{n.output[0] if n.output else len(out)}"
        base, k = name, 1
        while name in seen:
            k += 1
            name = f"{base}#{k}"
        seen.add(name)
        attrs = {a.name: _attr_value(a) for a in n.attribute}
        out.append(Node(name, n.op_type, tuple(n.input), tuple(n.output), attrs, n.domain))
    return tuple(out)


_DATA_DEPENDENT = frozenset({"NonMaxSuppression", "NonZero", "Unique", "Compress"})
_CONTROL_FLOW = frozenset({"If", "Loop", "Scan"})


def _require_known_ops(nodes: tuple[Node, ...]) -> None:
    """Report every op type npusim has no rule for, by name, before anything else fails."""
    known = set(supported_ops())
    unknown: dict[str, str] = {}
    for n in nodes:
        if n.op_type in _DATA_DEPENDENT:
            before = ",".join(i for i in n.inputs if i)
            raise UnsupportedOpError(
                f"unsupported op: {n.op_type} (first at node '{n.name}'): its output shape "
                f"depends on the input data, which npusim cannot price; cut the graph "
                f"before it with --outputs {before}")
        if n.op_type in _CONTROL_FLOW:
            what = ("its condition" if n.op_type == "If" else "its trip count")
            raise UnsupportedOpError(
                f"{n.op_type} at node '{n.name}': {what} depends on the input data (npusim "
                "prices If with a constant condition, Loop and Scan with constant trip "
                "counts); if it depends on a scalar input, fix that with --shapes NAME=VALUE, "
                "or cut the graph before it with --outputs")
        if n.op_type not in known:
            unknown.setdefault(n.op_type, n.name)
    if unknown:
        listed = ", ".join(f"{op} (first at node '{name}')" for op, name in unknown.items())
        raise UnsupportedOpError(f"unsupported op{'s' if len(unknown) > 1 else ''}: {listed}")


def _attr_value(a: onnx.AttributeProto):
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, onnx.TensorProto):
        return numpy_helper.to_array(v)
    if isinstance(v, list):
        return tuple(x.decode() if isinstance(x, bytes) else x for x in v)
    return v


def _live_tensors(nodes: tuple[Node, ...], outputs: list[str]) -> set[str]:
    """Tensors some graph output depends on (dead-code elimination)."""
    live = set(outputs)
    for node in reversed(nodes):
        if any(o in live for o in node.outputs):
            live.update(i for i in node.inputs if i)
    return live


def _tensor(name: str, vt: ValueType | None, node: Node | None,
            why_unknown: Callable[[], str] = lambda: "") -> Tensor:
    where = (f"output of {node.op_type} node '{node.name}'" if node is not None
             else "graph input")
    if vt is None or vt.dims is None:
        why = why_unknown()
        raise ShapeError(f"shape of tensor '{name}' ({where}) is unknown after ONNX shape "
                         "inference" + (f": {why}; the model may not accept the bound input "
                                        "shapes" if why else "; if it depends on input data, "
                                        "npusim cannot cost it"))
    if vt.elem_type == 0:
        raise ShapeError(f"element type of tensor '{name}' ({where}) is unknown")
    symbolic = [d for d in vt.dims if not isinstance(d, int)]
    if symbolic:
        dims = "x".join(str(d if d is not None else "?") for d in vt.dims)
        if node is None:
            example = "x".join(str(d) if isinstance(d, int) else "1" for d in vt.dims)
            raise ShapeError(f"input '{name}' has dynamic dims {dims}: bind them with "
                             f"--shapes {name}:{example}")
        why = why_unknown()
        raise ShapeError(f"tensor '{name}' ({where}) has dims {dims} that shape inference "
                         "could not resolve from the bound input shapes"
                         + (f": {why}" if why else ""))
    return Tensor(name, tuple(vt.dims), DType.from_onnx(vt.elem_type))
