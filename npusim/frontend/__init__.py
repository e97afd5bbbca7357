"""ONNX in, `ir.Graph` out: load lean, check, convert the opset, bind shapes, fold constants.

`load_graph` is the one entry point; shapes come from onnx.shape_inference, folded values from
onnx.reference, and weights stay on disk (memory-mapped) until numerics reads them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from npusim.errors import ShapeError
from npusim.frontend.cut import cut_outputs, needed_nodes, parse_outputs
from npusim.frontend.fold import fold_until_fixed
from npusim.frontend.load import (TARGET_OPSET, convert_opset, full_model, open_model,
                                  read_model)
from npusim.frontend.shapes import format_shape, parse_dim_values, parse_shapes
from npusim.frontend.to_ir import to_ir
from npusim.ir import Graph

__all__ = ["TARGET_OPSET", "convert_opset", "format_shape", "load_graph", "parse_outputs",
           "parse_shapes", "read_model"]

WEIGHT_MODES = ("lazy", "eager")


def load_graph(model: str | os.PathLike | onnx.ModelProto,
               shapes: str | dict[str, tuple[int, ...]] | None = None,
               outputs: str | Sequence[str] | None = None, *, weights: str = "lazy") -> Graph:
    """Load an ONNX model as a static-shape IR graph with constants folded.
    `outputs` cuts the graph at those tensors; `weights="eager"` reads every weight into
    memory first (the plain onnx.load path, kept as the oracle of the lazy one)."""
    if weights not in WEIGHT_MODES:
        raise ValueError(f"weights must be one of {WEIGHT_MODES}, not {weights!r}")
    if weights == "lazy":
        opened = open_model(model)
        proto, notes = opened.proto, opened.notes
        consts: dict = dict(opened.weights)
    else:
        proto, notes, consts = _eager(model), (), {}
    name = proto.graph.name or (Path(model).stem if not isinstance(model, onnx.ModelProto)
                                else "model")
    for t in proto.graph.initializer:
        consts[t.name] = numpy_helper.to_array(t)
    nodes = []
    for n in proto.graph.node:
        if n.op_type == "Constant" and n.domain in ("", "ai.onnx"):
            consts[n.output[0]] = _constant_value(n)
        else:
            nodes.append(n)
    # IR version < 4 lists initializers among the inputs too; those are weights, not inputs.
    inputs = [vi for vi in proto.graph.input if vi.name not in consts]
    graph_outputs = [_negative_dims_unknown(vi) for vi in proto.graph.output]
    cut = parse_outputs(outputs)
    if cut:
        graph_outputs = cut_outputs(nodes, [vi.name for vi in inputs] + list(consts), cut,
                                    graph_outputs)
        nodes = needed_nodes(nodes, cut)
        used = {i for n in nodes for i in n.input} | set(cut)
        inputs = [vi for vi in inputs if vi.name in used]
    values = parse_dim_values(shapes)
    inputs = _fix_scalar_inputs(inputs, values, consts)
    inputs = _bind_dim_names(inputs, values)
    inputs = _bind_shapes(inputs, parse_shapes(shapes))
    _require_bound(inputs)
    nodes, types = fold_until_fixed(nodes, inputs, graph_outputs, consts,
                                    defer=weights == "lazy")
    return to_ir(name, nodes, inputs, [o.name for o in graph_outputs], consts, types, notes)


def _eager(model) -> onnx.ModelProto:
    proto = full_model(model)
    from npusim.frontend.load import _first_line
    version = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if version == TARGET_OPSET:
        return proto
    from onnx import version_converter
    try:
        return version_converter.convert_version(proto, TARGET_OPSET)
    except Exception as e:
        from npusim.errors import ModelLoadError
        raise ModelLoadError(f"onnx.version_converter could not convert model: "
                             f"{_first_line(e)}") from None


def _constant_value(node: onnx.NodeProto) -> np.ndarray:
    for a in node.attribute:
        if a.name == "value" and a.type == onnx.AttributeProto.TENSOR:
            return numpy_helper.to_array(a.t)
    from onnx.reference import ReferenceEvaluator
    return np.asarray(ReferenceEvaluator(node).run(None, {})[0])


def _negative_dims_unknown(vi: onnx.ValueInfoProto) -> onnx.ValueInfoProto:
    """Exporters write -1 for a dim they do not know; shape inference must not keep it."""
    dims = vi.type.tensor_type.shape.dim
    if not any(d.HasField("dim_value") and d.dim_value < 0 for d in dims):
        return vi
    out = onnx.ValueInfoProto()
    out.CopyFrom(vi)
    for d in out.type.tensor_type.shape.dim:
        if d.HasField("dim_value") and d.dim_value < 0:
            d.Clear()
    return out


def _dims(vi: onnx.ValueInfoProto) -> list[int | str]:
    """Declared dims: ints where fixed, the dim's name (or '?' for -1 / unnamed) otherwise."""
    return [d.dim_value if d.HasField("dim_value") and d.dim_value >= 0 else (d.dim_param or "?")
            for d in vi.type.tensor_type.shape.dim]


