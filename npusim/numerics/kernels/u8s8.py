"""onnxruntime's uint8 x int8 GEMM on x86-64 CPUs without VNNI, where it saturates.

MLAS's U8S8 kernels for AVX2 (and AVX-512 without VNNI) multiply with vpmaddubsw, which adds
each pair of adjacent products u8 * s8 into int16 with saturation, before vpmaddwd widens the
pairs to int32. So onnxruntime's raw sum over K is sum_j sat16(a[2j] b[2j] + a[2j+1] b[2j+1]):
two products near 255 * 127 give 32767, not 64770. This is a property of onnxruntime on such a
host (the reason its quantizer offers reduce_range), not of any chip: npusim sums exactly by
default (as a chip, and onnxruntime on a VNNI or ARM host, do) and names the layers where
this host's onnxruntime may clip; with `Settings.host_u8s8` (`run_numerics(host_u8s8=True)`,
`--host-u8s8`) the `ort` scheme follows it, so npusim and onnxruntime agree bit for bit on
the host the user runs them on, and the clipped pairs are counted (`Events.pair_saturated`).

The order of K, measured against onnxruntime 1.32 on an AVX2 host (tests/numerics/
test_u8s8.py): a MatMul's K as given; a Conv's im2col row in (kernel position, channel) order
over one group (so pairs straddle kernel positions when a group has an odd channel count),
the padding holding the activation zero point. Depthwise convs run MLAS's depthwise kernel,
which widens each product first and does not saturate.
"""

from __future__ import annotations

import platform

import numba
import numpy as np
from numba import prange

from npusim.numerics.kernels.avx512 import host_cpu_features
from npusim.numerics.ops.context import some_layers

_FEATURES = host_cpu_features()
# x86-64 with AVX2 and neither AVX-512 VNNI nor AVX-VNNI: MLAS's U8S8 kernel is vpmaddubsw
HOST_SATURATES = (platform.machine().lower() in ("x86_64", "amd64")
                  and bool(_FEATURES.get("avx2"))
                  and not (_FEATURES.get("avx512vnni") or _FEATURES.get("avxvnni")))
_PAIR_BOUND = 32767


def follows(node, ctx, a_dtype, b_dtype, b_rows) -> bool:
    """Whether this run computes `node` as this host's onnxruntime does: its uint8 x int8
    product there saturates (`ort` scheme, a host without VNNI, weights `b_rows()` (M, K) that
    can reach int16 in a pair) and the run asked to follow it (`Settings.host_u8s8`). Where
    the host would saturate but the run sums exactly, the layer is recorded for `notes`."""
    if not (HOST_SATURATES and ctx.settings.scheme == "ort" and np.dtype(a_dtype) == np.uint8
            and np.dtype(b_dtype) == np.int8 and can_saturate(b_rows())):
        return False
    if not ctx.settings.host_u8s8:
        ctx.record_pair_saturation(node, None)
        return False
    return True


def notes(events) -> list[str]:
    """What a run's `Events` say about this host's onnxruntime: the layers where it may clip
    pair sums (the run summed them exactly), or the pair sums it clipped (the run followed)."""
    out = []
    exposed = [name for name, ev in events.items() if ev.pair_saturable]
    if exposed:
        out.append("this host's onnxruntime (x86-64 without VNNI) sums uint8 x int8 products "
                   "in int16 pairs with saturation (vpmaddubsw); npusim summed them exactly, as "
                   "a chip and a VNNI host do, so an onnxruntime run on this machine may differ "
                   f"in {some_layers(exposed)} layers; host_u8s8=True (--host-u8s8) follows it")
    clipped = {name: ev.pair_saturated for name, ev in events.items() if ev.pair_saturated}
    if clipped:
        out.append("onnxruntime's uint8 x int8 GEMM on this host (x86-64 without VNNI) "
                   "saturates each pair of products at int16, and this run follows it "
                   f"(host_u8s8): {sum(clipped.values())} pair sums clipped in {len(clipped)} "
                   f"layers ({some_layers(clipped)}); a VNNI host, and the chip, sum them exactly "
                   "(onnxruntime's quantizer offers reduce_range for this)")
    return out


def can_saturate(b_rows: np.ndarray) -> bool:
    """Whether any adjacent pair of a row of B (M, K) can exceed int16 with u8 activations."""
    w = np.abs(b_rows.astype(np.int32))
    k = w.shape[1] - w.shape[1] % 2
    return bool(k) and int((w[:, 0:k:2] + w[:, 1:k:2]).max()) * 255 > _PAIR_BOUND


@numba.njit(cache=True, parallel=True)
def _pair_sums(a, b, out, hits):
    """out[p, m] = sum_j sat16(a[p, 2j] b[m, 2j] + a[p, 2j+1] b[m, 2j+1]); hits[p] counts the
    pairs that saturated in row p."""
    n_p, k = a.shape
    n_m = b.shape[0]
    even = k - k % 2
    for p in prange(n_p):
        h = 0
        for m in range(n_m):
            s = np.int64(0)  # int32 in MLAS: a sum past it is the caller's overflow check
            for kk in range(0, even, 2):
                t = np.int32(a[p, kk]) * np.int32(b[m, kk]) + np.int32(a[p, kk + 1]) * np.int32(
                    b[m, kk + 1])
                if t > 32767:
                    t = np.int32(32767)
                    h += 1
                elif t < -32768:
                    t = np.int32(-32768)
                    h += 1
                s += t
            if even < k:  # the last product pairs with the packing's zero
                s += np.int32(a[p, k - 1]) * np.int32(b[m, k - 1])
            out[p, m] = s
        hits[p] = h


