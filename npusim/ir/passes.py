"""Graph-to-graph canonicalization: each pass is a plain function Graph -> Graph.

`remove_identities` drops Identity and inference-mode Dropout; `fold_batchnorm` merges a
BatchNormalization into the Conv before it (the merged node is named `conv+bn`, so every
figure still traces back to both ONNX nodes). `canonicalize` runs them in order.
"""

from __future__ import annotations

import numpy as np

from npusim.ir.graph import Graph, Node, Tensor

_PASS_THROUGH = frozenset({"Identity", "Dropout"})


def canonicalize(graph: Graph) -> Graph:
    return fold_batchnorm(remove_identities(graph))


def remove_identities(graph: Graph) -> Graph:
    """Bypass Identity and Dropout (whose mask output nobody reads)."""
    rename: dict[str, str] = {}
    outputs = set(graph.outputs)
    keep: list[Node] = []

    def resolve(name: str) -> str:
        while name in rename:
            name = rename[name]
        return name

    for node in graph.nodes:
        if node.op_type not in _PASS_THROUGH or any(
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
        params = [graph.constant(n) for n in bn.inputs[1:5]]
        weight = graph.constant(conv.inputs[1])
        bias_name = conv.input(2)
        bias = graph.constant(bias_name) if bias_name else None
        if any(p is None for p in params) or weight is None or (bias_name and bias is None):
            continue
        gamma, beta, mean, var = (p.astype(np.float64) for p in params)
        scale = gamma / np.sqrt(var + float(bn.attr("epsilon", 1e-5)))
        w = (weight * scale.reshape(-1, *([1] * (weight.ndim - 1)))).astype(weight.dtype)
        b0 = np.zeros_like(mean) if bias is None else bias.astype(np.float64)
        b = ((b0 - mean) * scale + beta).astype(weight.dtype)
        w_name, b_name = f"{conv.inputs[1]}__bnfold", f"{bn.name}__bias"
        tensors[w_name] = Tensor(w_name, w.shape, graph.tensor(conv.inputs[1]).dtype, w)
        tensors[b_name] = Tensor(b_name, b.shape, graph.tensor(conv.inputs[1]).dtype, b)
        replaced[conv.name] = Node(f"{conv.name}+{bn.name}", "Conv",
                                   (conv.inputs[0], w_name, b_name), (bn.outputs[0],),
                                   conv.attrs, conv.domain)
        dropped.add(bn.name)
    if not replaced:
        return graph
    nodes = [replaced.get(n.name, n) for n in graph.nodes if n.name not in dropped]
    return graph.replace(nodes=nodes, tensors=tensors)
