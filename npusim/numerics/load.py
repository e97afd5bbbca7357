"""Model in (path, ModelProto or ir.Graph), IR graph out, with QOperator nodes in QDQ form."""

from __future__ import annotations

import os

import onnx

from npusim.frontend import load_graph, read_model
from npusim.frontend.load import convert_opset
from npusim.ir import Graph
from npusim.numerics.lower import lower_qoperators

CORE_OPS = frozenset({"QLinearConv", "QLinearMatMul", "QGemm", "QLinearAdd", "QLinearMul",
                      "QLinearGlobalAveragePool", "QLinearSigmoid", "QLinearLeakyRelu",
                      "QLinearSoftmax", "QLinearAveragePool", "QLinearConcat", "QLinearWhere"})
QUANT_OPS = CORE_OPS | {"QuantizeLinear", "DequantizeLinear", "ConvInteger", "MatMulInteger",
                        "DynamicQuantizeLinear"}


def load_model(model: str | os.PathLike | onnx.ModelProto | Graph,
               shapes=None) -> tuple[Graph, frozenset[str]]:
    """The graph and the names of nodes that must run as integer kernels (QOperators)."""
    if isinstance(model, Graph):
        return model, frozenset(n.name for n in model.nodes if n.op_type in CORE_OPS)
    if not isinstance(model, onnx.ModelProto):
        model = _read_unchecked(model)
    if all(n.domain in ("", "ai.onnx") for n in model.graph.node):
        # lowering emits opset-13+ DequantizeLinear (axis); convert old models first
        model = convert_opset(read_model(model))
    proto, cores = lower_qoperators(model)
    return load_graph(proto, shapes), cores


def _read_unchecked(path) -> onnx.ModelProto:
    """Read without onnx.checker, which rejects com.microsoft ops before they are lowered."""
    from pathlib import Path

    from npusim.errors import ModelLoadError
    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"model file '{p}' does not exist")
    try:
        return onnx.load(str(p), load_external_data=True)
    except Exception as e:  # onnx raises DecodeError / OSError / ValueError
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelLoadError(f"'{p}' is not a valid ONNX file: {first}") from None


def is_quantized(graph: Graph) -> bool:
    return any(n.op_type in QUANT_OPS for n in graph.nodes)