def pair_sums(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, int]:
    """onnxruntime's raw sums of a (P, K) uint8 against b (M, K) int8, as int64 (P, M), and
    the number of pair sums that saturated."""
    a = np.ascontiguousarray(a, np.uint8)
    b = np.ascontiguousarray(b, np.int8)
    out = np.empty((a.shape[0], b.shape[0]), np.int64)
    hits = np.zeros(a.shape[0], np.int64)
    if a.size and b.size:
        _pair_sums(a, b, out, hits)
    return out, int(hits.sum())


def matmul_acc(a: np.ndarray, za, b: np.ndarray, zb) -> tuple[np.ndarray, int]:
    """a @ b (a (..., M, K) uint8, b (K, N) or (..., K, N) int8) less the zero points as
    onnxruntime computes it on this host: raw pair sums, then the zero point terms exactly.
    za is per tensor or per row of a; zb per tensor or per column of b."""
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a_b = np.broadcast_to(a, batch + a.shape[-2:])
    b_b = np.broadcast_to(b, batch + b.shape[-2:])
    raw = np.empty(batch + (a.shape[-2], b.shape[-1]), np.int64)
    hits = 0
    for idx in np.ndindex(*batch):
        raw[idx], h = pair_sums(a_b[idx], b_b[idx].T)
        hits += h
    k = a.shape[-1]
    za_v = np.zeros(1, np.int64) if za is None else np.asarray(za, np.int64)
    zb_v = np.zeros(1, np.int64) if zb is None else np.asarray(zb, np.int64)
    za_col = za_v.reshape(-1, 1) if za_v.size > 1 else za_v.reshape(())
    zb_row = zb_v.reshape(-1) if zb_v.size > 1 else zb_v.reshape(())
    acc = (raw - za_col * b64.sum(axis=-2, keepdims=True)
           - a64.sum(axis=-1, keepdims=True) * zb_row + k * za_col * zb_row)
    return acc, hits


def conv_acc(x: np.ndarray, zx, w: np.ndarray, zw, *, group: int, strides, pads,
             dilations) -> tuple[np.ndarray, int]:
    """A grouped, non-depthwise N-D convolution of uint8 x (N, C, ...) by int8 w
    (M, C / group, ...) less the zero points, as onnxruntime sums it on this host: per group
    an im2col over (kernel position, channel), padded with zx, in pair sums. pads as ONNX
    (begins then ends); returns the (N, M, ...) int64 accumulators and the saturated pairs."""
    spatial = x.ndim - 2
    zx_s = 0 if zx is None else int(np.asarray(zx).reshape(-1)[0])
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[i + spatial]) for i in range(spatial)],
                constant_values=zx_s)
    ks = w.shape[2:]
    spans = [(ks[i] - 1) * dilations[i] + 1 for i in range(spatial)]
    win = np.lib.stride_tricks.sliding_window_view(xp, spans, axis=tuple(range(2, x.ndim)))
    win = win[(Ellipsis,) + tuple(slice(None, None, d) for d in dilations)]
    win = win[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in strides)]
    n, out_sp = x.shape[0], win.shape[2:2 + spatial]
    cg, mg = w.shape[1], w.shape[0] // group
    # (N, C, out..., k...) -> rows (N, out...) of (k..., c) per group
    order = (0,) + tuple(range(2, 2 + spatial)) + tuple(range(2 + spatial, 2 + 2 * spatial)) + (1,)
    cols_all = win.transpose(order)
    pixels = n * int(np.prod(out_sp))
    acc = np.empty((pixels, w.shape[0]), np.int64)
    hits = 0
    zw_v = np.zeros(w.shape[0], np.int64) if zw is None else np.broadcast_to(
        np.asarray(zw, np.int64).reshape(-1), (w.shape[0],))
    kk = int(np.prod(ks)) * cg
    for g in range(group):
        cols = np.ascontiguousarray(cols_all[..., g * cg:(g + 1) * cg]).reshape(pixels, kk)
        wg = w[g * mg:(g + 1) * mg]
        rows = np.ascontiguousarray(np.moveaxis(wg, 1, -1)).reshape(mg, kk)
        raw, h = pair_sums(cols, rows)
        hits += h
        zg = zw_v[g * mg:(g + 1) * mg]
        acc[:, g * mg:(g + 1) * mg] = (raw - zx_s * rows.astype(np.int64).sum(axis=1)
                                       - cols.astype(np.int64).sum(axis=1, keepdims=True) * zg
                                       + kk * zx_s * zg)
    acc = acc.reshape((n,) + tuple(out_sp) + (w.shape[0],))
    return np.moveaxis(acc, -1, 1), hits
