"""A precision map applied to the numerics: the QDQ graph in which the mapped layers run in
int16 (their weights and the activations they read and write quantized symmetric int16) or
in float (left outside Q/DQ; fp16 layers with fp16 weights, inputs and outputs, computed in
float32), the form onnxruntime runs too (`to_onnx`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import onnx
from onnx import helper, numpy_helper

from npusim.errors import NumericsError
from npusim.ir import DType, Graph, Node, Tensor
from npusim.ir.layer_names import resolve_layers
from npusim.numerics import analysis
from npusim.numerics.quant import cast_float
from npusim.numerics.quantizer import QuantConfig, quantize_graph

FLOATS = ("fp32", "fp16", "bf16")


def split_map(graph: Graph, precisions: Mapping[str, str] | None, where: str
              ) -> tuple[frozenset[str], dict[str, str]]:
    """(nodes to run in int16, node -> float precision) of a precision map, its names resolved
    against `graph` (an unknown name is an error with close matches)."""
    nodes = resolve_layers(graph, dict(precisions or {}), where)
    bad = sorted({p for p in nodes.values() if p not in ("int8", "int16", *FLOATS)})
    if bad:
        raise NumericsError(f"{where}: the numerics run layers in int8, int16, "
                            f"{', '.join(FLOATS)}; not {', '.join(bad)}")
    return (frozenset(n for n, p in nodes.items() if p == "int16"),
            {n: p for n, p in nodes.items() if p in FLOATS})


def quantize_mixed(graph: Graph, calibration: Iterable[Mapping[str, np.ndarray]],
                   config: QuantConfig, precisions: Mapping[str, str] | None,
                   where: str = "precision map") -> Graph:
    """The QDQ graph of a float `graph` under a precision map (the default is `config`)."""
    wide, floats = split_map(graph, precisions, where)
    if config.activation_dtype == "int16":
        wide = frozenset()  # already everything int16
    qdq = quantize_graph(graph, calibration, config, exclude=frozenset(floats), wide=wide)
    return half_io(round_weights(qdq, floats), floats)


def keep_float_layers(qdq: Graph, precisions: Mapping[str, str] | None,
                      where: str = "precision map") -> Graph:
    """An already quantized (QDQ) graph with the mapped layers run in float (fp16 ones with
    fp16 weights, inputs and outputs, as `quantize_mixed` makes them); int16 cannot be given
    to a model whose quantization parameters are its own."""
    wide, floats = split_map(qdq, precisions, where)
    if wide:
        raise NumericsError(f"{where}: {sorted(wide)[0]} is asked to run in int16, but this "
                            "model is already quantized with its own Q/DQ parameters; map "
                            "layers of a quantized model to fp16 / fp32 only, or give the "
                            "float model")
    for p in sorted(set(floats.values())):
        qdq = analysis.keep_float(qdq, {n for n, q in floats.items() if q == p}, p,
                                  restore_relus=True)
    return half_io(qdq, floats)  # fp16 layers read and write half values, as in a float model


def round_weights(graph: Graph, floats: Mapping[str, str]) -> Graph:
    """The float-mapped nodes' constant inputs rounded to their precision (kept float32: the
    weights a fp16 engine holds, computed as onnxruntime computes a float island)."""
    tensors = dict(graph.tensors)
    for node in graph.nodes:
        p = floats.get(node.name)
        if p not in ("fp16", "bf16"):
            continue
        for name in node.inputs:
            t = tensors.get(name) if name else None
            if t is not None and t.data is not None and t.data.dtype == np.float32:
                tensors[name] = Tensor(name, t.shape, t.dtype,
                                       cast_float(t.data, p).astype(np.float32))
    return graph.replace(tensors=tensors)


def half_io(graph: Graph, floats: Mapping[str, str]) -> Graph:
    """The fp16-mapped nodes read and write fp16 values: a Cast to float16 and back on each
    float activation they read and write (the reformat an fp16 layer between int8 layers
    gets), so their inputs and outputs are rounded to half as on the chip; they compute in
    float32 (fp32 accumulation). Both casts are exact to express in ONNX."""
    names = {n for n, p in floats.items() if p == "fp16"}
    if not names:
        return graph
    tensors = dict(graph.tensors)
    nodes: list[Node] = []

    def pair(src: str, dst: str, tag: str) -> None:
        t = tensors[src]
        half = f"{dst}__{tag}__h"
        tensors[half] = Tensor(half, t.shape, DType.FLOAT16)
        tensors[dst] = Tensor(dst, t.shape, DType.FLOAT32)
        nodes.append(Node(f"{half}_Cast", "Cast", (src,), (half,), {"to": 10}))
        nodes.append(Node(f"{dst}__{tag}_Cast", "Cast", (half,), (dst,), {"to": 1}))

    for n in graph.nodes:
        if n.name not in names:
            nodes.append(n)
            continue
        ins = list(n.inputs)
        for k, t in enumerate(ins):
            if t and not graph.tensor(t).is_constant and graph.tensor(t).dtype == DType.FLOAT32:
                ins[k] = f"{t}__{n.name}__in"
                pair(t, ins[k], "in")
        outs = [f"{o}__f32" if o and graph.tensor(o).dtype == DType.FLOAT32 else o
                for o in n.outputs]
        for o, new in zip(n.outputs, outs):
            if new != o:
                tensors[new] = Tensor(new, graph.tensor(o).shape, DType.FLOAT32)
        nodes.append(Node(n.name, n.op_type, tuple(ins), tuple(outs), n.attrs, n.domain))
        for o, new in zip(n.outputs, outs):
            if new != o:
                pair(new, o, "out")
    return graph.replace(nodes=nodes, tensors=tensors)


def to_onnx(graph: Graph, opset: int = 21) -> onnx.ModelProto:
    """The graph as an ONNX model (onnxruntime's view of the same QDQ graph)."""
    inits = [numpy_helper.from_array(np.asarray(t.data), name)
             for name, t in graph.tensors.items() if t.data is not None]
    nodes = [helper.make_node(n.op_type, list(n.inputs), list(n.outputs), name=n.name,
                              domain=n.domain or None,
                              **{k: v for k, v in n.attrs.items() if not k.startswith("_")})
             for n in graph.nodes]

    def info(name):
        t = graph.tensor(name)
        return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(
            np.dtype(t.dtype.numpy)), list(t.shape))
    g = helper.make_graph(nodes, graph.name, [info(i) for i in graph.inputs],
                          [info(o) for o in graph.outputs], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    return model
