"""Float ops that sit between a DequantizeLinear and a QuantizeLinear in quantized models (the
"float islands"), computed as onnxruntime's CPU kernels compute them, so the Q that follows
sees the same float32 bits; `island_reason` names the ones that are not reproduced exactly."""

from __future__ import annotations

import numba
import numpy as np

from npusim.ir import Graph, Node
from npusim.numerics.kernels import sgemm
from npusim.numerics.kernels.conv import conv_geometry
from npusim.numerics.kernels.fma import fma32_native
from npusim.numerics.kernels.mlas import HOST_MLAS, erf, tanh
from npusim.numerics.ops import kernel
from npusim.numerics.ops.floating import conv_transpose_by_reference

# op type -> why npusim's float32 result can differ from onnxruntime's (by a few ulps)
NOT_BIT_EXACT = {
    "Resize": "linear / cubic modes run through onnx.reference (float64 coordinate "
              "arithmetic); onnxruntime computes interpolation weights in float32 (nearest "
              "mode copies values and is exact)",
}


_HOST = ("the host CPU has neither AVX-512F nor AVX2 + FMA3, the MLAS kernel sets whose "
         "summation order npusim reproduces for a float {op} (checked against onnxruntime); "
         "numpy sums in another order (a few ulps apart)")
_SUM_FUSION = ("onnxruntime may fold the float Add after this float {op} into it (the NCHWc sum "
               "fusion, MatMulAddFusion), adding the other operand first; npusim adds it after")
_RUNTIME_B = ("this float {op} multiplies two runtime tensors: MLAS then sums K in strides that "
              "follow its thread split of N (K > 128), or takes its GEMV kernel (one row); "
              "npusim sums K in strides of 256")
_REQUANTIZED = ("onnxruntime's default session quantizes this float {op}'s constant weight "
                "itself (WeightBiasQuantization: DQ -> {op} -> Q becomes a per-tensor int8 "
                "kernel); npusim keeps the layer in float, as the map and TensorRT do. Compare "
                "with onnxruntime under disabled_optimizers=['WeightBiasQuantization']")


def island_reason(graph: Graph, node: Node) -> str | None:
    """Why npusim's float32 result of `node` may differ from onnxruntime's default session
    (None: bit for bit). Conv, Gemm, MatMul and Softmax follow MLAS on an AVX-512F or an
    AVX2 + FMA3 host, where `kernels.sgemm` / `kernels.mlas` know its order for that kernel
    set (tests/numerics/test_sgemm.py), and so does LayerNormalization (`_layer_norm_rows`:
    onnxruntime runs its AVX2 code on both)."""
    if node.op_type in NOT_BIT_EXACT:
        return NOT_BIT_EXACT[node.op_type]
    if node.op_type in ("ReduceSum", "ReduceMean"):
        return _reduce_reason(graph, node)
    if node.op_type not in ("Conv", "ConvTranspose", "Gemm", "MatMul", "Softmax",
                            "LayerNormalization"):
        return None
    if HOST_MLAS is None:
        return _HOST.format(op=node.op_type)
    if node.op_type == "ConvTranspose":
        # one MlasGemm of W^T by the input (computed at run time) per group, then col2im
        w = graph.tensor(node.inputs[1]).shape
        if conv_transpose_by_reference(node, len(w)):
            return ("this float ConvTranspose (not 2-D, or with output_shape / auto_pad) runs "
                    "through onnx.reference's float64 col2im, not MLAS's GEMM order")
        if w[0] // node.attr("group", 1) > sgemm.RUNTIME_B_STRIDE_K:
            return _RUNTIME_B.format(op=node.op_type)
        return None
    if node.op_type in ("Softmax", "LayerNormalization"):
        # MlasComputeSumExpF32KernelAvx512F / ...Fma3 (a QDQ Softmax is QLinearSoftmax);
        # onnxruntime's LayerNormalization kernel as `_layer_norm_rows` computes it
        return None
    if node.op_type == "Conv":
        x, w = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1])
        _, pads, _ = conv_geometry(x.shape, w.shape, strides=node.attr("strides"),
                                   pads=node.attr("pads"), dilations=node.attr("dilations"),
                                   auto_pad=node.attr("auto_pad", "NOTSET"))
        chunk = sgemm.conv_chunk(x.shape, w.shape, node.attr("group", 1), pads)
        if chunk is None or not foldable(graph, node.inputs[1]):
            return ("onnxruntime leaves this float Conv to MlasConv (not rewritten to NCHWc: "
                    "1-D / 3-D, a runtime weight, or grouped with channels off the block), "
                    "whose K split depends on its thread segments; npusim sums it in NCHWc "
                    "order")
    if node.op_type in ("Gemm", "MatMul") and not foldable(graph, node.inputs[1]):
        a = graph.tensor(node.inputs[0]).shape
        trans_a = node.op_type == "Gemm" and node.attr("transA", 0)
        k = a[-2] if trans_a else a[-1]
        rows = 1 if len(a) < 2 else (a[-1] if trans_a else a[-2])
        if k > sgemm.RUNTIME_B_STRIDE_K or rows == 1:
            return _RUNTIME_B.format(op=node.op_type)
    consumers = graph.consumers(node.outputs[0])
    if node.op_type != "Gemm" and any(c.op_type == "Add" for c in consumers):
        return _SUM_FUSION.format(op=node.op_type)
    producer = graph.producer(node.inputs[0])
    if (graph.tensor(node.inputs[1]).is_constant and producer is not None
            and producer.op_type == "DequantizeLinear" and _feeds_only_q(graph, node)):
        return _REQUANTIZED.format(op=node.op_type)
    return None


