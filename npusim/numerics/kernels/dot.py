"""Dot products in low precision: fp16 with float32 or float16 accumulation.

`np.matmul` on float16 accumulates in float32 and rounds once (the `fp32` mode, NUMERICS.md);
`matmul_fp16_acc` rounds the running sum to float16 after every multiply-add.
"""

from __future__ import annotations

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


def matmul_for(dtype: np.dtype, accumulate: str):
    if np.dtype(dtype) == np.float16 and accumulate == "fp16":
        return matmul_fp16_acc
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
