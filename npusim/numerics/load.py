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


_LOADED: dict[tuple, tuple[Graph, frozenset[str]]] = {}


def load_model(model: str | os.PathLike | onnx.ModelProto | Graph,
               shapes=None) -> tuple[Graph, frozenset[str]]:
    """The graph and the names of nodes that must run as integer kernels (QOperators).

    A file is loaded once per (path, size, modification time, shapes): the graph is
    immutable, and reusing its weight arrays lets the packed-weight caches hit on every run.
    """
    if isinstance(model, (str, os.PathLike)):
        p = os.path.abspath(os.fspath(model))
        try:
            st = os.stat(p)
        except OSError:
            return _load(model, shapes)
        key = (p, st.st_size, st.st_mtime_ns, repr(sorted(shapes.items()) if isinstance(
            shapes, dict) else shapes))
        if key not in _LOADED:
            if len(_LOADED) >= 4:
                _LOADED.pop(next(iter(_LOADED)))
            _LOADED[key] = _load(model, shapes)
        return _LOADED[key]
    return _load(model, shapes)


def _load(model, shapes) -> tuple[Graph, frozenset[str]]:
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
