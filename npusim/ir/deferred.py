"""A constant whose value is computed or read only when something asks for it.

Costing needs a weight's shape and dtype, never its bytes; numerics reads the bytes. A
`Deferred` carries the first two and a thunk for the third (a memory map, a folded op).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class Deferred:
    """Shape and dtype now, the array on first `array()` call (then kept)."""

    __slots__ = ("shape", "dtype", "_thunk", "_array")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype,
                 thunk: Callable[[], np.ndarray]) -> None:
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self._thunk = thunk
        self._array: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def array(self) -> np.ndarray:
        if self._array is None:
            value = np.asarray(self._thunk())
            value = value.reshape(self.shape).astype(self.dtype, copy=False)
            view = value.view()
            view.flags.writeable = False
            self._array = view
            self._thunk = None
        return self._array

    def __repr__(self) -> str:
        return f"Deferred(shape={self.shape}, dtype={self.dtype})"


def materialize(value: np.ndarray | Deferred) -> np.ndarray:
    return value.array() if isinstance(value, Deferred) else value
