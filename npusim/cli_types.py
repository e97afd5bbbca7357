"""Argument types for the command line: a value argparse accepts is one the command can use,
so a negative count or a NaN target is a one-line user error, not a silent odd result."""

from __future__ import annotations

import argparse
import math


def count(text: str) -> int:
    """An integer >= 0 (0 usually means "all")."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; give 0 or more")
    return value


def finite(text: str) -> float:
    """A finite number (no nan, no inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
    return value
