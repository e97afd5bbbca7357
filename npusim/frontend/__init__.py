"""ONNX in, `ir.Graph` out: load, check, convert the opset, bind shapes, fold constants.

`load_graph` is the one entry point; every shape comes from onnx.shape_inference and every
folded value from onnx.reference, never from shape logic of our own.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from npusim.errors import ShapeError
from npusim.frontend.fold import fold_until_fixed
from npusim.frontend.load import TARGET_OPSET, convert_opset, read_model
from npusim.frontend.shapes import format_shape, parse_shapes
from npusim.frontend.to_ir import to_ir
from npusim.ir import Graph

__all__ = ["TARGET_OPSET", "format_shape", "load_graph", "parse_shapes", "read_model"]


def load_graph(model: str | os.PathLike | onnx.ModelProto,
               shapes: str | dict[str, tuple[int, ...]] | None = None) -> Graph:
    """Load an ONNX model as a static-shape IR graph with constants folded."""
    proto = convert_opset(read_model(model))
    name = proto.graph.name or (Path(model).stem if not isinstance(model, onnx.ModelProto)
                                else "model")
    consts = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    nodes = []
    for n in proto.graph.node:
        if n.op_type == "Constant" and n.domain in ("", "ai.onnx"):
            consts[n.output[0]] = _constant_value(n)
        else:
            nodes.append(n)
    # IR version < 4 lists initializers among the inputs too; those are weights, not inputs.
    inputs = [vi for vi in proto.graph.input if vi.name not in consts]
    inputs = _bind_shapes(inputs, parse_shapes(shapes))
    _require_bound(inputs)
    outputs = list(proto.graph.output)
    nodes, types = fold_until_fixed(nodes, inputs, outputs, consts)
    return to_ir(name, nodes, inputs, [o.name for o in outputs], consts, types)


def _constant_value(node: onnx.NodeProto) -> np.ndarray:
    from onnx.reference import ReferenceEvaluator
    return np.asarray(ReferenceEvaluator(node).run(None, {})[0])


def _require_bound(inputs: list[onnx.ValueInfoProto]) -> None:
    """Name every input whose dims are still symbolic, with a --shapes line to fix it."""
    dynamic = []
    for vi in inputs:
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                for d in vi.type.tensor_type.shape.dim]
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


def _bind_shapes(inputs: list[onnx.ValueInfoProto], shapes: dict[str, tuple[int, ...]]
                 ) -> list[onnx.ValueInfoProto]:
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
        declared = vi.type.tensor_type.shape.dim
        if declared and len(declared) != len(dims):
            raise ShapeError(f"--shapes gives '{vi.name}' rank {len(dims)} "
                             f"({format_shape(dims)}) but the model declares rank "
                             f"{len(declared)}")
        for i, (d, want) in enumerate(zip(declared, dims)):
            if d.HasField("dim_value") and d.dim_value != want:
                raise ShapeError(f"--shapes gives '{vi.name}' dim {i} = {want}, but the model "
                                 f"fixes it to {d.dim_value}")
        bound.append(helper.make_tensor_value_info(vi.name, vi.type.tensor_type.elem_type,
                                                   list(dims)))
    return bound
