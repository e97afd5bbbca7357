"""npusim's own post-training quantizer: a float graph plus calibration samples in, a QDQ
graph out (the form onnxruntime.quantization writes), ready for `fusion.fuse`.

Weights: symmetric, per output channel or per tensor; activations: uint8 asymmetric (`ort`),
int8 asymmetric (`tflite`), int8 symmetric with power-of-two scales (`npu-shift`), or int16
symmetric; bias int32 at scale s_x * s_w.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from npusim.errors import NumericsError
from npusim.ir import DType, Graph, Node, Tensor
from npusim.numerics.calibrate import calibrate_range
from npusim.numerics.executor import execute
from npusim.numerics.ops.context import Context, Settings

_WEIGHTED = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul"})
_QUANTIZABLE = _WEIGHTED | {"Add", "Mul", "GlobalAveragePool"}
_SAME_SCALE = frozenset({"MaxPool", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze"})
_ACTIVATIONS = frozenset({"Relu", "Clip"})


@dataclass(frozen=True, slots=True)
class QuantConfig:
    activation_dtype: str = "uint8"   # uint8 | int8 | int16
    weight_dtype: str = "int8"        # int8 | int16
    symmetric_activations: bool = False
    per_channel: bool = True
    method: str = "minmax"
    power_of_two: bool = False
    narrow_weights: bool = True       # weights in [-127, 127] (TFLite), not [-128, 127]
    percentile: float = 99.99


def config_for(scheme: str, precision: str, **overrides) -> QuantConfig:
    if precision == "int16":
        base = QuantConfig("int16", "int16", True)
    elif scheme == "tflite":
        base = QuantConfig("int8", "int8", False)
    elif scheme == "npu-shift":
        base = QuantConfig("int8", "int8", True, power_of_two=True)
    else:
        base = QuantConfig()
    fields = {k: v for k, v in overrides.items() if v is not None}
    return QuantConfig(**{**{f: getattr(base, f) for f in base.__slots__}, **fields})


def quantize_graph(graph: Graph, calibration: Iterable[Mapping[str, np.ndarray]],
                   config: QuantConfig, *, exclude: frozenset[str] = frozenset(),
                   wide: frozenset[str] = frozenset()) -> Graph:
    """Insert QuantizeLinear / DequantizeLinear around every quantizable op. Nodes in
    `exclude` stay float (a float island between DQ and Q); nodes in `wide` run in int16:
    their weights and every activation they read or write are quantized symmetric int16.
    A tensor whose calibration values are not all finite is left unquantized."""
    points = _quantization_points(graph, exclude)
    samples = _collect(graph, calibration, set(points))
    wide_cfg = _wide(config)
    wide_tensors = _wide_tensors(graph, wide)
    params: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for t in points:
        # a tensor holding +-inf or NaN (an attention mask's -inf on padded positions) has
        # no finite range: it stays float, and so does the op that reads it with it
        if np.isfinite(samples[t]).all():
            params[t] = _activation_params(samples[t], wide_cfg if t in wide_tensors else config)
    # same-scale ops reuse their input's parameters so they run on integers
    for node in graph.nodes:
        if node.op_type in _SAME_SCALE and node.outputs[0] in params and node.inputs[0] in params:
            params[node.outputs[0]] = params[node.inputs[0]]
    return _rewrite(graph, params, config, exclude, wide, wide_cfg)


def _wide(config: QuantConfig) -> QuantConfig:
    """The int16 variant of `config` (symmetric activations and weights, as int16 builds do)."""
    fields = {f: getattr(config, f) for f in config.__slots__}
    return QuantConfig(**{**fields, "activation_dtype": "int16", "weight_dtype": "int16",
                          "symmetric_activations": True})


def _wide_tensors(graph: Graph, wide: frozenset[str]) -> set[str]:
    out: set[str] = set()
    for node in graph.nodes:
        if node.name in wide:
            out.update(i for i in node.inputs if i)
            out.add(_after_activations(graph, node.outputs[0]))
    return out


def _quantization_points(graph: Graph, exclude) -> list[str]:
    points: list[str] = []

    def add(t):
        if t and t not in points and not graph.tensor(t).is_constant and graph.tensor(
                t).dtype == DType.FLOAT32:
            points.append(t)

    for node in graph.nodes:
        if node.name in exclude:
            continue
        if node.op_type in _QUANTIZABLE or node.op_type in _SAME_SCALE:
            n_act = 1 if node.op_type in _WEIGHTED | _SAME_SCALE | {"GlobalAveragePool"} else 2
            for i in range(n_act):
                add(node.inputs[i])
            if node.op_type == "MatMul":
                add(node.inputs[1])  # an activation x activation MatMul quantizes both
            add(_after_activations(graph, node.outputs[0]))
    return points


def _after_activations(graph: Graph, t: str) -> str:
    while True:
        cons = graph.consumers(t)
        if len(cons) != 1 or cons[0].op_type not in _ACTIVATIONS or t in graph.outputs:
            return t
        t = cons[0].outputs[0]


def _collect(graph: Graph, calibration, names: set[str]) -> dict[str, np.ndarray]:
    chunks: dict[str, list[np.ndarray]] = {n: [] for n in names}
    count = 0
    for feeds in calibration:
        values = execute(graph, feeds, Context(Settings(float_order="blas")))
        for n in names:
            chunks[n].append(np.asarray(values[n], np.float32).ravel())
        count += 1
    if count == 0:
        raise NumericsError("calibration set is empty: give at least one input sample")
    return {n: np.concatenate(c) for n, c in chunks.items()}


def _qrange(dtype: str, narrow: bool = False) -> tuple[int, int, np.dtype]:
    d = np.dtype(dtype)
    info = np.iinfo(d)
    return (int(info.min) + (1 if narrow and info.min < 0 else 0)), int(info.max), d


def _pow2(s: np.ndarray) -> np.ndarray:
    return np.exp2(np.ceil(np.log2(np.maximum(s, np.finfo(np.float32).tiny)))).astype(np.float32)


def _activation_params(values: np.ndarray, cfg: QuantConfig):
    bits = np.dtype(cfg.activation_dtype).itemsize * 8
    lo, hi = calibrate_range(values, cfg.method, bits=bits, percentile=cfg.percentile)
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    qmin, qmax, dt = _qrange(cfg.activation_dtype)
    if cfg.symmetric_activations or cfg.power_of_two:
        amax = max(abs(lo), abs(hi))
        if dt.kind == "u" and lo < 0:  # unsigned symmetric: zero point mid-range
            s, zp = 2 * amax / qmax, (qmax + 1) // 2
        else:
            s, zp = amax / qmax, 0
    else:
        s = (hi - lo) / (qmax - qmin)
        zp = int(np.clip(round(qmin - lo / s), qmin, qmax)) if s > 0 else 0
    s = np.float32(s if s > 0 else 1.0)
    if cfg.power_of_two:
        s = _pow2(np.asarray(s))[()]
    return np.asarray(s, np.float32), np.asarray(zp, dt)


def _weight_params(w: np.ndarray, axis: int | None, cfg: QuantConfig,
                   scale: np.ndarray | None = None):
    """Symmetric weight codes, per channel along `axis` (per tensor when None), at their
    max-abs scale or at `scale` when given."""
    qmin, qmax, dt = _qrange(cfg.weight_dtype, cfg.narrow_weights)
    if scale is not None:
        s = scale
    else:
        if axis is None:
            amax = np.asarray(np.abs(w).max(), np.float64)
        else:
            amax = np.abs(np.moveaxis(w, axis, 0)).reshape(w.shape[axis], -1).max(axis=1)
        s = (amax / qmax).astype(np.float32)
        s = np.where(s > 0, s, np.float32(1.0)).astype(np.float32)
        if cfg.power_of_two:
            s = _pow2(s)
    shape = [1] * w.ndim
    if axis is not None:
        shape[axis] = -1
    q = np.clip(np.rint(w.astype(np.float32) / s.reshape(shape)), qmin, qmax).astype(dt)
    return q, s, np.zeros(s.shape, dt)


def _rewrite(graph: Graph, params, cfg: QuantConfig, exclude, wide=frozenset(),
             wide_cfg: QuantConfig | None = None) -> Graph:
    tensors = dict(graph.tensors)
    nodes: list[Node] = []
    rename: dict[str, str] = {}

    def const(name, value):
        tensors[name] = Tensor(name, tuple(value.shape), DType.from_numpy(value.dtype), value)
        return name

    # every quantized tensor t: producer writes t__f, Q(t__f) -> t__q, DQ(t__q) -> t
    for t, (s, zp) in params.items():
        rename[t] = f"{t}__f" if t not in graph.inputs else t
    qdq: dict[str, list[Node]] = {}
    for t, (s, zp) in params.items():
        src = rename[t]
        s_name = const(f"{t}__scale", s)
        z_name = const(f"{t}__zero_point", zp)
        q_out, dq_out = f"{t}__q", (t if src != t else f"{t}__dq")
        tensors[q_out] = Tensor(q_out, graph.tensor(t).shape, DType.from_numpy(zp.dtype))
        tensors[src] = Tensor(src, graph.tensor(t).shape, DType.FLOAT32)
        tensors[dq_out] = Tensor(dq_out, graph.tensor(t).shape, DType.FLOAT32)
        qdq[t] = [Node(f"{t}_QuantizeLinear", "QuantizeLinear", (src, s_name, z_name), (q_out,)),
                  Node(f"{t}_DequantizeLinear", "DequantizeLinear", (q_out, s_name, z_name),
                       (dq_out,))]
    input_alias = {t: f"{t}__dq" for t in params if t in graph.inputs}
    for t in graph.inputs:
        if t in qdq:
            nodes.extend(qdq[t])
    for node in graph.nodes:
        ins = [input_alias.get(i, i) for i in node.inputs]
        outs = [rename.get(o, o) for o in node.outputs]
        if node.op_type in _WEIGHTED and node.name not in exclude:
            ins = _quantize_weights(graph, node, ins, params,
                                    wide_cfg if node.name in wide else cfg, const, nodes,
                                    tensors)
        nodes.append(Node(node.name, node.op_type, tuple(ins), tuple(outs), node.attrs,
                          node.domain))
        for o in node.outputs:
            if o in qdq:
                nodes.extend(qdq[o])
    return Graph(graph.name, tuple(nodes), tensors, graph.inputs, graph.outputs, graph.opset
                 ).replace()


def _scale_for_int32_bias(bias: np.ndarray, sx, s: np.ndarray, cfg: QuantConfig
                          ) -> np.ndarray | None:
    """The weight scale widened so the int32 bias at scale s_x * s_w holds the bias, as
    onnxruntime's quantizer does (`_adjust_weight_scale_for_int32_bias`: the smallest valid
    bias scale is 1.0001 * 2 |b| / (2^32 - 2), per channel or over the tensor), or None when
    it already does. An activation range near zero (an untrained model) needs it."""
    qrange = float(np.iinfo(np.int32).max) - float(np.iinfo(np.int32).min + 1)
    b = np.abs(bias.astype(np.float64)).reshape(-1)
    if s.size == 1:
        b = np.asarray([b.max(initial=0.0)])
    smallest = 1.0001 * 2.0 * b / qrange
    candidate = float(sx) * s.astype(np.float64).reshape(-1)
    short = (candidate < smallest) & (candidate > 0)
    if not short.any():
        return None
    wider = np.where(short, s.astype(np.float64).reshape(-1) * smallest / np.where(
        candidate > 0, candidate, 1.0), s.astype(np.float64).reshape(-1))
    out = wider.astype(np.float32)
    out = np.where(out.astype(np.float64) < wider, np.nextafter(out, np.float32(np.inf)), out)
    if cfg.power_of_two:
        out = _pow2(out)
    return out.reshape(s.shape).astype(np.float32)


def _quantize_weights(graph, node, ins, params, cfg, const, nodes, tensors):
    w = graph.constant(node.input(1))
    if w is None or node.inputs[0] not in params:
        return ins
    if node.op_type == "Conv":
        axis = 0
    elif node.op_type == "ConvTranspose":
        # (C_in, C_out / group, kh, kw): per output channel along axis 1 for one group (as
        # onnxruntime's quantizer), per tensor for grouped ones (the bias has C_out scales)
        axis = 1 if int(node.attr("group", 1) or 1) == 1 else None
    elif node.op_type == "Gemm":
        axis = 0 if node.attr("transB", 0) else 1
    else:
        axis = w.ndim - 1
    axis = axis if cfg.per_channel else None
    q, s, zp = _weight_params(w, axis, cfg)
    b = (graph.constant(node.input(2)) if node.op_type in ("Conv", "ConvTranspose", "Gemm")
         else None)
    if b is not None and cfg.weight_dtype != "int16":
        wider = _scale_for_int32_bias(b, params[node.inputs[0]][0], s, cfg)
        if wider is not None:
            q, s, zp = _weight_params(w, axis, cfg, wider)
    name = node.inputs[1]
    qn, sn, zn = const(f"{name}__quantized", q), const(f"{name}__scale", s), const(
        f"{name}__zero_point", zp)
    out = f"{name}__dq"
    tensors[out] = Tensor(out, w.shape, DType.FLOAT32)
    nodes.append(Node(f"{name}_DequantizeLinear", "DequantizeLinear", (qn, sn, zn), (out,),
                      {"axis": axis} if s.size > 1 else {}))
    ins = list(ins)
    ins[1] = out
    if b is not None:
        sx = params[node.inputs[0]][0]
        sb = (np.float32(sx) * s).astype(np.float32)
        bq = np.rint(b.astype(np.float64) / sb.astype(np.float64))
        if np.any(np.abs(bq) > 2**31 - 1) and cfg.weight_dtype == "int16":
            return ins  # an int16 layer's bias past int32 stays float: the op is a float island
        if np.any(np.abs(bq) > 2**31 - 1):
            raise NumericsError(f"layer '{node.name}': bias does not fit int32 at scale "
                                "s_x * s_w (use int8 or a wider bias)")
        bq = bq.astype(np.int32)
        bname = node.inputs[2]
        bqn, bsn = const(f"{bname}__quantized", bq), const(f"{bname}__scale", sb)
        bzn = const(f"{bname}__zero_point", np.zeros(sb.shape, np.int32))
        bout = f"{bname}__dq"
        tensors[bout] = Tensor(bout, b.shape, DType.FLOAT32)
        nodes.append(Node(f"{bname}_DequantizeLinear", "DequantizeLinear", (bqn, bsn, bzn),
                          (bout,), {"axis": 0} if sb.size > 1 else {}))
        ins[2] = bout
    return ins