def _reduce_reason(graph: Graph, node: Node) -> str | None:
    """A float sum or mean is bit for bit unless onnxruntime takes its GEMM path (`reduce`)."""
    from npusim.numerics.ops.reduce import reduced_axes, unreproduced
    shape = graph.tensor(node.inputs[0]).shape
    axes_input = (graph.tensor(node.inputs[1]).data if len(node.inputs) > 1 and node.inputs[1]
                  and graph.tensor(node.inputs[1]).is_constant else None)
    axes = reduced_axes(node, shape, axes_input)
    if axes is None:
        return ("the axes of this float reduction are computed at run time; npusim sums in "
                "numpy's order, onnxruntime by the pattern of the axes")
    return unreproduced(shape, axes) if axes else None


def foldable(graph: Graph, tensor: str) -> bool:
    """A constant, or a DequantizeLinear of constants: onnxruntime folds it into an
    initializer before choosing kernels (a dequantized weight packs, and NCHWc applies)."""
    if graph.tensor(tensor).is_constant:
        return True
    p = graph.producer(tensor)
    return p is not None and p.op_type == "DequantizeLinear" and all(
        graph.tensor(t).is_constant for t in p.inputs if t)


def _feeds_only_q(graph: Graph, node: Node) -> bool:
    """Every path from `node`'s output reaches a QuantizeLinear at once or through one Relu /
    Clip (the activation onnxruntime fuses into the quantized kernel)."""
    consumers = graph.consumers(node.outputs[0])
    return bool(consumers) and all(
        c.op_type == "QuantizeLinear"
        or (c.op_type in ("Relu", "Clip") and all(
            q.op_type == "QuantizeLinear" for q in graph.consumers(c.outputs[0])))
        for c in consumers)


_MLAS = {"Erf": erf, "Tanh": tanh}


@kernel(*_MLAS)
def mlas_unary(node, inputs, ctx):
    """float32: MlasComputeErf / MlasComputeTanh bit for bit; other dtypes through float32."""
    x = inputs[0]
    y = _MLAS[node.op_type](x)
    return [y if x.dtype == np.float32 else y.astype(x.dtype)]


