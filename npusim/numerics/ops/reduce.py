"""Float32 ReduceSum / ReduceMean as onnxruntime's CPU kernels sum (its `reduction_ops.h`),
so that a mean in a quantized model's float island (a squeeze-excite pool, a global average
pool written as a mean) feeds its QuantizeLinear the same bits.

onnxruntime first merges adjacent axes of one kind (kept K / reduced R; size-1 axes kept)
and picks a path by the pattern (`OptimizeShapeForFastReduce`, `CommonFastReduceSwitch`):
- R (every axis) and KR: each row summed by Eigen's `sum()`;
- RKR (d0, d1, d2) with d1 >= max(2, its threads): for each kept index, the Eigen sums of
  its d0 segments added in turn to 0;
- KRK (d0, d1, d2) with d0 >= max(2, its threads): a GEMM of a ones vector by the rows
  (MLAS; not reproduced, see `unreproduced`);
- anything else (RK below its large-shape threshold, RKR / KRK below theirs, two reduced
  blocks or more): one float accumulator per output, adding the reduced elements in turn
  (an RK above its threshold adds whole rows in the same order).
A mean divides the float32 sum by the reduced count in float32.

Eigen's `sum()` here is its linear vectorized reduction with SSE packets of four floats
(onnxruntime's Eigen is built for baseline x86-64, so on AVX-512 hosts too): the elements
before the first 16-byte boundary are set aside, then two packet accumulators take
alternate packets, are added, take one more packet if one is left, are reduced
(p0 + p2) + (p1 + p3), and the set-aside head and the tail are added one by one.
onnxruntime's buffers are 64-byte aligned, so a row's boundary follows from its offset.
"""

from __future__ import annotations

import numba
import numpy as np

from npusim.numerics.ops import kernel

_SUM_OPS = ("ReduceSum", "ReduceMean")


@numba.njit(cache=True)
def _eigen_sum(x, base, n):
    """Eigen's float32 sum() of x[base:base + n] (SSE packets; x[0] 16-byte aligned)."""
    f = np.float32
    head = (4 - base % 4) % 4
    if head > n:
        head = n
    whole = (n - head) // 4 * 4
    pairs = (n - head) // 8 * 8
    if whole == 0:
        res = x[base]
        for i in range(1, n):
            res = f(res + x[base + i])
        return res
    s = base + head
    p0 = x[s:s + 4].copy()
    if whole > 4:
        p1 = x[s + 4:s + 8].copy()
        for i in range(s + 8, s + pairs, 8):
            for j in range(4):
                p0[j] = f(p0[j] + x[i + j])
                p1[j] = f(p1[j] + x[i + 4 + j])
        for j in range(4):
            p0[j] = f(p0[j] + p1[j])
        if whole > pairs:
            for j in range(4):
                p0[j] = f(p0[j] + x[s + pairs + j])
    res = f(f(p0[0] + p0[2]) + f(p0[1] + p0[3]))
    for i in range(head):
        res = f(res + x[base + i])
    for i in range(head + whole, n):
        res = f(res + x[base + i])
    return res


@numba.njit(cache=True)
def _sum_kr(x, rows, n, out):
    for r in range(rows):
        out[r] = _eigen_sum(x, r * n, n)


@numba.njit(cache=True)
def _sum_rkr(x, d0, d1, d2, out):
    for d in range(d1):
        acc = np.float32(0.0)
        for i in range(d0):
            acc = np.float32(acc + _eigen_sum(x, i * d1 * d2 + d * d2, d2))
        out[d] = acc


@numba.njit(cache=True)
def _sum_rk(m, out):
    out[:] = m[0]
    for r in range(1, m.shape[0]):
        for j in range(m.shape[1]):
            out[j] = np.float32(out[j] + m[r, j])


@numba.njit(cache=True)
def _sum_in_turn(rows, out):
    for r in range(rows.shape[0]):
        acc = np.float32(0.0)
        for j in range(rows.shape[1]):
            acc = np.float32(acc + rows[r, j])
        out[r] = acc


def reduced_axes(node, shape: tuple[int, ...], axes_input=None) -> tuple[int, ...] | None:
    """The axes `node` reduces over an input of `shape` (every axis when none are given,
    unless noop_with_empty_axes); None where the axes are not known."""
    axes = node.attr("axes")
    if axes is None and len(node.inputs) > 1 and node.inputs[1]:
        if axes_input is None:
            return None
        axes = [int(a) for a in np.asarray(axes_input).reshape(-1)]
    if not axes:
        return () if node.attr("noop_with_empty_axes", 0) else tuple(range(len(shape)))
    return tuple(sorted({int(a) % len(shape) for a in axes}))


