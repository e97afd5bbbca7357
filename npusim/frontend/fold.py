"""Shape inference and constant folding on the ONNX graph, repeated until nothing changes.

onnx.shape_inference gives every shape (we never re-derive shapes by hand); a node whose
inputs are all known values is evaluated once by onnx.reference and replaced by its result.
`Shape` of a statically known tensor folds too, which is what removes the shape subgraphs
(Shape, Gather, Concat, ConstantOfShape, Range, ...) that exporters emit for dynamic axes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper
from npusim.frontend.control_flow import expand_control_flow
from npusim.frontend.load import TARGET_OPSET
from npusim.ir.deferred import Deferred, materialize

# Known values up to this many elements go to shape inference as initializers (shape
# inference reads e.g. Reshape's shape and Resize's scales); larger ones only by type, so
# multi-hundred-MB weights are never copied into a proto.
_INITIALIZER_LIMIT = 4096
_MAX_ROUNDS = 8
_NEVER_FOLD = frozenset({
    # keep the quantization structure for numerics and costing
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
    # not deterministic
    "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
    "Bernoulli",
})


@dataclass(frozen=True, slots=True)
class ValueType:
    elem_type: int
    dims: tuple[int | str | None, ...] | None  # None: rank unknown; str: symbolic dim


def fold_until_fixed(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto],
                     outputs: list[onnx.ValueInfoProto], consts: dict[str, np.ndarray],
                     defer: bool = False) -> tuple[list[onnx.NodeProto], dict[str, ValueType]]:
    """Fold constants in place in `consts`; return the remaining nodes and every value's type.
    `defer`: a node reading a large constant folds to a `Deferred` (computed on first use)."""
    for _ in range(_MAX_ROUNDS):
        types = infer_types(nodes, inputs, outputs, consts)
        remaining = _fold_pass(nodes, consts, types, defer)
        expanded = expand_control_flow(remaining, consts, types)
        if expanded is None and len(remaining) == len(nodes):
            return nodes, types
        nodes = remaining if expanded is None else expanded
    return nodes, infer_types(nodes, inputs, outputs, consts)


def infer_types(nodes, inputs, outputs, consts: Mapping[str, np.ndarray]
                ) -> dict[str, ValueType]:
    small = {k: v for k, v in consts.items() if _is_small(v)}
    large = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
             for k, v in consts.items() if not _is_small(v)]
    graph = helper.make_graph(
        nodes, "infer", list(inputs) + large, list(outputs),
        initializer=[numpy_helper.from_array(np.array(v, order="C"), k)
                     for k, v in small.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", TARGET_OPSET)])
    model.ir_version = 10
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    types: dict[str, ValueType] = {}
    for vi in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        types[vi.name] = _value_type(vi)
    for k, v in consts.items():
        types[k] = ValueType(helper.np_dtype_to_tensor_dtype(v.dtype), tuple(v.shape))
    return types


def _is_small(v) -> bool:
    return not isinstance(v, Deferred) and v.size <= _INITIALIZER_LIMIT


def _value_type(vi: onnx.ValueInfoProto) -> ValueType:
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return ValueType(tt.elem_type, None)
    dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                 for d in tt.shape.dim)
    return ValueType(tt.elem_type, dims)


def _is_static(vt: ValueType | None) -> bool:
    return vt is not None and vt.dims is not None and all(isinstance(d, int) for d in vt.dims)


def _fold_pass(nodes, consts: dict[str, np.ndarray], types: Mapping[str, ValueType],
               defer: bool):
    remaining = []
    for node in nodes:
        values = _try_fold(node, consts, types, defer)
        if values is None:
            remaining.append(node)
            continue
        for name, value in zip(node.output, values):
            if name:
                consts[name] = value
    return remaining


def _try_fold(node: onnx.NodeProto, consts, types, defer: bool = False) -> list | None:
    if node.domain not in ("", "ai.onnx") or node.op_type in _NEVER_FOLD:
        return None
    if node.op_type in ("Shape", "Size"):
        vt = types.get(node.input[0])
        if not _is_static(vt):
            return None
        shape = np.array(vt.dims, dtype=np.int64)
        if node.op_type == "Size":
            return [np.array(np.prod(shape), dtype=np.int64)]
        start = _attr(node, "start", 0)
        end = _attr(node, "end", None)
        return [shape[start:end]]
    present = [i for i in node.input if i]
    if not node.input or not all(i in consts for i in present):
        return None
    if node.op_type == "ConstantOfShape":
        return [_constant_of_shape(node, materialize(consts[node.input[0]]))]
    if defer and any(not _is_small(consts[i]) for i in present):
        deferred = _deferred_fold(node, {i: consts[i] for i in present}, types)
        if deferred is not None:
            return deferred
    try:
        return evaluate(node, {i: materialize(consts[i]) for i in present})
    except Exception:
        # The reference evaluator lacks a kernel or rejects the input: leave the node to the
        # cost model, which either prices it or names it as unsupported.
        return None


def evaluate(node: onnx.NodeProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """One node through onnx.reference at the target opset."""
    from onnx.reference import ReferenceEvaluator
    results = ReferenceEvaluator(node, opsets={"": TARGET_OPSET}).run(None, feeds)
    return [np.asarray(r) for r in results]


def _deferred_fold(node: onnx.NodeProto, feeds: dict, types) -> list[Deferred] | None:
    """The node's outputs as values computed on first use, typed by shape inference; None
    when an output's type is not static (then it is evaluated now)."""
    outs = [types.get(o) if o else None for o in node.output]
    if not all(_is_static(vt) and vt.elem_type for o, vt in zip(node.output, outs) if o):
        return None
    cache: list[list[np.ndarray]] = []

    def output(k: int):
        def compute() -> np.ndarray:
            if not cache:
                cache.append(evaluate(node, {i: materialize(v) for i, v in feeds.items()}))
            return cache[0][k]
        return compute

    return [Deferred(vt.dims, helper.tensor_dtype_to_np_dtype(vt.elem_type), output(k))
            if vt is not None else None for k, vt in enumerate(outs)]


def _constant_of_shape(node: onnx.NodeProto, shape: np.ndarray) -> np.ndarray:
    value = np.zeros(1, dtype=np.float32)
    for a in node.attribute:
        if a.name == "value":
            value = numpy_helper.to_array(a.t).reshape(-1)
    # A read-only broadcast view: the light model-zoo graphs make every weight this way,
    # and materializing VGG-19's would cost 575 MB for no information.
    return np.broadcast_to(value[0], tuple(int(d) for d in shape))


def _attr(node: onnx.NodeProto, name: str, default):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default
