"""Graph-to-graph canonicalization: each pass is a plain function Graph -> Graph.

`remove_identities` drops Identity, inference-mode Dropout and a Cast to the type its input
already has (what onnxruntime's Identity / Dropout / Cast eliminations and TensorRT's builder
drop; in a quantized graph it lets DQ -> Softmax -> Cast -> Q fuse as onnxruntime fuses it);
`fold_batchnorm` merges a
BatchNormalization into the Conv before it (the merged node is named `conv+bn`, so every
figure still traces back to both ONNX nodes). `canonicalize` runs them in order.
"""

from __future__ import annotations

import numpy as np

from npusim.ir.deferred import Deferred
from npusim.ir.graph import Graph, Node, Tensor

_PASS_THROUGH = frozenset({"Identity", "Dropout"})


def canonicalize(graph: Graph) -> Graph:
    return fold_batchnorm(remove_identities(graph))


def _passes_through(graph: Graph, node: Node) -> bool:
    if node.op_type in _PASS_THROUGH:
        return True
    if node.op_type != "Cast" or not node.inputs or not node.inputs[0]:
        return False
    to = node.attr("to")
    return to is not None and graph.tensor(node.inputs[0]).dtype.value == int(to)


def remove_identities(graph: Graph) -> Graph:
    """Bypass Identity, Dropout (whose mask output nobody reads) and no-op Casts."""
    rename: dict[str, str] = {}
    outputs = set(graph.outputs)
    keep: list[Node] = []

    def resolve(name: str) -> str:
        while name in rename:
            name = rename[name]
        return name

    for node in graph.nodes:
        if not _passes_through(graph, node) or any(
                graph.consumers(o) or o in outputs for o in node.outputs[1:] if o):
            keep.append(node)
            continue
        src, dst = resolve(node.inputs[0]), node.outputs[0]
        if dst in outputs:
            if src in outputs or src in graph.inputs or graph.tensor(src).is_constant:
                keep.append(node)  # an output that is an input or constant needs the copy
                continue
            rename[src] = dst  # let the producer write the graph output directly
        else:
            rename[dst] = src

    # Every name a rename points to is already a tensor of the graph.
    nodes = [Node(n.name, n.op_type, tuple(resolve(i) if i else i for i in n.inputs),
                  tuple(resolve(o) if o else o for o in n.outputs), n.attrs, n.domain)
             for n in keep]
    return graph.replace(nodes=nodes)


def fold_batchnorm(graph: Graph) -> Graph:
    """Conv -> BatchNormalization (constant params, Conv output read only by the BN) becomes
    one Conv with W' = W * s and b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps)."""
    replaced: dict[str, Node] = {}
    dropped: set[str] = set()
    tensors = dict(graph.tensors)
    for bn in graph.nodes:
        if bn.op_type != "BatchNormalization" or len([o for o in bn.outputs if o]) != 1:
            continue
        conv = graph.producer(bn.inputs[0])
        if (conv is None or conv.op_type != "Conv" or conv.name in replaced
                or len(graph.consumers(conv.outputs[0])) != 1
                or conv.outputs[0] in graph.outputs):
            continue
        bias_name = conv.input(2)
        names = [*bn.inputs[1:5], conv.inputs[1], *([bias_name] if bias_name else [])]
        if not all(graph.tensor(n).is_constant for n in names):
            continue
        w_name, b_name = f"{conv.inputs[1]}__bnfold", f"{bn.name}__bias"
        weight = graph.tensor(conv.inputs[1])
        folded = _folded(graph, bn, conv.inputs[1], bias_name)
        b_shape = graph.tensor(bn.inputs[3]).shape
        for name, shape, k in ((w_name, weight.shape, 0), (b_name, b_shape, 1)):
            value = Deferred(shape, weight.dtype.numpy, lambda f=folded, k=k: f()[k])
            tensors[name] = Tensor(name, shape, weight.dtype, value)
        replaced[conv.name] = Node(f"{conv.name}+{bn.name}", "Conv",
                                   (conv.inputs[0], w_name, b_name), (bn.outputs[0],),
                                   conv.attrs, conv.domain)
        dropped.add(bn.name)
    if not replaced:
        return graph
    nodes = [replaced.get(n.name, n) for n in graph.nodes if n.name not in dropped]
    return graph.replace(nodes=nodes, tensors=tensors)


def _folded(graph: Graph, bn: Node, w_name: str, bias_name: str | None):
    """The merged (weight, bias), computed once and only when a value is asked for (weights
    may still be on disk, or absent when the model is only priced)."""
    cache: list[tuple[np.ndarray, np.ndarray]] = []

    def compute() -> tuple[np.ndarray, np.ndarray]:
        if not cache:
            weight = graph.constant(w_name)
            gamma, beta, mean, var = (graph.constant(n).astype(np.float64)
                                      for n in bn.inputs[1:5])
            scale = gamma / np.sqrt(var + float(bn.attr("epsilon", 1e-5)))
            w = (weight * scale.reshape(-1, *([1] * (weight.ndim - 1)))).astype(weight.dtype)
            bias = graph.constant(bias_name) if bias_name else None
            b0 = np.zeros_like(mean) if bias is None else bias.astype(np.float64)
            cache.append((w, ((b0 - mean) * scale + beta).astype(weight.dtype)))
        return cache[0]

    return compute
