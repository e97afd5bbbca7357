"""N-d convolution via im2col and one BLAS matmul per group (depthwise by shift-and-add;
ungrouped 2-D float32 through a numba im2col).

`conv` takes already zero-point-corrected operands; in float64 it is exact for integer data.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange
from numpy.lib.stride_tricks import sliding_window_view


def conv_geometry(x_shape, w_shape, *, strides=None, pads=None, dilations=None,
                  auto_pad="NOTSET"):
    """Strides, dilations and explicit begin/end pads of an ONNX Conv / pool."""
    spatial = len(x_shape) - 2
    kernel = tuple(w_shape[2:])
    strides = tuple(strides or (1,) * spatial)
    dilations = tuple(dilations or (1,) * spatial)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for i in range(spatial):
            n = x_shape[2 + i]
            out = math.ceil(n / strides[i])
            total = max((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - n, 0)
            small, big = total // 2, total - total // 2
            begin.append(small if auto_pad == "SAME_UPPER" else big)
            end.append(big if auto_pad == "SAME_UPPER" else small)
        pads = (*begin, *end)
    elif auto_pad == "VALID" or not pads:
        pads = (0,) * (2 * spatial)
    return strides, tuple(pads), dilations


def pad_spatial(x: np.ndarray, pads, value=0) -> np.ndarray:
    spatial = x.ndim - 2
    if not any(pads):
        return x
    widths = [(0, 0), (0, 0)] + [(pads[i], pads[i + spatial]) for i in range(spatial)]
    return np.pad(x, widths, constant_values=value)


def windows(x: np.ndarray, kernel, strides, dilations) -> np.ndarray:
    """View of shape (N, C, *out, *kernel) over an already padded x."""
    spatial = len(kernel)
    span = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilations))
    v = sliding_window_view(x, span, axis=tuple(range(2, 2 + spatial)))
    index = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in strides) + tuple(
        slice(None, None, d) for d in dilations)
    return v[index]


def conv(x: np.ndarray, w: np.ndarray, *, group: int = 1, strides=None, pads=None,
         dilations=None, auto_pad="NOTSET", dtype=np.float64, matmul=np.matmul) -> np.ndarray:
    """Convolution of x (N, C, *S) with w (M, C/group, *K), computed in `dtype`.

    `matmul` does the dot products (an fp16-accumulating one for that mode); depthwise
    convolutions are summed tap by tap in `dtype`.
    """
    strides, pads, dilations = conv_geometry(x.shape, w.shape, strides=strides, pads=pads,
                                             dilations=dilations, auto_pad=auto_pad)
    x = pad_spatial(x.astype(dtype, copy=False), pads)
    w = w.astype(dtype, copy=False)
    n, c = x.shape[:2]
    m = w.shape[0]
    kernel = w.shape[2:]
    spatial = len(kernel)
    if group == c == m and w.shape[1] == 1:
        return _depthwise(x, w, strides, dilations)
    if all(k == 1 for k in kernel) and all(d == 1 for d in dilations):
        xs = x[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in strides)]
        out_sp = xs.shape[2:]
        cols = xs.reshape(n, group, c // group, -1)
        wg = w.reshape(group, m // group, c // group)
        out = np.stack([np.stack([matmul(wg[j], cols[i, j]) for j in range(group)])
                        for i in range(n)])  # (N, G, M/G, P)
        return out.reshape(n, m, *out_sp)
    if spatial == 2 and dtype == np.float32 and group == 1:
        return _conv2d_f32(x, w, strides, dilations, matmul)
    win = windows(x, kernel, strides, dilations)  # (N, C, *out, *K)
    out_sp = win.shape[2:2 + spatial]
    p = math.prod(out_sp)
    kk = math.prod(kernel)
    # (N, *out, C, *K) -> (N, P, C*K): one copy, then a BLAS matmul per group
    perm = (0, *range(2, 2 + spatial), 1, *range(2 + spatial, 2 + 2 * spatial))
    cols = np.ascontiguousarray(win.transpose(perm)).reshape(n, p, c * kk)
    cg = c // group
    mg = m // group
    out = np.empty((n, m, p), dtype=dtype)
    for g in range(group):
        wmat = w[g * mg:(g + 1) * mg].reshape(mg, cg * kk)
        for i in range(n):  # 2-D products, so numpy hands them to BLAS
            out[i, g * mg:(g + 1) * mg] = matmul(wmat, cols[i, :, g * cg * kk:(g + 1) * cg * kk].T)
    return out.reshape(n, m, *out_sp)


@numba.njit(cache=True, parallel=True)
def _im2col_t(x, kh, kw, sh, sw, dh, dw, out_h, out_w, cols):
    """cols[(c, i, j), p] = the window element (i, j) of channel c for output pixel p, over
    an already padded x (C, H, W): rows contiguous in p, so the copy streams."""
    for k in prange(cols.shape[0]):
        c = k // (kh * kw)
        i = (k // kw) % kh
        j = k % kw
        for oy in range(out_h):
            y = oy * sh + i * dh
            base = oy * out_w
            for ox in range(out_w):
                cols[k, base + ox] = x[c, y, ox * sw + j * dw]


def _conv2d_f32(x, w, strides, dilations, matmul):
    """Ungrouped 2-D float32 convolution of a padded x: numba im2col, one matmul per image."""
    n, c, h, wd = x.shape
    m, _, kh, kw = w.shape
    out_h = (h - ((kh - 1) * dilations[0] + 1)) // strides[0] + 1
    out_w = (wd - ((kw - 1) * dilations[1] + 1)) // strides[1] + 1
    wmat = np.ascontiguousarray(w.reshape(m, c * kh * kw))
    out = np.empty((n, m, out_h * out_w), np.float32)
    cols = np.empty((c * kh * kw, out_h * out_w), np.float32)
    for i in range(n):
        _im2col_t(np.ascontiguousarray(x[i]), kh, kw, strides[0], strides[1], dilations[0],
                  dilations[1], out_h, out_w, cols)
        out[i] = matmul(wmat, cols)
    return out.reshape(n, m, out_h, out_w)


def _depthwise(x, w, strides, dilations):
    kernel = w.shape[2:]
    win = windows(x, kernel, strides, dilations)  # (N, C, *out, *K)
    spatial = len(kernel)
    out = None
    for idx in np.ndindex(*kernel):
        tap = win[(Ellipsis, *idx)]
        wk = w[(slice(None), 0, *idx)].reshape((1, -1) + (1,) * spatial)
        out = tap * wk if out is None else out + tap * wk
    return np.ascontiguousarray(out)
