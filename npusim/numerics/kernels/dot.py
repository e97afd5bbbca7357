"""Dot products in low precision: fp16 with float32 or float16 accumulation.

`matmul_fp16_fp32_acc` is `np.matmul` on float16 (NUMERICS.md's `fp32` reference: each
product exact in float32, summed over K in order in float32, rounded once) in a numba loop,
about 40x faster than numpy's float16 matmul, which has no BLAS; `matmul_fp16_acc` rounds
the running sum to float16 after every multiply-add.
"""

from __future__ import annotations

import numba
import numpy as np


def matmul_fp16_acc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b for float16 operands, acc = f16(acc + a_k * b_k) at every k (batched)."""
    a = np.asarray(a, np.float16)
    b = np.asarray(b, np.float16)
    k = a.shape[-1]
    shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])
    acc = np.zeros(shape, np.float32)
    a32 = a.astype(np.float32)
    b32 = b.astype(np.float32)
    for i in range(k):
        # the product of two halves is exact in float32; one rounding per multiply-add
        acc = (acc + a32[..., :, i:i + 1] * b32[..., i:i + 1, :]).astype(np.float16).astype(
            np.float32)
    return acc.astype(np.float16)


@numba.njit(parallel=True, cache=True)
def _mm_f32_in_order(a, b, out):
    """out[i, j] = sum over k in order of a[i, k] * b[k, j], in float32 (2-D operands)."""
    m, k = a.shape
    n = b.shape[1]
    for i in numba.prange(m):
        acc = np.zeros(n, np.float32)
        for p in range(k):
            av = a[i, p]
            for j in range(n):
                acc[j] += av * b[p, j]
        out[i, :] = acc


def matmul_fp16_fp32_acc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.matmul of float16 operands, bit for bit: each product exact in float32 (11 + 11
    significant bits, so a fused or a separate multiply-add agree), summed over K in order
    in float32, rounded to float16 once (batched and broadcast as np.matmul)."""
    a = np.asarray(a, np.float16)
    b = np.asarray(b, np.float16)
    if a.ndim < 2 or b.ndim < 2:
        return np.matmul(a, b)
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a32 = np.broadcast_to(a, batch + a.shape[-2:]).astype(np.float32).reshape(
        -1, *a.shape[-2:])
    b32 = np.broadcast_to(b, batch + b.shape[-2:]).astype(np.float32).reshape(
        -1, *b.shape[-2:])
    out = np.empty((a32.shape[0], a.shape[-2], b.shape[-1]), np.float32)
    for i in range(out.shape[0]):
        _mm_f32_in_order(np.ascontiguousarray(a32[i]), np.ascontiguousarray(b32[i]), out[i])
    return out.astype(np.float16).reshape(batch + (a.shape[-2], b.shape[-1]))


def matmul_for(dtype: np.dtype, accumulate: str):
    if np.dtype(dtype) == np.float16:
        return matmul_fp16_acc if accumulate == "fp16" else matmul_fp16_fp32_acc
    return np.matmul


def exact_int_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b for integer-valued float arrays, exact, through float32 BLAS.

    Every partial sum of a K-chunk stays below 2^24 (where float32 holds every integer), so
    each chunk is exact in float32; chunks are summed in float64 (exact below 2^53).
    """
    a32 = np.asarray(a, np.float32)
    b32 = np.asarray(b, np.float32)
    k = a32.shape[-1]
    bound = float(np.abs(a32).max(initial=0)) * float(np.abs(b32).max(initial=0))
    chunk = k if bound == 0 else int(2**24 // bound)
    if chunk >= k:
        return np.matmul(a32, b32).astype(np.float64)
    if chunk < 1:
        return np.matmul(np.asarray(a, np.float64), np.asarray(b, np.float64))
    out = None
    for s in range(0, k, chunk):
        part = np.matmul(a32[..., s:s + chunk], b32[..., s:s + chunk, :]).astype(np.float64)
        out = part if out is None else out + part
    return out
