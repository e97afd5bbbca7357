"""Layout rules of a chip's profile: native format, aligned shape, strides and padding bytes.
`tensor_layout` turns a tensor's valid (ONNX) shape into the shape the unit stores in memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from npusim.hw.schema import Chip, PaddingRule, TensorLayout
from npusim.ir import Precision


@dataclass(frozen=True, slots=True)
class Layout:
    """How one tensor sits in memory: valid shape (ONNX order), aligned shape and byte
    strides in the native order named by `dims`, and the bytes the padding adds."""

    tensor: str
    unit: str | None
    format: str
    valid_shape: tuple[int, ...]
    dims: tuple[str, ...]
    aligned_shape: tuple[int, ...]
    strides_bytes: tuple[int, ...]
    itemsize: float
    valid_bytes: int
    aligned_bytes: int
    rule: str

    @property
    def padding_bytes(self) -> int:
        return self.aligned_bytes - self.valid_bytes

    def to_dict(self) -> dict:
        return {"tensor": self.tensor, "unit": self.unit, "format": self.format,
                "valid_shape": list(self.valid_shape), "dims": list(self.dims),
                "aligned_shape": list(self.aligned_shape),
                "strides_bytes": list(self.strides_bytes), "itemsize": self.itemsize,
                "valid_bytes": self.valid_bytes, "aligned_bytes": self.aligned_bytes,
                "padding_bytes": self.padding_bytes, "rule": self.rule}


def layout_rule(chip: Chip, unit: str | None, precision: Precision) -> TensorLayout | None:
    """The profile's layout for activations of `unit` at `precision`, if it gives one: the
    one lookup of a unit's native format (layouts, hand-off reformats)."""
    for lay in chip.layouts:
        if lay.unit == unit and (lay.precisions is None or precision in lay.precisions):
            return lay
    return None


def tensor_layout(name: str, shape: tuple[int, ...], itemsize: float, rule: TensorLayout | None
                  ) -> Layout:
    """Apply a profile layout (or none: plain row-major) to a tensor of `shape`.

    Rank-4 tensors are NCHW in ONNX; every other rank is taken as channels-last (the last
    axis is C, then W, H, N going left), as NPUs store sequence and matrix activations."""
    shape = tuple(int(d) for d in shape)
    valid_bytes = math.ceil(math.prod(shape) * itemsize)
    if rule is None:
        return _linear(name, None, "linear", shape, itemsize, valid_bytes, "no layout rule")
    fmt = rule.format
    n, c, h, w = _nchw(shape)
    c_al = _round_up(c, rule.channel_align)
    h_al, w_al = h, w
    applied = [f"C to a multiple of {rule.channel_align}"] if rule.channel_align > 1 else []
    padding = _first_rule(rule.padding, c)
    if padding is not None and padding.format is not None:
        fmt = padding.format
    if padding is not None:
        if padding.channel_bytes_step:
            c_bytes = _pad_channel_bytes(math.ceil(c_al * itemsize), padding.channel_bytes_step,
                                         padding.channel_bytes_residues)
            c_al = max(c_al, math.ceil(c_bytes / itemsize))
            residues = ",".join(str(r) for r in padding.channel_bytes_residues)
            applied.append(f"C bytes to {padding.channel_bytes_step}k+{{{residues}}}")
        align = padding.dim_align
        n = _round_up(n, align.get("N", 1))
        c_al = _round_up(c_al, align.get("C", 1))
        h_al = _round_up(h, align.get("H", 1))
        w_al = _round_up(w, align.get("W", 1))
        applied += [f"{d} to {k}" for d, k in sorted(align.items()) if k > 1]
    text = f"{fmt}: " + ("; ".join(applied) if applied else "no padding")
    if fmt in _VECTOR_ATOMS and len(shape) == 4:
        atom = _VECTOR_ATOMS[fmt]
        c_al = _round_up(c_al, atom)
        dims = ("N", f"C/{atom}", "H", "W", f"C%{atom}")
        aligned = (shape[0], c_al // atom, h_al, w_al, atom)
    elif len(shape) == 4 and fmt in ("NHWC", "HWC4"):
        dims, aligned = ("N", "H", "W", "C"), (shape[0], h_al, w_al, c_al)
    elif len(shape) == 4:
        dims, aligned = ("N", "C", "H", "W"), (shape[0], c_al, h_al, w_al)
    else:
        aligned = _channels_last(shape, c_al, h_al, w_al)
        dims = ("N", "H", "W", "C")[4 - len(shape):] if len(shape) <= 4 else tuple(
            f"d{i}" for i in range(len(shape)))
    strides = _strides(aligned, itemsize)
    aligned_bytes = math.ceil(math.prod(aligned) * itemsize)
    return Layout(name, rule.unit, fmt, shape, dims, aligned, strides, itemsize, valid_bytes,
                  max(aligned_bytes, valid_bytes), text)


_VECTOR_ATOMS = {"CHW16": 16, "CHW32": 32, "NC/32HW32": 32, "NC/4HW4": 4}  # channels a vector


def pad_channel_bytes(c_bytes: int, step: int, residues: list[int] | tuple[int, ...]) -> int:
    """Smallest step x k + r (k >= 0, r in residues) that is at least `c_bytes`."""
    return _pad_channel_bytes(c_bytes, step, residues)


def _pad_channel_bytes(c_bytes: int, step: int, residues) -> int:
    k = c_bytes // step
    candidates = [step * k + r for r in residues] + [step * (k + 1) + min(residues)]
    return min(x for x in candidates if x >= c_bytes)


def _first_rule(rules: list[PaddingRule], c: int) -> PaddingRule | None:
    for r in rules:
        if r.channels_above is not None and not c > r.channels_above:
            continue
        if r.channels_at_most is not None and not c <= r.channels_at_most:
            continue
        return r
    return None


def _nchw(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(N, C, H, W) of a shape: NCHW for rank 4, channels-last otherwise."""
    if len(shape) == 4:
        return shape[0], shape[1], shape[2], shape[3]
    padded = (1, 1, 1, 1, *shape)[-4:] if len(shape) <= 4 else (  # a scalar is 1x1x1x1
        math.prod(shape[:-3]), *shape[-3:])
    n, h, w, c = padded
    return n, c, h, w


def _channels_last(shape, c_al, h_al, w_al) -> tuple[int, ...]:
    out = list(shape)
    if out:
        out[-1] = c_al
    if len(out) >= 2:
        out[-2] = w_al
    if len(out) >= 3:
        out[-3] = h_al
    return tuple(out)


def _linear(name, unit, fmt, shape, itemsize, valid_bytes, rule) -> Layout:
    dims = tuple(f"d{i}" for i in range(len(shape)))
    return Layout(name, unit, fmt, shape, dims, shape, _strides(shape, itemsize), itemsize,
                  valid_bytes, valid_bytes, rule)


def _strides(shape: tuple[int, ...], itemsize: float) -> tuple[int, ...]:
    strides, acc = [], itemsize
    for d in reversed(shape):
        strides.append(math.ceil(acc))
        acc *= d
    return tuple(reversed(strides))


def _round_up(x: int, k: int) -> int:
    return -(-x // k) * k if k > 1 else x
