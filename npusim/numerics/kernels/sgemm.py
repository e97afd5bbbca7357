"""float32 GEMM and 2-D convolution summed in the order of onnxruntime's MLAS kernels on x86-64
with AVX-512F or AVX2 + FMA3, so a float Conv / Gemm / MatMul left between a DequantizeLinear
and a QuantizeLinear hands the Q the same float32 bits that onnxruntime's default session does.

The order, checked element for element against onnxruntime 1.32 (tests/numerics/test_sgemm.py):
- GEMM (MlasGemm) with a constant B (packed once): per output element, K in strides of 256;
  each stride is a chain of fused multiply-adds from zero, scaled by alpha, then added to C
  (which starts as beta * C, or as the first stride's sum where there is no C). With B
  computed at run time MLAS widens the stride as its thread share of N narrows, so the order
  is known only for K <= 128 (one chain) and more than one row (one row takes a GEMV kernel).
- Conv (the default session's NCHWc layout, `MlasNchwcGetBlockSize()` channels per block):
  per output element, input channels in chunks, each chunk an FMA chain over (kernel row,
  kernel column, channel) from zero, the chunks' sums added in turn, then the bias. A chunk is
  one block; 128 channels for a 1x1 unpadded kernel (the pointwise kernel); one channel where
  the input has fewer channels than a block (the NCHW-input kernel); the whole window for a
  depthwise conv.
A padded input position is skipped by MLAS and multiplied by zero here: fma(0, w, acc) is acc
exactly, because a chain that starts at +0 never holds -0.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from npusim.numerics.kernels.fma import fma32_native
from npusim.numerics.kernels.mlas import HOST_AVX512F, HOST_FMA3

STRIDE_K = 256        # the K stride of MLAS's packed-B GEMM (a constant B)
RUNTIME_B_STRIDE_K = 128  # the least K stride of its unpacked GEMM (B computed at run time)
POINTWISE_CHUNK = 128  # input channels per call of the NCHWc pointwise kernel


# channels per NCHWc block (MlasNchwcGetBlockSize) of the MLAS kernels this CPU runs, where
# npusim's order is checked against onnxruntime: AVX-512F (16) and AVX2 + FMA3 (8: the same
# rules, tests/numerics/test_sgemm.py on such a host); on any other host None: numpy's GEMM,
# and the layer named in `divergence`
BLOCK = 16 if HOST_AVX512F else 8 if HOST_FMA3 else None


@numba.njit(cache=True, parallel=True)
def _gemm_rows(a, b, c, has_c, alpha, out):
    """out[i, :] for every row i of a (M, K) @ b (K, N), in MLAS's order."""
    m, k = a.shape
    n = b.shape[1]
    for i in prange(m):
        acc = np.empty(n, np.float32)
        for j in range(n):
            out[i, j] = c[i, j] if has_c else np.float32(0.0)
        for k0 in range(0, k, STRIDE_K):
            for j in range(n):
                acc[j] = np.float32(0.0)
            for kk in range(k0, min(k, k0 + STRIDE_K)):
                av = a[i, kk]
                for j in range(n):
                    acc[j] = fma32_native(av, b[kk, j], acc[j])
            if alpha != np.float32(1.0):
                for j in range(n):
                    acc[j] = acc[j] * alpha
            if k0 == 0 and not has_c:
                for j in range(n):
                    out[i, j] = acc[j]
            else:
                for j in range(n):
                    out[i, j] = out[i, j] + acc[j]


