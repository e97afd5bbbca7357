"""Float kernels (float32 reference, fp16 with either accumulation): convolution, matmul,
activations, pooling and shape ops; any other op runs through onnx.reference."""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import helper, numpy_helper

from npusim.errors import UnsupportedOpError
from npusim.numerics.kernels import sgemm
from npusim.numerics.kernels.conv import conv, conv_geometry, pad_spatial, windows
from npusim.numerics.kernels.dot import matmul_for
from npusim.numerics.kernels.mlas import logistic
from npusim.numerics.kernels.mlas import softmax as mlas_softmax
from npusim.numerics.ops import kernel
from npusim.numerics.ops.context import Context


def _float_dtype(*arrays):
    dt = np.result_type(*[a.dtype for a in arrays if a is not None])
    return dt if dt.kind == "f" else np.dtype(np.float32)


def _mlas_order(ctx: Context) -> bool:
    """float32 Conv / Gemm / MatMul / Softmax in onnxruntime's MLAS order (not numpy's)."""
    return sgemm.BLOCK is not None and ctx.settings.float_order == "mlas"


@kernel("Conv")
def conv_float(node, inputs, ctx: Context):
    x, w = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    dt = _float_dtype(x, w)
    group = node.attr("group", 1)
    if dt == np.float32 and x.ndim == 4 and _mlas_order(ctx):
        strides, pads, dilations = conv_geometry(
            x.shape, w.shape, strides=node.attr("strides"), pads=node.attr("pads"),
            dilations=node.attr("dilations"), auto_pad=node.attr("auto_pad", "NOTSET"))
        chunk = sgemm.conv_chunk(x.shape, w.shape, group, pads)
        if chunk is not None:  # onnxruntime's NCHWc kernels, bit for bit
            return [sgemm.conv2d(x, w, b, strides=strides, pads=pads, dilations=dilations,
                                 group=group, chunk=chunk)]
    depthwise = group == x.shape[1] == w.shape[0] and w.shape[1] == 1
    compute = dt
    if dt == np.float16 and depthwise and ctx.settings.accumulate == "fp32":
        compute = np.dtype(np.float32)
    y = conv(x, w, group=group, strides=node.attr("strides"), pads=node.attr("pads"),
             dilations=node.attr("dilations"), auto_pad=node.attr("auto_pad", "NOTSET"),
             dtype=compute, matmul=matmul_for(dt, ctx.settings.accumulate)).astype(dt)
    if b is not None:
        y = (y + b.astype(dt).reshape((1, -1) + (1,) * (y.ndim - 2))).astype(dt)
    return [y]


