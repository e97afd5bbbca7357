"""AVX-512 building blocks for numba kernels: host VNNI detection, a 16-lane int32 vector
type with load / broadcast / vpdpbusd / store intrinsics, an atomic task counter, and serial
helpers that keep parallel kernels from opening extra parallel regions."""

from __future__ import annotations

from collections.abc import Mapping

import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model


def host_cpu_features() -> Mapping[str, bool]:
    """The host CPU's features as LLVM names them (empty where LLVM cannot tell)."""
    try:
        return llvm.get_host_cpu_features()
    except RuntimeError:
        return {}


_FEATURES = host_cpu_features()
# a CPU name or feature list forced on numba (portable caches) may not enable VNNI codegen
AVAILABLE = bool(_FEATURES.get("avx512vnni") and _FEATURES.get("avx512f")
                 and _FEATURES.get("avx512bw")) and not numba.config.CPU_NAME \
    and not numba.config.CPU_FEATURES

LANES = 16        # int32 lanes per vector: output channels per block
ROWS = 4          # pixels per microkernel tile
BLOCKS = 4        # 16-channel blocks per microkernel tile
_VEC = ir.VectorType(ir.IntType(32), LANES)


class I32x16(types.Type):
    def __init__(self):
        super().__init__(name="i32x16")


i32x16 = I32x16()


@register_model(I32x16)
class _I32x16Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VEC)


def _ptr(context, builder, arr_ty, arr, idx):
    """Address of flat element idx of a 1-D array."""
    ary = context.make_array(arr_ty)(context, builder, arr)
    return builder.gep(ary.data, [idx])


@intrinsic
def vzero(typingctx):
    def codegen(context, builder, sig, args):
        return ir.Constant(_VEC, None)
    return i32x16(), codegen


@intrinsic
def vload(typingctx, arr, idx):
    """64 bytes of an 8-bit array from flat index idx, as 16 int32 lanes (unaligned)."""
    def codegen(context, builder, sig, args):
        p = _ptr(context, builder, sig.args[0], args[0], args[1])
        v = builder.load(builder.bitcast(p, _VEC.as_pointer()), align=1)
        return v
    return i32x16(arr, idx), codegen


@intrinsic
def vbroadcast(typingctx, arr, idx):
    """4 bytes of an 8-bit array from flat index idx, repeated in every lane."""
    def codegen(context, builder, sig, args):
        p = _ptr(context, builder, sig.args[0], args[0], args[1])
        s = builder.load(builder.bitcast(p, ir.IntType(32).as_pointer()), align=1)
        v = builder.insert_element(ir.Constant(_VEC, None), s, ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(v, ir.Constant(_VEC, None),
                                      ir.Constant(_VEC, [0] * LANES))
    return i32x16(arr, idx), codegen


@intrinsic
def vdpbusd(typingctx, acc, a, b):
    """acc + per lane sum of 4 u8(a) * s8(b) products (vpdpbusd, wrapping int32)."""
    def codegen(context, builder, sig, args):
        fnty = ir.FunctionType(_VEC, [_VEC, _VEC, _VEC])
        fn = cgutils.get_or_insert_function(builder.module, fnty,
                                            "llvm.x86.avx512.vpdpbusd.512")
        return builder.call(fn, args)
    return i32x16(i32x16, i32x16, i32x16), codegen


@intrinsic
def vstore(typingctx, arr, idx, v):
    """Store the 16 lanes to an int32 array at flat index idx (unaligned)."""
    def codegen(context, builder, sig, args):
        p = _ptr(context, builder, sig.args[0], args[0], args[1])
        builder.store(args[2], builder.bitcast(p, _VEC.as_pointer()), align=4)
        return context.get_dummy_value()
    return types.none(arr, idx, v), codegen


@intrinsic
def claim(typingctx, counter):
    """Atomically counter[0] += 1 and return the old value: the next task of a worker.

    The parallel kernels hand out their tasks this way rather than as prange's equal static
    shares, so a thread whose core is busy with another process takes fewer of them.
    """
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64):
        return None

    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        return builder.atomic_rmw("add", ary.data, ir.Constant(ir.IntType(64), 1),
                                  "monotonic")
    return types.int64(counter), codegen


# Serial helpers: inside a parallel=True function numba turns np.zeros, .sum() and .max()
# into parallel regions of their own, and each region wakes the (passively waiting) worker
# threads again; as calls they stay serial.
@numba.njit(cache=True)
def zeros_i64(n):
    return np.zeros(n, np.int64)


@numba.njit(cache=True)
def total(a):
    return a.sum()


@numba.njit(cache=True)
def largest(a):
    return a.max() if a.size else 0
