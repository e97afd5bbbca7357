"""Float ops that sit between a DequantizeLinear and a QuantizeLinear in quantized models (the
"float islands"), computed as onnxruntime's CPU kernels compute them, so the Q that follows
sees the same float32 bits; `NOT_BIT_EXACT` names the ones that are not reproduced exactly."""

from __future__ import annotations

import numba
import numpy as np

from npusim.numerics.kernels.fma import fma32_native
from npusim.numerics.kernels.mlas import erf, tanh
from npusim.numerics.ops import kernel

# op type -> why npusim's float32 result can differ from onnxruntime's (by a few ulps)
NOT_BIT_EXACT = {
    "LayerNormalization": "onnxruntime 1.32's inverse standard deviation is not reproduced: "
                          "mean and output match, 1/sqrt(var + eps) differs by 1 ulp on ~1/6 "
                          "of the rows (measured at D = 192)",
    "Softmax": "float Softmax (MlasComputeSoftmax: MLAS exp, vectorized sum) is computed with "
               "numpy exp; a QDQ Softmax fuses to QLinearSoftmax, which is exact",
    "ReduceMean": "onnxruntime's Eigen reduction order is not reproduced (numpy pairwise)",
    "Conv": "a float Conv island (a layer left outside Q/DQ) runs numpy's float32 GEMM; "
            "onnxruntime's MLAS sgemm sums in another order (a few ulps apart)",
    "Gemm": "a float Gemm island runs numpy's float32 GEMM; MLAS sgemm sums in another order",
    "MatMul": "a float MatMul island runs numpy's float32 GEMM; MLAS sgemm sums in another "
              "order",
    "Resize": "linear / cubic modes run through onnx.reference (float64 coordinate "
              "arithmetic); onnxruntime computes interpolation weights in float32 (nearest "
              "mode copies values and is exact)",
}


_MLAS = {"Erf": erf, "Tanh": tanh}


@kernel(*_MLAS)
def mlas_unary(node, inputs, ctx):
    """float32: MlasComputeErf / MlasComputeTanh bit for bit; other dtypes through float32."""
    x = inputs[0]
    y = _MLAS[node.op_type](x)
    return [y if x.dtype == np.float32 else y.astype(x.dtype)]


@numba.njit(cache=True)
def _layer_norm_rows(x, scale, bias, eps, out):
    """Per row: float64 sums of x and x^2, mean and variance rounded to float32, inverse
    standard deviation in float32, y = fma((x - mean) * inv, scale, bias)."""
    n, d = x.shape
    for r in range(n):
        s = 0.0
        q = 0.0
        for h in range(d):
            v = np.float64(x[r, h])
            s += v
            q += v * v
        mean64 = s / d
        mean = np.float32(mean64)
        var = np.float32(np.float32(q / d - mean64 * mean64) + eps)
        inv = np.float32(np.float32(1.0) / np.float32(np.sqrt(var)))
        for h in range(d):
            t = np.float32(np.float32(x[r, h] - mean) * inv)
            out[r, h] = fma32_native(t, scale[h], bias[h])


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
    _layer_norm_rows(rows, s, b, np.float32(node.attr("epsilon", 1e-5)), out)
    return [out.reshape(x.shape)]