def conv_transpose_by_reference(node, rank: int) -> bool:
    """Whether a ConvTranspose of this rank runs through onnx.reference (not 2-D, or with
    `output_shape` / `auto_pad` SAME_*), not `conv_transpose_float`'s GEMM + col2im."""
    return (rank != 4 or node.attr("output_shape") is not None
            or node.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID"))


@kernel("ConvTranspose")
def conv_transpose_float(node, inputs, ctx: Context):
    """2-D ConvTranspose as a GEMM and a col2im, per group: W^T x gives every input position's
    kh x kw x C_out contributions, added into the output tap by tap (onnx.reference's
    naive col2im takes minutes on a detector's upsampling head). Other ranks and
    `output_shape` / `auto_pad` go to onnx.reference."""
    x, w = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    if conv_transpose_by_reference(node, x.ndim):
        return reference_kernel(node, inputs, ctx)
    dt = _float_dtype(x, w)
    g = int(node.attr("group", 1) or 1)
    n, c_in, h, wd = x.shape
    c_out_g, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    sh, sw = tuple(node.attr("strides") or (1, 1))
    dh, dw = tuple(node.attr("dilations") or (1, 1))
    pt, pl, pb, pr = tuple(node.attr("pads") or (0, 0, 0, 0))
    oph, opw = tuple(node.attr("output_padding") or (0, 0))
    full_h = sh * (h - 1) + oph + (kh - 1) * dh + 1
    full_w = sw * (wd - 1) + opw + (kw - 1) * dw + 1
    # fp16 with fp32 accumulation (the default) sums in float32 and rounds once at the end
    acc = np.dtype(np.float32) if dt == np.float16 and ctx.settings.accumulate == "fp32" else dt
    y = np.zeros((n, g * c_out_g, full_h, full_w), acc)
    mm = matmul_for(acc, ctx.settings.accumulate)
    c_in_g = c_in // g
    for gi in range(g):
        xg = x[:, gi * c_in_g:(gi + 1) * c_in_g].reshape(n, c_in_g, h * wd).astype(acc)
        wg = w[gi * c_in_g:(gi + 1) * c_in_g].reshape(c_in_g, c_out_g * kh * kw).astype(acc)
        wt = np.ascontiguousarray(wg.T)
        if acc == np.float32 and _mlas_order(ctx):  # MlasGemm's order (W^T packed)
            cols = np.stack([sgemm.gemm(wt, xg[i]) for i in range(n)])
        else:
            cols = mm(wt, xg).astype(acc)
        cols = cols.reshape(n, c_out_g, kh, kw, h, wd)
        out = y[:, gi * c_out_g:(gi + 1) * c_out_g]
        for i in range(kh):
            for j in range(kw):
                out[:, :, i * dh:i * dh + sh * (h - 1) + 1:sh,
                    j * dw:j * dw + sw * (wd - 1) + 1:sw] += cols[:, :, i, j]
    y = y[:, :, pt:full_h - pb, pl:full_w - pr]
    if b is not None:
        y = y + b.astype(acc).reshape(1, -1, 1, 1)
    return [np.ascontiguousarray(y.astype(dt))]


@kernel("MatMul")
def matmul_float(node, inputs, ctx: Context):
    a, b = inputs
    dt = _float_dtype(a, b)
    if dt == np.float32 and _mlas_order(ctx):  # MlasGemm's order, bit for bit
        return [sgemm.matmul(a, b)]
    return [matmul_for(dt, ctx.settings.accumulate)(a.astype(dt), b.astype(dt)).astype(dt)]


@kernel("Gemm")
def gemm_float(node, inputs, ctx: Context):
    a, b = inputs[0], inputs[1]
    c = inputs[2] if len(inputs) > 2 else None
    dt = _float_dtype(a, b)
    if node.attr("transA", 0):
        a = a.T
    if node.attr("transB", 0):
        b = b.T
    alpha, beta = node.attr("alpha", 1.0), node.attr("beta", 1.0)
    if dt == np.float32 and _mlas_order(ctx):  # MlasGemm's order, bit for bit
        return [sgemm.gemm(a, b, c, alpha, beta)]
    y = matmul_for(dt, ctx.settings.accumulate)(a.astype(dt), b.astype(dt)).astype(dt)
    if alpha != 1.0:
        y = (y * dt.type(alpha)).astype(dt)
    if c is not None and beta != 0:
        cc = c.astype(dt) if beta == 1.0 else (c.astype(dt) * dt.type(beta)).astype(dt)
        y = (y + cc).astype(dt)
    return [y]


_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide,
           "Max": np.maximum, "Min": np.minimum, "Pow": np.power}


@kernel(*_BINARY)
def binary(node, inputs, ctx: Context):
    fn = _BINARY[node.op_type]
    if node.op_type in ("Max", "Min"):
        out = inputs[0]
        for v in inputs[1:]:
            out = fn(out, v)
        return [out]
    a, b = inputs
    if node.op_type == "Div" and a.dtype.kind in "iu":
        return [np.trunc(a / b).astype(a.dtype)]
    # IEEE results (x / 0 = inf, 0 / 0 = NaN, overflow to inf) are the semantics, not news
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return [fn(a, b).astype(np.result_type(a, b))]


@kernel("Relu")
def relu(node, inputs, ctx):
    x = inputs[0]
    return [np.maximum(x, x.dtype.type(0))]


@kernel("Clip")
def clip(node, inputs, ctx):
    x = inputs[0]
    lo = inputs[1] if len(inputs) > 1 and inputs[1] is not None else None
    hi = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    if lo is not None:
        x = np.maximum(x, lo.astype(x.dtype))
    if hi is not None:
        x = np.minimum(x, hi.astype(x.dtype))
    return [x]


@kernel("LeakyRelu")
def leaky_relu(node, inputs, ctx):
    x = inputs[0]
    alpha = x.dtype.type(node.attr("alpha", 0.01))
    return [np.where(x >= 0, x, (x * alpha).astype(x.dtype))]