def _require_bound(inputs: list[onnx.ValueInfoProto]) -> None:
    """Name every input whose dims are still symbolic, with a --shapes line to fix it."""
    dynamic = []
    for vi in inputs:
        dims = _dims(vi)
        if not vi.type.tensor_type.HasField("shape"):
            dynamic.append((vi.name, "unknown rank", "<dims>"))
        elif any(isinstance(d, str) for d in dims):
            shown = "[" + ", ".join(str(d) for d in dims) + "]"
            dynamic.append((vi.name, shown, "x".join(
                str(d) if isinstance(d, int) else f"<{d}>" for d in dims)))
    if dynamic:
        listed = ", ".join(f"'{n}' {s}" for n, s, _ in dynamic)
        example = ",".join(f"{n}:{e}" for n, _, e in dynamic)
        raise ShapeError(f"model inputs have dynamic dims: {listed}; bind them with "
                         f"--shapes {example}")


def _fix_scalar_inputs(inputs: list[onnx.ValueInfoProto], values: dict[str, int],
                       consts: dict) -> list[onnx.ValueInfoProto]:
    """`--shapes sr=16000` on a scalar integer or bool input fixes its value: it becomes a
    constant (e.g. a sample rate an If branches on), and is taken out of `values`."""
    kept = []
    for vi in inputs:
        tt = vi.type.tensor_type
        is_scalar = tt.HasField("shape") and not tt.shape.dim
        if vi.name in values and is_scalar:
            dtype = helper.tensor_dtype_to_np_dtype(tt.elem_type)
            if not (np.issubdtype(dtype, np.integer) or dtype == np.bool_):
                raise ShapeError(f"--shapes {vi.name}={values[vi.name]}: only integer or "
                                 f"bool scalar inputs can be fixed, '{vi.name}' is {dtype}")
            consts[vi.name] = np.array(values.pop(vi.name), dtype=dtype)
        else:
            kept.append(vi)
    return kept


def _bind_dim_names(inputs: list[onnx.ValueInfoProto], values: dict[str, int]
                    ) -> list[onnx.ValueInfoProto]:
    """`--shapes batch=1,sequence_length=128`: each named dim bound wherever it is declared."""
    if not values:
        return inputs
    declared = {d.dim_param for vi in inputs for d in vi.type.tensor_type.shape.dim
                if d.dim_param}
    unknown = sorted(set(values) - declared)
    if unknown:
        names = ", ".join(sorted(declared)) or "none"
        raise ShapeError(f"--shapes binds dim '{unknown[0]}', which no model input declares "
                         f"(named dims: {names})")
    bound = []
    for vi in inputs:
        dims = vi.type.tensor_type.shape.dim
        if not any(d.dim_param in values for d in dims):
            bound.append(vi)
            continue
        new = [values[d.dim_param] if d.dim_param in values else
               (d.dim_value if d.HasField("dim_value") else (d.dim_param or None)) for d in dims]
        bound.append(helper.make_tensor_value_info(vi.name, vi.type.tensor_type.elem_type, new))
    return bound


def _bind_shapes(inputs: list[onnx.ValueInfoProto], shapes: dict[str, tuple[int, ...]]
                 ) -> list[onnx.ValueInfoProto]:
    """`--shapes name:1x3x640x640` gives the whole shape of an input, so it binds named,
    unnamed ('?') and -1 dims alike; a dim the model fixes must match."""
    by_name = {vi.name: vi for vi in inputs}
    unknown = sorted(set(shapes) - set(by_name))
    if unknown:
        names = ", ".join(by_name) or "none"
        raise ShapeError(f"--shapes names '{unknown[0]}', which is not a model input "
                         f"(inputs: {names})")
    bound = []
    for vi in inputs:
        if vi.name not in shapes:
            bound.append(vi)
            continue
        dims = shapes[vi.name]
        declared = _dims(vi) if vi.type.tensor_type.HasField("shape") else []
        if declared and len(declared) != len(dims):
            raise ShapeError(f"--shapes gives '{vi.name}' rank {len(dims)} "
                             f"({format_shape(dims)}) but the model declares rank "
                             f"{len(declared)}")
        for i, (d, want) in enumerate(zip(declared, dims)):
            if isinstance(d, int) and d != want:
                raise ShapeError(f"--shapes gives '{vi.name}' dim {i} = {want}, but the model "
                                 f"fixes it to {d}")
        bound.append(helper.make_tensor_value_info(vi.name, vi.type.tensor_type.elem_type,
                                                   list(dims)))
    return bound
