"""Helpers the integer kernels share: zero-point centering, bias, the requantize-and-record
finish, the output clamp and scalar reads of scale / zero-point tensors."""

from __future__ import annotations

import numpy as np

from npusim.numerics.kernels import qconv
from npusim.numerics.ops.context import Context
from npusim.numerics.quant import int_range
from npusim.numerics.requant import requantize, round_shift


def centered(q: np.ndarray, zp: np.ndarray | None, channel_axis: int | None = None):
    """q - zp as float64 (exact); zp may be per channel along `channel_axis`."""
    v = q.astype(np.float64)
    if zp is None or not np.any(zp):
        return v
    zp = np.asarray(zp, np.float64)
    if zp.size > 1 and channel_axis is not None:
        shape = [1] * q.ndim
        shape[channel_axis] = zp.size
        zp = zp.reshape(shape)
    return v - zp


_CENTERED: dict = {}


def centered_constant(q: np.ndarray, zp, channel_axis: int):
    """`centered` of a weight, cached per weight array (graph constants are the same object
    on every run) and zero point; read-only."""
    import weakref
    key = id(q)
    extra = (channel_axis, None if zp is None else (np.asarray(zp).dtype.str,
                                                    np.asarray(zp).tobytes()))
    hit = _CENTERED.get(key)
    if hit is not None and hit[0]() is q and hit[1] == extra:
        return hit[2]
    v = centered(q, zp, channel_axis)
    v.flags.writeable = False
    _CENTERED[key] = (weakref.ref(q, qconv._forgetter(key, _CENTERED)), extra, v)
    return v


def int_bias(ctx: Context, b: np.ndarray | None):
    if b is None:
        return None
    b = b.astype(np.int64)
    k = ctx.settings.npu.bias_lshift if ctx.settings.scheme == "npu-shift" else 0
    if k:
        b = round_shift(b, k, ctx.settings.npu.rounding) << k
    return b


def finish(node, ctx: Context, acc, s_in, s_w, s_out, zp_out, out_dtype, channel_axis):
    acc = ctx.check_accumulator(node, acc)
    if ctx.settings.scheme == "npu-shift" and ctx.settings.npu.int32_output:
        return acc.astype(np.int32)
    clamp = node.attr("_clamp")
    r = requantize(acc, s_in, s_w, s_out, zp_out, out_dtype, channel_axis=channel_axis,
                   scheme=ctx.settings.scheme, npu=ctx.settings.npu, clamp=clamp)
    ctx.record_saturation(node, r.saturated, acc.size)
    return r.values


def clamp_output(node, ctx, v, out_dtype, zc):
    lo, hi = out_range(node, out_dtype)
    ctx.record_saturation(node, int(np.count_nonzero((v < lo) | (v > hi))), v.size)
    return np.clip(v, lo, hi).astype(out_dtype)


def scalar_f32(v) -> np.float32:
    return np.float32(np.asarray(v, np.float32).reshape(-1)[0])


def scalar_i32(v) -> int:
    return 0 if v is None else int(np.asarray(v).reshape(-1)[0])


def out_range(node, out_dtype) -> tuple[int, int]:
    """The output dtype's range, narrowed by a fused Relu / Clip (the `_clamp` attribute)."""
    lo, hi = int_range(out_dtype)
    clamp = node.attr("_clamp")
    if clamp is not None:
        lo, hi = max(lo, clamp[0]), min(hi, clamp[1])
    return lo, hi