@numba.njit(cache=True)
def _layer_norm_rows(x, scale, bias, has_bias, eps, out):
    """onnxruntime 1.32's float32 LayerNormalization kernel (its AVX2 code, read off the
    disassembly on an AVX-512F host; an AVX2 + FMA3 host runs the same code), per row of
    length D:
    - mean: four float64 lanes (lane j sums x[4i + j]), reduced (l0 + l2) + (l1 + l3), the
      last D % 4 values added in turn, divided by D in float64, rounded to float32;
    - variance: d = x - mean in float32; eight float32 lanes of fma(d, d, lane), reduced
      ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)); of the last D % 8 values, four
      squared and added in turn when there are four or more, the rest by fma; / D, + eps;
    - inv = 1 / sqrt(var) in float32; y = fma((x - mean) * inv, scale, bias), or
      ((x - mean) * inv) * scale without a bias."""
    n, d = x.shape
    if d < 8:
        _layer_norm_rows_short(x, scale, bias, has_bias, eps, out)
        return
    for r in range(n):
        lanes = np.zeros(4, np.float64)
        whole = d // 4 * 4
        for h in range(whole):
            lanes[h % 4] += np.float64(x[r, h])
        s = (lanes[0] + lanes[2]) + (lanes[1] + lanes[3])
        for h in range(whole, d):
            s += np.float64(x[r, h])
        mean = np.float32(s / d)
        sq = np.zeros(8, np.float32)
        whole = d // 8 * 8
        for h in range(whole):
            t = np.float32(x[r, h] - mean)
            sq[h % 8] = fma32_native(t, t, sq[h % 8])
        b = np.zeros(4, np.float32)
        for j in range(4):
            b[j] = np.float32(sq[j + 4] + sq[j])
        acc = np.float32(np.float32(b[0] + b[2]) + np.float32(b[1] + b[3]))
        h = whole
        if d - whole >= 4:
            for _ in range(4):
                t = np.float32(x[r, h] - mean)
                acc = np.float32(acc + np.float32(t * t))
                h += 1
        while h < d:
            t = np.float32(x[r, h] - mean)
            acc = fma32_native(t, t, acc)
            h += 1
        var = np.float32(np.float32(acc / np.float32(d)) + eps)
        inv = np.float32(np.float32(1.0) / np.float32(np.sqrt(var)))
        for h in range(d):
            t = np.float32(np.float32(x[r, h] - mean) * inv)
            out[r, h] = (fma32_native(t, scale[h], bias[h]) if has_bias
                         else np.float32(t * scale[h]))


@numba.njit(cache=True)
def _layer_norm_rows_short(x, scale, bias, has_bias, eps, out):
    """onnxruntime 1.32's kernel for rows shorter than eight (its scalar SSE code): Welford's
    running mean and sum of squares in float32, std = sqrt(m2 / D + eps),
    y = ((x - mean) / std) * scale + bias, each step rounded to float32."""
    n, d = x.shape
    for r in range(n):
        mean = np.float32(0.0)
        m2 = np.float32(0.0)
        for h in range(d):
            v = x[r, h]
            delta = np.float32(v - mean)
            mean = np.float32(mean + np.float32(delta / np.float32(h + 1)))
            m2 = np.float32(m2 + np.float32(np.float32(v - mean) * delta))
        std = np.float32(np.sqrt(np.float32(np.float32(m2 / np.float32(d)) + eps)))
        for h in range(d):
            t = np.float32(np.float32(np.float32(x[r, h] - mean) / std) * scale[h])
            out[r, h] = np.float32(t + bias[h]) if has_bias else t


@kernel("LayerNormalization")
def layer_norm(node, inputs, ctx):
    """LayerNormalization (Y only) over the trailing axes from `axis`; see NOT_BIT_EXACT."""
    from npusim.numerics.ops.floating import reference_kernel
    x, scale = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    if x.dtype != np.float32 or any(o for o in node.outputs[1:]) or node.attr("stash_type", 1) != 1:
        return reference_kernel(node, inputs, ctx)
    axis = node.attr("axis", -1) % x.ndim
    d = int(np.prod(x.shape[axis:]))
    rows = np.ascontiguousarray(x).reshape(-1, d)
    s = np.ascontiguousarray(np.broadcast_to(scale, x.shape[axis:]), np.float32).reshape(-1)
    b = (np.zeros(d, np.float32) if bias is None
         else np.ascontiguousarray(np.broadcast_to(bias, x.shape[axis:]), np.float32).reshape(-1))
    out = np.empty(rows.shape, np.float32)
    _layer_norm_rows(rows, s, b, bias is not None, np.float32(node.attr("epsilon", 1e-5)), out)
    return [out.reshape(x.shape)]