def pattern(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[str, list[int]]:
    """onnxruntime's fast-reduce pattern of `shape` reduced over `axes` (adjacent axes of
    one kind merged, size-1 axes kept) and the merged dims: ("KR", [rows, n]), ..."""
    kinds, dims = "", []
    for i, d in enumerate(shape):
        k = "R" if i in axes else "K"
        if kinds and kinds[-1] == k:
            dims[-1] *= d
        else:
            kinds, dims = kinds + k, dims + [d]
    return kinds, dims


# An RKR reduction takes the segment path when its kept block has at least as many
# indices as onnxruntime has threads; below this many the path depends on the host.
RKR_THREADS = 64


def _by_gemm(kinds: str, dims: list[int]) -> bool:
    """onnxruntime's KRK path: a GEMM of a ones vector, unless one leading block (in turn)."""
    return kinds == "KRK" and dims[0] > 1


def unreproduced(shape: tuple[int, ...], axes: tuple[int, ...]) -> str | None:
    """Why npusim's float32 sum over `axes` may differ from onnxruntime's (None: bit for
    bit)."""
    kinds, dims = pattern(shape, axes)
    if _by_gemm(kinds, dims):
        return ("onnxruntime sums a reduction over middle axes (kept, reduced, kept) with an "
                "MLAS GEMM of a ones vector when the leading kept block is at least its "
                "thread count, in an order npusim does not reproduce (numpy pairwise)")
    if kinds == "RKR" and 1 < dims[1] < RKR_THREADS:
        return (f"onnxruntime sums this reduction (reduced, kept, reduced) by segments when "
                f"its {dims[1]} kept indices are at least its thread count, else element by "
                "element; npusim sums by segments")
    return None


def float_sum(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray | None:
    """onnxruntime's float32 sum of `x` over `axes` (reduced axes dropped), or None for a
    pattern it does not reproduce (KRK) or an empty reduction."""
    shape = x.shape
    kinds, dims = pattern(shape, axes)
    if not axes or any(shape[a] == 0 for a in axes) or _by_gemm(kinds, dims):
        return None
    kept = tuple(d for i, d in enumerate(shape) if i not in axes)
    flat = np.ascontiguousarray(x, np.float32).reshape(-1)
    out = np.empty(int(np.prod(kept, dtype=np.int64)), np.float32)
    if kinds == "R":
        _sum_kr(flat, 1, dims[0], out)
    elif kinds == "KR":
        _sum_kr(flat, dims[0], dims[1], out)
    elif kinds == "RK":
        _sum_rk(flat.reshape(dims), out)
    elif kinds == "RKR" and dims[1] > 1:
        _sum_rkr(flat, dims[0], dims[1], dims[2], out)
    else:  # no fast path: one accumulator per output over the reduced elements in order
        order = [i for i in range(len(shape)) if i not in axes] + list(axes)
        _sum_in_turn(np.ascontiguousarray(np.transpose(x, order)).reshape(out.size, -1), out)
    return out.reshape(kept)


@kernel(*_SUM_OPS)
def reduce_sum_mean(node, inputs, ctx):
    """float32 ReduceSum / ReduceMean in onnxruntime's order; other dtypes, the KRK pattern
    and empty reductions through onnx.reference."""
    from npusim.numerics.ops.floating import reference_kernel
    x = inputs[0]
    if x.dtype != np.float32 or x.ndim == 0:
        return reference_kernel(node, inputs, ctx)
    axes = reduced_axes(node, x.shape, inputs[1] if len(inputs) > 1 else None)
    if axes is None:
        return reference_kernel(node, inputs, ctx)
    if not axes:  # noop_with_empty_axes: the input itself
        return [x.copy()]
    total = float_sum(x, axes)
    if total is None:
        return reference_kernel(node, inputs, ctx)
    if node.op_type == "ReduceMean":
        count = np.float32(np.prod([x.shape[a] for a in axes], dtype=np.int64))
        total = (total / count).astype(np.float32)
    if node.attr("keepdims", 1):
        total = total.reshape(tuple(1 if i in axes else d for i, d in enumerate(x.shape)))
    return [total]