def gemm(a: np.ndarray, b: np.ndarray, c: np.ndarray | None = None, alpha: float = 1.0,
         beta: float = 1.0) -> np.ndarray:
    """alpha * a @ b + beta * c for 2-D float32 a (M, K), b (K, N) and c broadcastable to
    (M, N), summed as MlasGemm sums."""
    a32 = np.ascontiguousarray(a, np.float32)
    b32 = np.ascontiguousarray(b, np.float32)
    shape = (a32.shape[0], b32.shape[1])
    has_c = c is not None and beta != 0.0
    if has_c:
        cc = np.broadcast_to(np.asarray(c, np.float32), shape)
        if beta != 1.0:
            cc = cc * np.float32(beta)
        cc = np.ascontiguousarray(cc, np.float32)
    else:
        cc = np.zeros((1, 1), np.float32)
    out = np.empty(shape, np.float32)
    _gemm_rows(a32, b32, cc, has_c, np.float32(alpha), out)
    return out


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.matmul semantics (batched, broadcast) for float32, each product matrix through
    `gemm`."""
    a32, b32 = np.asarray(a, np.float32), np.asarray(b, np.float32)
    vec_a, vec_b = a32.ndim == 1, b32.ndim == 1
    if vec_a:
        a32 = a32[None, :]
    if vec_b:
        b32 = b32[:, None]
    if b32.ndim == 2:  # one weight matrix: the batch rows are one tall GEMM
        rows = a32.reshape(-1, a32.shape[-1])
        y = gemm(rows, b32).reshape(a32.shape[:-1] + (b32.shape[-1],))
    else:
        batch = np.broadcast_shapes(a32.shape[:-2], b32.shape[:-2])
        aa = np.broadcast_to(a32, batch + a32.shape[-2:]).reshape((-1,) + a32.shape[-2:])
        bb = np.broadcast_to(b32, batch + b32.shape[-2:]).reshape((-1,) + b32.shape[-2:])
        y = np.stack([gemm(x, w) for x, w in zip(aa, bb)]).reshape(
            batch + (a32.shape[-2], b32.shape[-1]))
    if vec_a:
        y = y[..., 0, :]
    if vec_b:
        y = y[..., 0]
    return y


@numba.njit(cache=True, parallel=True)
def _conv_chunks(xp, w, bias, has_bias, sh, sw, dh, dw, chunk, out):
    """One group: xp (C, Hp, Wp) zero-padded input, w (O, C, KH, KW), out (O, OH, OW); each
    chunk of `chunk` channels is one FMA chain over (row, column, channel)."""
    c_in = xp.shape[0]
    o_n, _, kh_n, kw_n = w.shape
    oh_n, ow_n = out.shape[1], out.shape[2]
    for o in prange(o_n):
        acc = np.empty(ow_n, np.float32)
        for i in range(oh_n):
            for c0 in range(0, c_in, chunk):
                for j in range(ow_n):
                    acc[j] = np.float32(0.0)
                for r in range(kh_n):
                    row = i * sh + r * dh
                    for s in range(kw_n):
                        col = s * dw
                        for c in range(c0, min(c_in, c0 + chunk)):
                            wv = w[o, c, r, s]
                            for j in range(ow_n):
                                acc[j] = fma32_native(xp[c, row, j * sw + col], wv, acc[j])
                if c0 == 0:
                    for j in range(ow_n):
                        out[o, i, j] = acc[j]
                else:
                    for j in range(ow_n):
                        out[o, i, j] = acc[j] + out[o, i, j]
            if has_bias:
                for j in range(ow_n):
                    out[o, i, j] = out[o, i, j] + bias[o]


def conv_chunk(x_shape, w_shape, group: int, pads, block: int | None = BLOCK) -> int | None:
    """Input channels per FMA chain of the kernel onnxruntime's default
    session runs for a float 2-D Conv on this host; None where npusim does not reproduce it
    (neither AVX-512F nor FMA3, or a conv the NCHWc transformer leaves to MlasConv)."""
    if block is None or len(x_shape) != 4:
        return None
    c_total, (o_total, c_group, kh, kw) = x_shape[1], w_shape
    depthwise = group > 1 and c_group == 1 and o_total == group
    # which convs the NchwcTransformer rewrites (measured: tests/numerics/test_sgemm.py)
    if group == 1 or (depthwise and c_total % 4 == 0) or (
            not depthwise and c_group % block == 0 and (o_total // group) % block == 0):
        if depthwise or c_group < block:
            return 1                # depthwise kernel, or the NCHW-input kernel
        if kh == kw == 1 and not any(pads):
            return POINTWISE_CHUNK
        return block
    return None  # MlasConv (im2col + sgemm): its K split depends on the thread segments


def conv2d(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, *, strides, pads,
           dilations, group: int, chunk: int) -> np.ndarray:
    """A float32 2-D convolution (ONNX pads: begin..., end...), `chunk` channels per chain
    (from `conv_chunk`)."""
    x32 = np.asarray(x, np.float32)
    w32 = np.ascontiguousarray(w, np.float32)
    n, _, h, wd = x32.shape
    o_total, c_group, kh, kw = w32.shape
    (sh, sw), (dh, dw) = strides, dilations
    pt, pl, pb, pr = pads
    oh = (h + pt + pb - (kh - 1) * dh - 1) // sh + 1
    ow = (wd + pl + pr - (kw - 1) * dw - 1) // sw + 1
    xp = np.pad(x32, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    o_group = o_total // group
    b32 = (np.zeros(o_total, np.float32) if bias is None
           else np.ascontiguousarray(np.reshape(bias, -1), np.float32))
    out = np.empty((n, o_total, oh, ow), np.float32)
    for b in range(n):
        for g in range(group):
            lo, hi = g * o_group, (g + 1) * o_group
            part = np.empty((o_group, oh, ow), np.float32)
            _conv_chunks(np.ascontiguousarray(xp[b, g * c_group:(g + 1) * c_group]),
                         w32[lo:hi], b32[lo:hi], bias is not None, sh, sw, dh, dw, chunk,
                         part)
            out[b, lo:hi] = part
    return out
