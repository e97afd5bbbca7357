"""Run an IR graph on numpy inputs, node by node, with the numerics kernels.

Values keep their real dtypes (uint8/int8/int16 for quantized tensors, float32/float16
otherwise); every tensor computed is returned so the error analysis can read any layer.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from npusim.errors import NumericsError
from npusim.ir import Graph
from npusim.numerics.ops import load_all
from npusim.numerics.ops.context import Context
from npusim.numerics.ops.floating import reference_kernel


def check_feeds(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Inputs by name, each with the shape the graph expects; mistakes name the input."""
    missing = [n for n in graph.inputs if n not in feeds]
    if missing:
        raise NumericsError(f"graph '{graph.name}' needs input '{missing[0]}' but the inputs "
                            f"hold {sorted(feeds) or 'nothing'}")
    unknown = sorted(set(feeds) - set(graph.inputs))
    if unknown:
        raise NumericsError(f"input '{unknown[0]}' is not an input of graph '{graph.name}' "
                            f"(inputs: {', '.join(graph.inputs)})")
    out = {}
    for name in graph.inputs:
        t = graph.tensor(name)
        v = np.asarray(feeds[name])
        if tuple(v.shape) != tuple(t.shape):
            raise NumericsError(f"input '{name}' has shape {tuple(v.shape)} but graph "
                                f"'{graph.name}' expects {tuple(t.shape)} (bind it with "
                                "--shapes)")
        want = t.dtype.numpy
        if v.dtype != want:
            if v.dtype.kind == want.kind == "f" or (v.dtype.kind in "iu" and want.kind in "iu"):
                v = v.astype(want)
            else:
                raise NumericsError(f"input '{name}' has dtype {v.dtype}, graph expects {want}")
        out[name] = v
    return out


def execute(graph: Graph, feeds: Mapping[str, np.ndarray], ctx: Context | None = None,
            *, start: Mapping[str, np.ndarray] | None = None,
            skip: frozenset[str] = frozenset(), post=None) -> dict[str, np.ndarray]:
    """All tensor values after running the graph. `start` pre-fills values (nodes whose
    outputs are all present are skipped), which is how layerwise analysis reuses a run;
    `post` maps every computed array (the bf16 / fp8 cast emulation)."""
    ctx = ctx or Context()
    kernels = load_all()
    values: dict[str, np.ndarray] = dict(start or {})
    values.update(check_feeds(graph, feeds) if start is None else feeds)
    for node in graph.nodes:
        if node.name in skip or all(o in values for o in node.outputs if o):
            continue
        args = []
        for name in node.inputs:
            if not name:
                args.append(None)
                continue
            v = values.get(name)
            if v is None:
                v = graph.constant(name)
                if v is None:
                    raise NumericsError(f"node '{node.name}' reads '{name}', which has no value")
            args.append(v)
        fn = kernels.get(node.op_type, reference_kernel)
        try:
            results = fn(node, args, ctx)
        except NumericsError:
            raise
        except (IndexError, ValueError) as e:
            # a value the op cannot take (a token id past the vocabulary, a shape the data
            # disagrees with): the user's input, said with the node it stopped at
            raise NumericsError(f"node '{node.name}' ({node.op_type}) cannot run on these "
                                f"inputs: {e}") from e
        for name, r in zip(node.outputs, results):
            if name:
                values[name] = np.asarray(r) if post is None else post(np.asarray(r))
    return values
