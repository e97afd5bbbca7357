"""Kernels per ONNX operator, looked up by op type; each takes the node, its input arrays
and the run's `Context`, and returns its output arrays.

Quantized kernels live in `quantize.py` and the `q*.py` files (one op family each), float
kernels in `floating.py`;
anything without a kernel here runs through onnx.reference, one node at a time.
"""

from __future__ import annotations

from collections.abc import Callable

KERNELS: dict[str, Callable] = {}


def kernel(*op_types: str):
    def register(fn):
        for op in op_types:
            KERNELS[op] = fn
        return fn
    return register


def load_all() -> dict[str, Callable]:
    from npusim.numerics.ops import (  # noqa: F401 (registers)
        floating,
        qconv,
        qelementwise,
        qlookup,
        qmatmul,
        qpool,
        quantize,
        reduce,
    )
    return KERNELS
