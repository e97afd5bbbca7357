"""Errors a user can cause, each saying what went wrong and where.

The CLI catches `NpusimError` and prints its message on one line (exit 2); anything else that
escapes is a bug in npusim, not a user mistake.
"""

from __future__ import annotations


class NpusimError(Exception):
    """Base of every error caused by user input (a file, a profile, a flag)."""


class ModelLoadError(NpusimError):
    """The ONNX file is missing, truncated, corrupt or fails onnx.checker."""


class UnsupportedOpError(NpusimError):
    """An operator npusim has no rule for, or that no unit of the chip can run."""


class ShapeError(NpusimError):
    """A tensor shape is unknown, symbolic and unbound, or inconsistent."""


class GraphError(NpusimError):
    """The graph itself is malformed: a cycle, a dangling input, a duplicate name."""


class ProfileError(NpusimError):
    """A hardware profile is unknown, unreadable or fails validation."""


class NumericsError(NpusimError):
    """A quantization or numerics request that cannot be carried out as asked."""
