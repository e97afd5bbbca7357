"""Float islands npusim does not reproduce bit for bit (`ops.islands.island_reason`), named per
layer with the reason and, where onnxruntime is installed, the measured mismatch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from npusim.ir import Graph
from npusim.numerics.ops.islands import foldable, island_reason


@dataclass(frozen=True, slots=True)
class Divergence:
    """One float op whose float32 result may differ from onnxruntime's. `mismatched` and
    `max_ulp` compare npusim with onnxruntime on this run's inputs of the op (None when
    onnxruntime is not installed)."""

    layer: str
    op_type: str
    reason: str
    mismatched: int | None = None
    total: int = 0
    max_ulp: int | None = None


def divergences(qgraph: Graph, values, *, measure: bool = True) -> tuple[Divergence, ...]:
    """The not-bit-exact float ops of a run of `qgraph` (`values`: every tensor it computed)."""
    out = []
    for node in qgraph.nodes:
        if node.outputs[0] not in values:
            continue
        reason = island_reason(qgraph, node)
        if reason is None:
            continue
        if node.op_type == "Resize" and node.attr("mode", "nearest") == "nearest":
            continue  # copies input values: exact
        y = np.asarray(values[node.outputs[0]])
        if y.dtype != np.float32:
            continue
        found = _measure(qgraph, node, values, y) if measure else None
        mismatched, max_ulp = found if found is not None else (None, None)
        out.append(Divergence(node.name, node.op_type, reason, mismatched,
                              int(y.size), max_ulp))
    return tuple(out)


def _measure(graph: Graph, node, values, ours: np.ndarray):
    """(elements that differ, largest difference in ulps) against an onnxruntime session of
    the single node; None without onnxruntime or where it cannot run the node."""
    try:
        import onnxruntime as ort
        from onnx import helper, numpy_helper
    except ImportError:
        return None
    feeds, inits, vis = {}, [], []
    for name in node.inputs:
        if not name:
            continue
        v = np.asarray(values[name] if name in values else graph.constant(name))
        if foldable(graph, name):  # onnxruntime sees it folded into an initializer
            inits.append(numpy_helper.from_array(v, name))
        else:
            feeds[name] = v
            vis.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(
                v.dtype), v.shape))
    attrs = {k: v for k, v in node.attrs.items() if not k.startswith("_")}
    proto = helper.make_node(node.op_type, list(node.inputs), [node.outputs[0]], **attrs)
    out = helper.make_tensor_value_info(node.outputs[0], 1, ours.shape)
    model = helper.make_model(helper.make_graph([proto], "island", vis, [out], inits),
                              opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the measurement must not print onnxruntime warnings
    try:
        sess = ort.InferenceSession(model.SerializeToString(), options,
                                    providers=["CPUExecutionProvider"])
        theirs = np.asarray(sess.run(None, feeds)[0], np.float32)
    except Exception:  # onnxruntime rejects the node: nothing measured
        return None
    ulps = np.abs(_ordered(ours) - _ordered(theirs))
    return int(np.count_nonzero(ulps)), int(ulps.max(initial=0))


def _ordered(x: np.ndarray) -> np.ndarray:
    """float32 bit patterns as int64 that count ulps across zero (-0.0 == +0.0)."""
    i = np.ascontiguousarray(x, np.float32).view(np.int32).astype(np.int64)
    return np.where(i < 0, -(i & 0x7FFFFFFF), i)
