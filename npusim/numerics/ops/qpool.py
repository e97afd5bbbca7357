"""QLinearGlobalAveragePool and QLinearAveragePool as onnxruntime computes them (integer sum
and one scale for the global pool; float windows, then y / s + zp rounded, for the pool)."""

from __future__ import annotations

import numba
import numpy as np

from npusim.errors import UnsupportedOpError
from npusim.numerics.ops import kernel
from npusim.numerics.ops.context import Context
from npusim.numerics.ops.qcommon import clamp_output, out_range, scalar_f32, scalar_i32
from npusim.numerics.quant import dequantize
from npusim.numerics.requant import requantize


@kernel("QLinearGlobalAveragePool")
def qlinear_global_average_pool(node, inputs, ctx: Context):
    """Integer sum per channel, then scale = s_in / (s_out * image_size) (MLAS)."""
    x, sx, zx, sy, zy = inputs[:5]
    channels_last = node.attr("channels_last", 0)
    axes = tuple(range(1, x.ndim - 1)) if channels_last else tuple(range(2, x.ndim))
    size = int(np.prod([x.shape[i] for i in axes]))
    acc = x.astype(np.int64).sum(axis=axes, keepdims=True) - scalar_i32(zx) * size
    if ctx.settings.scheme == "ort":
        scale = np.float32(scalar_f32(sx) / np.float32(scalar_f32(sy) * np.float32(size)))
        v = np.rint((acc.astype(np.float32) * scale).astype(np.float32)).astype(np.int64)
        v = v + scalar_i32(zy)
        return [clamp_output(node, ctx, v, zy.dtype, zy)]
    r = requantize(acc, np.float32(scalar_f32(sx) / np.float32(size)), np.float32(1), sy, zy,
                   zy.dtype, channel_axis=1, scheme=ctx.settings.scheme, npu=ctx.settings.npu,
                   clamp=node.attr("_clamp"))
    ctx.record_saturation(node, r.saturated, acc.size)
    return [r.values]


@numba.njit(cache=True)
def _average_pool_2d(xf, kh, kw, sh, sw, ph, pw, include_pad, y_scale, zp, lo, hi, out):
    """QLinearPool2DTask: per window a sequential float32 sum (rows, then columns) over the
    in-image part, divided by its size (or the kernel's), then rne(y / s + zp), clamped."""
    n, c, h, w = xf.shape
    out_h, out_w = out.shape[2], out.shape[3]
    for b in range(n):
        for ch in range(c):
            for oh in range(out_h):
                h0 = oh * sh - ph
                h1 = min(h0 + kh, h)
                h0 = max(h0, 0)
                for ow in range(out_w):
                    w0 = ow * sw - pw
                    w1 = min(w0 + kw, w)
                    w0 = max(w0, 0)
                    s = np.float32(0.0)
                    for i in range(h0, h1):
                        for j in range(w0, w1):
                            s += xf[b, ch, i, j]
                    count = kh * kw if include_pad else (h1 - h0) * (w1 - w0)
                    s = np.float32(s / np.float32(count))
                    q = np.int64(np.rint(np.float32(np.float32(s / y_scale) + zp)))
                    out[b, ch, oh, ow] = min(max(q, lo), hi)


@kernel("QLinearAveragePool")
def qlinear_average_pool(node, inputs, ctx: Context):
    """X, x_scale, x_zp, y_scale, y_zp; 2-D, channels first (onnxruntime's qlinear_pool.cc)."""
    from npusim.numerics.ops.floating import _pool_geometry
    x, sx, zx, sy, zy = inputs[:5]
    if x.ndim != 4 or node.attr("channels_last", 0):
        raise UnsupportedOpError(f"QLinearAveragePool node '{node.name}': only 2-D pools "
                                 "over NCHW data are supported")
    kernel_shape, strides, pads, dilations = _pool_geometry(node, x)
    if any(d != 1 for d in dilations):
        raise UnsupportedOpError(f"QLinearAveragePool node '{node.name}': dilations are not "
                                 "supported")
    out_h = (x.shape[2] + pads[0] + pads[2] - kernel_shape[0]) // strides[0] + 1
    out_w = (x.shape[3] + pads[1] + pads[3] - kernel_shape[1]) // strides[1] + 1
    xf = dequantize(x, sx, zx)
    out_dtype = zy.dtype if zy is not None else x.dtype
    y = np.empty((x.shape[0], x.shape[1], out_h, out_w), out_dtype)
    lo, hi = out_range(node, out_dtype)
    _average_pool_2d(np.ascontiguousarray(xf, np.float32), kernel_shape[0], kernel_shape[1],
                     strides[0], strides[1], pads[0], pads[1],
                     bool(node.attr("count_include_pad", 0)), scalar_f32(sy),
                     np.float32(scalar_i32(zy)), lo, hi, y)
    ctx.record_saturation(node, int(np.count_nonzero((y == lo) | (y == hi))), y.size)
    return [y]
