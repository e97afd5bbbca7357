"""GraphBuilder: the small toolkit every zoo family uses to emit ONNX graphs in code.

It names nodes the way torch.onnx does, draws deterministic weights, and spells "light" weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ._probe import BN_GAIN, M2_RULES, evaluate

OPSET = 17
IR_VERSION = 8
LIGHT_VALUE = 0.02

_ONNX_DTYPE = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.int64): TensorProto.INT64,
}

PROBE_SAMPLES = 256


class GraphBuilder:
    """Accumulates nodes, parameters and constants, then assembles a ModelProto.

    Parameters (learned weights and BN running statistics) become float32 initializers with
    ``weights="random"``, or ``ConstantOfShape`` nodes fed by an int64 shape initializer with
    ``weights="light"``. Everything else (shapes, scalars, scales) becomes a ``Constant`` node,
    as torch.onnx exports it.

    Random weights are Kaiming-normal with a data-dependent gain (LSUV-style): a weight layer
    reading ``x`` gets std sqrt(1 / (fan_in * E[x^2])), which is He's sqrt(2 / fan_in) when ``x``
    is the ReLU of a unit-variance tensor, and makes each conv's output variance match the
    running_var of the BatchNormalization after it, as in a trained network. E[x^2] is measured
    on a *probe*: a [samples, channels] array pushed through the graph as it is built (a KxK conv
    mixes each sample with K*K-1 randomly drawn others), with per-op moment rules
    (``M2_RULES``) where no probe exists (reshapes, attention). With plain He, eval-mode BN does
    not normalise and a random ResNet-50's logits reach std ~1e4; with this they stay O(1).
    """

    def __init__(self, name: str, *, seed: int = 0, weights: str = "random") -> None:
        self.name = name
        self.light = weights == "light"
        self.rng = np.random.default_rng(seed)
        # initializers go straight into the final ModelProto: copying 400 MB protos is slow
        self._model = onnx.ModelProto()
        self._initializers = self._model.graph.initializer
        self._nodes: list[onnx.NodeProto] = []
        self._weight_nodes: list[onnx.NodeProto] = []
        self._inputs: list[onnx.ValueInfoProto] = []
        self._outputs: list[str] = []
        self._params: dict[str, tuple[int, ...]] = {}
        self._name_counts: dict[str, int] = {}
        self._tensors: set[str] = set()
        self._m2: dict[str, float] = {}
        self._init_index: dict[str, int] = {}
        self._consts: dict[str, np.ndarray] = {}
        self._probe: dict[str, np.ndarray] = {}
        self._probe_rng = np.random.default_rng((seed, 1))

    # ------------------------------------------------------------------ naming
    def _unique_node_name(self, base: str) -> str:
        n = self._name_counts.get(base, 0)
        self._name_counts[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def _claim(self, tensor: str) -> str:
        if tensor in self._tensors:
            raise ValueError(f"duplicate tensor name {tensor!r}")  # a bug in a zoo builder
        self._tensors.add(tensor)
        return tensor

    # ------------------------------------------------------------------ scale tracking
    def m2(self, tensor: str) -> float:
        """Estimated second moment E[x^2] of a float tensor (1.0 when unknown)."""
        return self._m2.get(tensor, 1.0)

    def set_m2(self, tensor: str, value: float) -> str:
        """Record an estimated E[x^2] for ``tensor``, unless its probe measured it."""
        if tensor not in self._probe:
            self._m2[tensor] = float(value)
        return tensor

    def _value(self, tensor: str) -> np.ndarray | None:
        """Probe, constant or (random) parameter value of ``tensor``, if known."""
        if tensor in self._probe:
            return self._probe[tensor]
        if tensor in self._consts:
            return self._consts[tensor]
        if tensor in self._init_index:
            t = self._initializers[self._init_index[tensor]]
            if t.data_type == TensorProto.FLOAT:
                return np.frombuffer(t.raw_data, dtype="<f4").reshape(tuple(t.dims))
        return None

    # ------------------------------------------------------------------ graph I/O
    def input(self, name: str, shape: Sequence[int], dtype: int = TensorProto.FLOAT) -> str:
        """A graph input; a float NCHW image input also starts the probe with N(0, 1) samples."""
        self._inputs.append(helper.make_tensor_value_info(name, dtype, list(shape)))
        if dtype == TensorProto.FLOAT and len(shape) == 4 and not self.light:
            self._probe[name] = self._probe_rng.standard_normal((PROBE_SAMPLES, shape[1]),
                                                                dtype=np.float32)
        return self._claim(name)

    def output(self, tensor: str, name: str | None = None) -> str:
        """Mark ``tensor`` as a graph output, renaming it to ``name`` if given."""
        if name is not None and name != tensor:
            self._claim(name)
            self._tensors.discard(tensor)
            for n in self._nodes:
                for seq in (n.input, n.output):
                    for i, t in enumerate(seq):
                        if t == tensor:
                            seq[i] = name
            self._m2[name] = self.m2(tensor)
            tensor = name
        self._outputs.append(tensor)
        return tensor

    # ------------------------------------------------------------------ nodes
    def node(
        self,
        op: str,
        inputs: Sequence[str],
        scope: str = "",
        *,
        outputs: Sequence[str] | None = None,
        probe: bool = True,
        **attrs,
    ) -> str:
        """Add node ``{scope}/{op}`` (made unique) and return its (first) output name.

        ``probe=False`` skips evaluating the probe (e.g. for a layer whose shared weights were
        already calibrated); downstream scale estimates then fall back to ``M2_RULES``.
        """
        name = self._unique_node_name(f"{scope}/{op}")
        if outputs is None:
            outputs = [f"{name}_output_0"]
        for o in outputs:
            self._claim(o)
        self._nodes.append(helper.make_node(op, list(inputs), list(outputs), name=name, **attrs))
        rule = M2_RULES.get(op)
        if inputs:
            ms = [self.m2(t) for t in inputs if t]
            self._m2[outputs[0]] = rule(ms) if rule else ms[0]
        if probe and inputs and len(outputs) == 1 and inputs[0] in self._probe:
            vals = [self._value(t) for t in inputs if t]
            if all(v is not None for v in vals):
                y = evaluate(op, vals, attrs, self._probe_rng)
                if y is not None:
                    self._probe[outputs[0]] = y = y.astype(np.float32, copy=False)
                    self._m2[outputs[0]] = float(np.mean(np.square(y, dtype=np.float64)))
        return outputs[0]

    def const(self, value, scope: str = "", dtype=None) -> str:
        """A ``Constant`` node holding ``value`` (numpy array or python scalar)."""
        arr = np.asarray(value, dtype=dtype)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        out = self.node("Constant", [], scope, value=numpy_helper.from_array(arr, name=""))
        self._consts[out] = arr
        if arr.dtype == np.float32 and arr.size:
            self.set_m2(out, float(np.mean(np.square(arr, dtype=np.float64))))
        return out

    # ------------------------------------------------------------------ parameters
    def param(self, name: str, shape: Sequence[int], init: str, *, reuse: bool = False, **kw) -> str:
        """A learned tensor (or BN buffer) named ``name``.

        ``init``: "normal" (std=...), "uniform" (low=, high=), "bias" (fan_in=...: torch's
        U(-1/sqrt(fan_in), 1/sqrt(fan_in))). ``reuse=True`` returns an existing parameter of
        that name and shape (weights shared by several nodes).
        """
        shape = tuple(int(s) for s in shape)
        if name in self._params:
            if reuse and self._params[name] == shape:
                return name
            raise ValueError(f"duplicate parameter {name!r}")
        self._params[name] = shape
        self._claim(name)
        if init == "normal":
            self._m2[name] = kw["std"] ** 2
        elif init == "uniform":
            lo, hi = kw["low"], kw["high"]
            self._m2[name] = (lo * lo + lo * hi + hi * hi) / 3.0
        elif init == "bias":
            self._m2[name] = 1.0 / (3.0 * kw["fan_in"])
        else:
            raise ValueError(f"unknown init {init!r}")
        if self.light:
            shape_name = self._claim(f"{name}__SHAPE")
            self._add_initializer(shape_name, np.asarray(shape, dtype=np.int64))
            value = helper.make_tensor("", TensorProto.FLOAT, [1], [LIGHT_VALUE])
            node_name = self._unique_node_name(f"/{name}/ConstantOfShape")
            self._weight_nodes.append(
                helper.make_node("ConstantOfShape", [shape_name], [name], name=node_name, value=value)
            )
            return name
        rng = self.rng
        if init == "normal":
            arr = rng.standard_normal(shape, dtype=np.float32)
            arr *= np.float32(kw["std"])
        elif init == "uniform":
            arr = rng.uniform(kw["low"], kw["high"], size=shape).astype(np.float32)
        else:
            bound = 1.0 / math.sqrt(kw["fan_in"])
            arr = rng.uniform(-bound, bound, size=shape).astype(np.float32)
        self._add_initializer(name, arr)
        return name

    def kaiming(self, name: str, shape: Sequence[int], fan_in: int, x: str, *, reuse: bool = False) -> str:
        """Kaiming-normal weight for a layer reading ``x``: std = sqrt(1 / (fan_in * E[x^2]))."""
        std = math.sqrt(1.0 / (fan_in * self.m2(x)))
        return self.param(name, shape, "normal", std=std, reuse=reuse)

    def _add_initializer(self, name: str, arr: np.ndarray) -> None:
        self._init_index[name] = len(self._initializers)
        t = self._initializers.add()
        t.name = name
        t.data_type = _ONNX_DTYPE[arr.dtype]
        t.dims.extend(arr.shape)
        t.raw_data = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()

    # ------------------------------------------------------------------ blocks
    def conv(
        self,
        x: str,
        c_in: int,
        c_out: int,
        k: int | tuple[int, int],
        scope: str,
        pname: str,
        *,
        stride: int = 1,
        pad: int | None = None,
        group: int = 1,
        bias: bool = False,
        reuse: bool = False,
    ) -> str:
        """Conv2d(c_in, c_out, k, stride, padding=k//2 unless given, groups) [+ bias]."""
        kh, kw = (k, k) if isinstance(k, int) else k
        if pad is None:
            pad = kh // 2
        fan_in = (c_in // group) * kh * kw
        shared = reuse and f"{pname}.weight" in self._params
        w = self.kaiming(f"{pname}.weight", (c_out, c_in // group, kh, kw), fan_in, x, reuse=reuse)
        ins = [x, w]
        if bias:
            ins.append(self.param(f"{pname}.bias", (c_out,), "bias", fan_in=fan_in, reuse=reuse))
        y = self.node(
            "Conv",
            ins,
            scope,
            probe=not shared,
            dilations=[1, 1],
            group=group,
            kernel_shape=[kh, kw],
            pads=[pad, pad, pad, pad],
            strides=[stride, stride],
        )
        return self.set_m2(y, 1.0 + (self.m2(ins[2]) if bias else 0.0))

    def conv_transpose(self, x: str, c_in: int, c_out: int, k: int, scope: str, pname: str) -> str:
        """ConvTranspose2d(c_in, c_out, k, stride=k): no kernel overlap, so fan_in is c_in."""
        w = self.kaiming(f"{pname}.weight", (c_in, c_out, k, k), c_in, x)
        b = self.param(f"{pname}.bias", (c_out,), "bias", fan_in=c_out * k * k)
        y = self.node("ConvTranspose", [x, w, b], scope, dilations=[1, 1], group=1,
                      kernel_shape=[k, k], pads=[0, 0, 0, 0], strides=[k, k])
        return self.set_m2(y, 1.0 + self.m2(b))

    def bn(self, x: str, c: int, scope: str, pname: str, *, eps: float = 1e-5, momentum: float = 0.9) -> str:
        """BatchNormalization with gamma~U(.5,1.5), beta~N(0,.1), mean~N(0,.1), var~U(.5,1.5)."""
        gamma = self.param(f"{pname}.weight", (c,), "uniform", low=0.5, high=1.5)
        beta = self.param(f"{pname}.bias", (c,), "normal", std=0.1)
        mean = self.param(f"{pname}.running_mean", (c,), "normal", std=0.1)
        var = self.param(f"{pname}.running_var", (c,), "uniform", low=0.5, high=1.5)
        y = self.node(
            "BatchNormalization", [x, gamma, beta, mean, var], scope, epsilon=eps, momentum=momentum
        )
        return self.set_m2(y, BN_GAIN * (self.m2(x) + self.m2(mean)) + self.m2(beta))

    def relu(self, x: str, scope: str) -> str:
        return self.node("Relu", [x], scope)

    def relu6(self, x: str, scope: str) -> str:
        """ReLU6 as torch.onnx spells it at opset 17: Clip with Constant min/max inputs."""
        lo = self.const(np.float32(0.0), scope)
        hi = self.const(np.float32(6.0), scope)
        return self.node("Clip", [x, lo, hi], scope)

    def silu(self, x: str, scope: str) -> str:
        """SiLU as exporters emit it: x * Sigmoid(x)."""
        s = self.node("Sigmoid", [x], scope)
        return self.node("Mul", [x, s], scope)

    def gelu(self, x: str, scope: str) -> str:
        """Exact GELU as torch.onnx spells it at opset 17: x * 0.5 * (1 + erf(x / sqrt 2))."""
        d = self.node("Div", [x, self.const(np.float32(math.sqrt(2.0)), scope)], scope)
        e = self.node("Erf", [d], scope)
        a = self.node("Add", [e, self.const(np.float32(1.0), scope)], scope)
        m = self.node("Mul", [x, a], scope)
        y = self.node("Mul", [m, self.const(np.float32(0.5), scope)], scope)
        # E[gelu(x)^2] = m2 * (1/4 + (1/2pi) asin(m2/(1+m2)) + ...); ~0.425 m2 near m2 = 1
        return self.set_m2(y, 0.425 * self.m2(x))

    def gemm(self, x: str, c_in: int, c_out: int, scope: str, pname: str, *, outputs=None) -> str:
        """2-D nn.Linear as torch exports it: Gemm(transB=1) with a [out, in] weight."""
        w = self.kaiming(f"{pname}.weight", (c_out, c_in), c_in, x)
        b = self.param(f"{pname}.bias", (c_out,), "bias", fan_in=c_in)
        y = self.node("Gemm", [x, w, b], scope, outputs=outputs, alpha=1.0, beta=1.0, transB=1)
        return self.set_m2(y, 1.0 + self.m2(b))

    def linear(self, x: str, c_in: int, c_out: int, scope: str, pname: str) -> str:
        """N-d nn.Linear as torch exports it: MatMul with a pre-transposed [in, out] weight, Add(bias)."""
        w = self.kaiming(f"{pname}.weight", (c_in, c_out), c_in, x)
        b = self.param(f"{pname}.bias", (c_out,), "bias", fan_in=c_in)
        y = self.set_m2(self.node("MatMul", [x, w], scope), 1.0)
        return self.node("Add", [b, y], scope)

    def layernorm(self, x: str, c: int, scope: str, pname: str, *, eps: float) -> str:
        """LayerNormalization over the last axis (opset 17), gamma~U(.8,1.2), beta~N(0,.02)."""
        g = self.param(f"{pname}.weight", (c,), "uniform", low=0.8, high=1.2)
        b = self.param(f"{pname}.bias", (c,), "normal", std=0.02)
        y = self.node("LayerNormalization", [x, g, b], scope, axis=-1, epsilon=eps)
        return self.set_m2(y, self.m2(g) + self.m2(b))

    def reshape(self, x: str, shape: Sequence[int], scope: str) -> str:
        return self.node("Reshape", [x, self.const(np.asarray(shape, dtype=np.int64), scope)], scope)

    def resize_nearest(self, x: str, scope: str, *, scales=None, sizes=None) -> str:
        """torch F.interpolate(mode="nearest") as exported at opset 17 (by scale or by size)."""
        if scales is not None:
            ins = [x, "", self.const(np.asarray(scales, dtype=np.float32), scope)]
        else:
            ins = [x, "", "", self.const(np.asarray(sizes, dtype=np.int64), scope)]
        y = self.node(
            "Resize",
            ins,
            scope,
            coordinate_transformation_mode="asymmetric",
            cubic_coeff_a=-0.75,
            mode="nearest",
            nearest_mode="floor",
        )
        return self.set_m2(y, self.m2(x))

    # ------------------------------------------------------------------ assembly
    def _output_infos(self) -> list[onnx.ValueInfoProto]:
        """Infer output types/shapes on a data-free skeleton (weights as typed graph inputs)."""
        param_inputs, inits = [], []
        for t in self._initializers:
            if self.light:
                inits.append(t)  # tiny int64 shapes that ConstantOfShape needs as data
            else:
                param_inputs.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
        graph = helper.make_graph(
            self._weight_nodes + self._nodes,
            self.name,
            list(self._inputs) + param_inputs,
            [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in self._outputs],
            initializer=inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = IR_VERSION
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        known = {vi.name: vi for vi in list(inferred.graph.value_info) + list(inferred.graph.output)}
        infos = []
        for o in self._outputs:
            t = known[o].type.tensor_type
            infos.append(helper.make_tensor_value_info(o, t.elem_type, [d.dim_value for d in t.shape.dim]))
        return infos

    def build(self, doc: str = "") -> onnx.ModelProto:
        """Assemble the model (call once): weight nodes first, then the nodes in build order."""
        outputs = self._output_infos()
        model = self._model
        model.ir_version = IR_VERSION
        model.producer_name = "npusim.zoo"
        model.doc_string = doc
        model.opset_import.append(helper.make_opsetid("", OPSET))
        graph = model.graph
        graph.name = self.name
        graph.node.extend(self._weight_nodes + self._nodes)
        graph.input.extend(self._inputs)
        graph.output.extend(outputs)
        return model