@kernel("Sigmoid")
def sigmoid(node, inputs, ctx):
    """float32: onnxruntime's MlasComputeLogistic, bit for bit; other dtypes: 1 / (1 + e^-x)."""
    x = inputs[0]
    if x.dtype == np.float32:
        return [logistic(x)]
    with np.errstate(over="ignore"):
        return [(1.0 / (1.0 + np.exp(-x.astype(np.float32)))).astype(x.dtype)]


@kernel("Identity", "Dropout")
def identity(node, inputs, ctx):
    return [inputs[0]]


@kernel("Flatten")
def flatten(node, inputs, ctx):
    x = inputs[0]
    axis = node.attr("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis  # axis == ndim is allowed: (N, 1)
    return [x.reshape(math.prod(x.shape[:axis]), -1)]


@kernel("Reshape")
def reshape(node, inputs, ctx):
    x, shape = inputs
    shape = [int(d) for d in shape]
    if not node.attr("allowzero", 0):
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return [x.reshape(shape)]


@kernel("Transpose")
def transpose(node, inputs, ctx):
    perm = node.attr("perm")
    return [np.transpose(inputs[0], perm)]


@kernel("Squeeze")
def squeeze(node, inputs, ctx):
    axes = inputs[1] if len(inputs) > 1 and inputs[1] is not None else None
    return [np.squeeze(inputs[0], axis=None if axes is None else tuple(int(a) for a in axes))]


@kernel("Unsqueeze")
def unsqueeze(node, inputs, ctx):
    return [np.expand_dims(inputs[0], tuple(int(a) for a in inputs[1]))]


@kernel("Concat")
def concat(node, inputs, ctx):
    return [np.concatenate([v for v in inputs if v is not None], axis=node.attr("axis"))]


@kernel("Softmax")
def softmax(node, inputs, ctx):
    x = inputs[0]
    axis = node.attr("axis", -1)
    if x.dtype == np.float32 and _mlas_order(ctx):  # MlasComputeSoftmax, bit for bit
        return [mlas_softmax(x, axis)]
    x32 = x.astype(np.float32)
    e = np.exp(x32 - x32.max(axis=axis, keepdims=True))
    return [(e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)]


@kernel("BatchNormalization")
def batch_norm(node, inputs, ctx):
    x, g, b, mean, var = inputs[:5]
    shape = (1, -1) + (1,) * (x.ndim - 2)
    eps = np.float32(node.attr("epsilon", 1e-5))
    scale = g.astype(np.float32) / np.sqrt(var.astype(np.float32) + eps)
    y = (x.astype(np.float32) - mean.astype(np.float32).reshape(shape)) * scale.reshape(shape)
    return [(y + b.astype(np.float32).reshape(shape)).astype(x.dtype)]


def _pool_geometry(node, x):
    kernel_shape = tuple(node.attr("kernel_shape"))
    fake_w = (1, 1, *kernel_shape)
    strides, pads, dilations = conv_geometry(x.shape, fake_w, strides=node.attr("strides"),
                                             pads=node.attr("pads"),
                                             dilations=node.attr("dilations"),
                                             auto_pad=node.attr("auto_pad", "NOTSET"))
    pads = list(pads)
    spatial = len(kernel_shape)
    if node.attr("ceil_mode", 0):
        for i in range(spatial):
            n = x.shape[2 + i] + pads[i] + pads[i + spatial]
            span = (kernel_shape[i] - 1) * dilations[i] + 1
            out = math.ceil((n - span) / strides[i]) + 1
            # the last window must start inside the input or the begin padding
            if (out - 1) * strides[i] >= x.shape[2 + i] + pads[i]:
                out -= 1
            extra = max((out - 1) * strides[i] + span - n, 0)
            pads[i + spatial] += extra
    return kernel_shape, strides, tuple(pads), dilations


@kernel("MaxPool")
def max_pool(node, inputs, ctx):
    x = inputs[0]
    if len(node.outputs) > 1 and node.outputs[1]:
        raise UnsupportedOpError(f"MaxPool node '{node.name}': the Indices output is not "
                                 "supported by the numerics executor")
    kernel_shape, strides, pads, dilations = _pool_geometry(node, x)
    if x.ndim == 4 and x.dtype.kind in "iu":
        return [_max_pool_int_2d(x, kernel_shape, strides, pads, dilations)]
    low = np.iinfo(x.dtype).min if x.dtype.kind in "iu" else -np.inf
    xp = pad_spatial(x, pads, value=low)
    win = windows(xp, kernel_shape, strides, dilations)
    axes = tuple(range(win.ndim - len(kernel_shape), win.ndim))
    return [win.max(axis=axes).astype(x.dtype)]


def _max_pool_int_2d(x, kernel_shape, strides, pads, dilations):
    """Integer 2-D MaxPool in numba over channels-last memory; returns an NCHW view of
    channels-last memory, as the integer convolutions do (same values as the padded path)."""
    from npusim.numerics.kernels.int8conv import nhwc
    from npusim.numerics.kernels.qconv import max_pool_nhwc
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_shape, strides, dilations
    out_h = (h + pads[0] + pads[2] - ((kh - 1) * dh + 1)) // sh + 1
    out_w = (w + pads[1] + pads[3] - ((kw - 1) * dw + 1)) // sw + 1
    y = np.empty((n, max(out_h, 0), max(out_w, 0), c), x.dtype)
    if y.size:
        max_pool_nhwc(nhwc(x), kh, kw, sh, sw, dh, dw, pads[0], pads[1],
                      x.dtype.type(np.iinfo(x.dtype).min), y)
    return y.transpose(0, 3, 1, 2)


@kernel("AveragePool")
def average_pool(node, inputs, ctx):
    x = inputs[0]
    kernel_shape, strides, pads, dilations = _pool_geometry(node, x)
    base = list(node.attr("pads") or [0] * (2 * len(kernel_shape)))
    axes = tuple(range(2 + len(kernel_shape), 2 + 2 * len(kernel_shape)))
    xp = pad_spatial(x.astype(np.float32), pads)
    total = windows(xp, kernel_shape, strides, dilations).sum(axis=axes)
    if node.attr("count_include_pad", 0):
        # explicit pads count, padding added by ceil_mode does not
        mask = np.ones((1, 1, *(x.shape[2 + i] + base[i] + base[i + len(kernel_shape)]
                                for i in range(len(kernel_shape)))), np.float32)
        mask = pad_spatial(mask, [p - q for p, q in zip(pads, base)])
    else:
        mask = pad_spatial(np.ones((1, 1, *x.shape[2:]), np.float32), pads)
    count = windows(mask, kernel_shape, strides, dilations).sum(axis=axes)
    return [(total / count).astype(x.dtype)]


@kernel("GlobalAveragePool")
def global_average_pool(node, inputs, ctx):
    x = inputs[0]
    axes = tuple(range(2, x.ndim))
    return [x.astype(np.float32).mean(axis=axes, keepdims=True).astype(x.dtype)]


@kernel("GlobalMaxPool")
def global_max_pool(node, inputs, ctx):
    x = inputs[0]
    return [x.max(axis=tuple(range(2, x.ndim)), keepdims=True)]


_REFERENCE_CACHE: dict[int, object] = {}


def reference_kernel(node, inputs, ctx):
    """Run one node through onnx.reference (ops npusim has no fast kernel for)."""
    from onnx.reference import ReferenceEvaluator
    attrs = {}
    for k, v in node.attrs.items():
        if k.startswith("_"):
            continue
        attrs[k] = numpy_helper.from_array(v) if isinstance(v, np.ndarray) else v
    proto = helper.make_node(node.op_type, list(node.inputs), list(node.outputs),
                             name=node.name, domain=node.domain or None, **attrs)
    try:
        ev = ReferenceEvaluator(proto, opsets={"": 21})
        feeds = {n: v for n, v in zip(node.inputs, inputs) if n}
        # float overflow inside a reference kernel is IEEE's +-inf (its LSTM's 1 / (1 +
        # exp(-x)) saturates to 0), not something to warn the user about
        with np.errstate(over="ignore", under="ignore"):
            out = ev.run(None, feeds)
    except (NotImplementedError, onnx.reference.op_run.RuntimeContextError, KeyError,
            TypeError) as e:
        raise UnsupportedOpError(f"op '{node.op_type}' at node '{node.name}' has no numerics "
                                 f"kernel and onnx.reference could not run it: {e}") from None
    return [np.asarray(o) for o in out]


@kernel("GatherElements")
def gather_elements(node, inputs, ctx):
    """np.take_along_axis (onnx.reference's np.choose refuses an axis longer than 64)."""
    data, index = inputs
    axis = node.attr("axis", 0)
    index = np.where(index < 0, index + data.shape[axis], index)
    return [np.take_along_axis(data, index.astype(np.int64), axis=axis)]
