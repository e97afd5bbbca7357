"""`run_numerics`: run a model bit-accurately in a chosen scheme and precision, compare every
layer with the float reference, rank the worst layers and suggest a mixed precision."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping

import numpy as np
import onnx

from npusim.errors import NumericsError
from npusim.ir import DType, Graph, Tensor
from npusim.ir.passes import canonicalize, remove_identities
from npusim.numerics import analysis
from npusim.numerics.divergence import divergences
from npusim.numerics.dumps.write import dump_run
from npusim.numerics.executor import check_feeds, execute
from npusim.numerics.fusion import fuse
from npusim.numerics.kernels import u8s8
from npusim.numerics.load import is_quantized, load_model
from npusim.numerics.metrics import sqnr_db
from npusim.numerics.mixed import keep_float_layers, quantize_mixed, split_map
from npusim.numerics.ops import qlookup
from npusim.numerics.ops.context import Context, Settings
from npusim.numerics.quant import cast_float
from npusim.numerics.quantizer import config_for
from npusim.numerics.requant import NpuShift, check_scheme
from npusim.numerics.result import MixedPrecision, NumericsResult

PRECISIONS = ("int8", "int16", "fp32", "fp16", "bf16", "fp8")
DIVERGENCE_NOTE = "not bit-exact float ops (see divergence): "  # each listed in `divergence`


def run_numerics(model: str | os.PathLike | onnx.ModelProto | Graph,
                 inputs: Mapping[str, np.ndarray], *, shapes=None, scheme: str = "ort",
                 precision: str = "int8",
                 calibration: Iterable[Mapping[str, np.ndarray]] | None = None,
                 method: str = "minmax", per_channel: bool = True,
                 symmetric: bool | None = None, power_of_two: bool | None = None,
                 npu: NpuShift | None = None, accumulate: str = "fp32",
                 on_overflow: str = "raise", layerwise: bool = True,
                 target_sqnr_db: float | None = None, keep_precision: str = "fp16",
                 max_keep: int = 16, reference: bool = True,
                 precisions: Mapping[str, str] | None = None,
                 dump: str | os.PathLike | None = None,
                 host_u8s8: bool = False) -> NumericsResult:
    """Run `model` on `inputs` in `precision` under requantization `scheme`.

    A QDQ or QOperator model runs as quantized (precision is the model's own); a float model
    is quantized by npusim from `calibration` (default: the inputs themselves) for int8 /
    int16, or cast for fp16 / bf16 / fp8. `target_sqnr_db` asks for a mixed-precision
    suggestion: the fewest layers to keep in `keep_precision`. `reference=False` returns the
    quantized outputs only (no float reference run, no per-layer table), several times faster.
    `precisions` (a precision map: layer or fused-group name -> int16 / fp16 / fp32) runs
    those layers in int16 or leaves them in float (`numerics.mixed`).
    `dump` names a folder that receives every layer's simulated tensor (`npusim compare`).
    `host_u8s8` follows this host's onnxruntime where, without VNNI, it saturates uint8 x int8
    pair sums at int16 (`kernels.u8s8`; default: exact sums, named in `notes` where they differ).
    """
    check_scheme(scheme)
    if precision not in PRECISIONS:
        raise NumericsError(f"unknown precision '{precision}' (choose from "
                            f"{', '.join(PRECISIONS)})")
    if accumulate not in ("fp32", "fp16"):
        raise NumericsError(f"accumulate must be 'fp32' or 'fp16', not '{accumulate}'")
    graph, cores = load_model(model, shapes)
    feeds = check_feeds(graph, _without_fixed(graph, inputs, shapes))
    wide = precision == "int16" or "int16" in (precisions or {}).values()
    settings = Settings(scheme=scheme, npu=npu or NpuShift(), accumulate=accumulate,
                        acc_bits=48 if wide else 32, on_overflow=on_overflow,
                        host_u8s8=host_u8s8)
    notes: list[str] = []
    if is_quantized(graph):
        qdq = keep_float_layers(graph, precisions) if precisions else graph
        label = "model"
        notes.append("model is already quantized: its own Q/DQ parameters are used")
    elif precision in ("int8", "int16"):
        cfg = config_for(scheme, precision, method=method, per_channel=per_channel,
                         symmetric_activations=symmetric, power_of_two=power_of_two)
        # fold BN into Conv first, as every deployment quantizer does
        qdq = quantize_mixed(canonicalize(graph),
                             calibration if calibration is not None else [feeds], cfg,
                             precisions)
        label = precision
    else:
        if precisions:
            raise NumericsError("a precision map needs an int8 or int16 run (--precision)")
        return _run_float(graph, feeds, precision, settings, scheme, dump)

    arrived_quantized = is_quantized(graph)
    # onnxruntime drops Identity, Dropout and no-op Casts before it fuses Q/DQ patterns
    qdq = remove_identities(qdq)
    fgraph = analysis.strip_qdq(qdq, restore_relus=arrived_quantized)
    qgraph = fuse(qdq, required=cores, all_patterns=scheme != "onnx-ref",
                  ort_patterns=scheme == "ort")
    ctx = Context(settings)
    qvalues = execute(qgraph, feeds, ctx)
    dump_run(dump, qgraph, qvalues, qdq, graph)
    diverging = divergences(qgraph, qvalues, measure=reference) if scheme == "ort" else ()
    if diverging:
        notes.append(DIVERGENCE_NOTE + ", ".join(
            sorted({d.op_type for d in diverging})))
    notes.extend(u8s8.notes(ctx.events))
    notes.extend(qlookup.tie_notes(ctx.events))
    if not reference:
        if target_sqnr_db is not None:
            raise NumericsError("target_sqnr_db needs the float reference (reference=True)")
        return NumericsResult(_name(model, graph), scheme, label,
                              {o: qvalues[o] for o in qgraph.outputs}, {}, (), {}, (), None,
                              tuple(notes), diverging)
    fvalues = execute(fgraph, feeds, Context(Settings(float_order="blas")))
    outputs = {o: qvalues[o] for o in qgraph.outputs}
    refs = {o: fvalues[o] for o in fgraph.outputs}
    out_sqnr = {o: sqnr_db(refs[o], outputs[o]) for o in outputs
                if outputs[o].dtype.kind == "f"}
    rows = analysis.graphwise_rows(qgraph, qdq, qvalues, fvalues, ctx, label)
    if precisions and not is_quantized(graph):
        wide = split_map(qdq, precisions, "precision map")[0]
        rows = [{**d, "precision": "int16"} if d["name"] in wide else d for d in rows]
    lw = analysis.layerwise(qgraph, fgraph, qdq, qvalues, fvalues, settings) if layerwise else {}
    table = analysis.as_rows(rows, lw)
    worst = _rank(table)
    suggestion = None
    if target_sqnr_db is not None:
        suggestion = _mixed_precision(qdq, cores, feeds, settings, refs, worst, out_sqnr,
                                      target_sqnr_db, keep_precision, max_keep, scheme,
                                      arrived_quantized)
    return NumericsResult(_name(model, graph), scheme, label, outputs, refs, table, out_sqnr,
                          worst, suggestion, tuple(notes), diverging)


def _name(model, graph: Graph) -> str:
    if isinstance(model, (str, os.PathLike)):
        return os.path.basename(os.fspath(model))
    return graph.name


def _rank(table) -> tuple[str, ...]:
    def key(r):
        v = r.layerwise_output_sqnr_db if r.layerwise_output_sqnr_db is not None else r.sqnr_db
        return (v, r.name)
    return tuple(r.name for r in sorted(table, key=key))


def _first_float_sqnr(refs, outputs) -> float:
    for o, v in outputs.items():
        if v.dtype.kind == "f":
            return sqnr_db(refs[o], v)
    return math.inf


def _mixed_precision(qdq, cores, feeds, settings, refs, worst, out_sqnr, target, keep_precision,
                     max_keep, scheme, restore_relus: bool) -> MixedPrecision:
    baseline = next(iter(out_sqnr.values()), math.inf)
    keep: list[str] = []
    current = baseline
    for name in worst[:max_keep]:
        if current >= target:
            break
        keep.append(name)
        g = fuse(analysis.keep_float(qdq, set(keep), keep_precision, restore_relus),
                 required=frozenset(),
                 all_patterns=scheme != "onnx-ref", ort_patterns=scheme == "ort")
        vals = execute(g, feeds, Context(settings))
        current = _first_float_sqnr(refs, {o: vals[o] for o in g.outputs})
    return MixedPrecision(target, keep_precision, tuple(keep), baseline, current,
                          current >= target)


def _without_fixed(graph: Graph, inputs: Mapping[str, np.ndarray], shapes
                   ) -> Mapping[str, np.ndarray]:
    """The inputs less the scalar inputs `--shapes NAME=VALUE` fixed (they are constants of
    the graph now), each checked against its fixed value."""
    from npusim.frontend.shapes import parse_dim_values
    values = parse_dim_values(shapes) if shapes else {}
    fixed = [n for n in inputs if n in values and n not in graph.inputs]
    for name in fixed:
        given = np.asarray(inputs[name])
        if given.size != 1 or given.item() != values[name]:
            raise NumericsError(f"input '{name}' is fixed to {values[name]} by --shapes "
                                f"{name}={values[name]}, but the inputs give {given.tolist()}")
    return {k: v for k, v in inputs.items() if k not in fixed}


def _run_float(graph: Graph, feeds, precision: str, settings: Settings, scheme: str,
               dump=None) -> NumericsResult:
    """fp32 reference, fp16 with native half arithmetic, bf16 / fp8 as rounding casts."""
    ref = execute(graph, feeds, Context(Settings(float_order="blas")))
    if precision == "fp32":
        low = ref
    elif precision == "fp16":
        low = execute(_as_half(graph), {k: v.astype(np.float16) if v.dtype.kind == "f" else v
                                        for k, v in feeds.items()}, Context(settings))
    else:
        low = _run_cast(graph, feeds, precision, settings)
    dump_run(dump, graph, low)
    outputs = {o: np.asarray(low[o]) for o in graph.outputs}
    refs = {o: ref[o] for o in graph.outputs}
    out_sqnr = {o: sqnr_db(refs[o], outputs[o]) for o in outputs
                if outputs[o].dtype.kind == "f"}
    from npusim.numerics.metrics import cosine, max_abs_error
    from npusim.numerics.result import LayerRow
    rows = []
    for node in graph.nodes:
        t = node.outputs[0]
        if t in low and t in ref and np.asarray(ref[t]).dtype.kind == "f":
            a, b = ref[t], np.asarray(low[t], np.float32)
            rows.append(LayerRow(node.name, node.op_type, precision, (node.name,),
                                 sqnr_db(a, b), cosine(a, b), max_abs_error(a, b), 0, 0.0, 0))
    table = tuple(rows)
    return NumericsResult(graph.name, scheme, precision, outputs, refs, table, out_sqnr,
                          _rank(table), None, ())


def _as_half(graph: Graph) -> Graph:
    tensors = {}
    for k, t in graph.tensors.items():
        if t.dtype == DType.FLOAT32:
            data = None if t.data is None else t.data.astype(np.float16)
            tensors[k] = Tensor(k, t.shape, DType.FLOAT16, data)
        else:
            tensors[k] = t
    return graph.replace(tensors=tensors)


def _run_cast(graph: Graph, feeds, precision: str, settings: Settings):
    """Every float weight, input and node output rounded to `precision` (compute in fp32)."""
    tensors = {k: (Tensor(k, t.shape, t.dtype, cast_float(t.data, precision).astype(np.float32))
                   if t.data is not None and t.dtype == DType.FLOAT32 else t)
               for k, t in graph.tensors.items()}
    g = graph.replace(tensors=tensors)
    values = {k: (cast_float(v, precision).astype(np.float32) if v.dtype.kind == "f" else v)
              for k, v in feeds.items()}
    def cast(v):
        return cast_float(v, precision).astype(np.float32) if v.dtype.kind == "f" else v
    return execute(g, values, Context(settings), post=cast)
