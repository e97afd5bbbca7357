"""Offline memory placement: greedy by size with best fit, the arena planner of TFLite.
Buffers (size, live interval) get aligned addresses; two buffers live at once never overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Request:
    """A buffer to place: `size_bytes` live over [start_ms, end_ms)."""

    name: str
    size_bytes: int
    start_ms: float
    end_ms: float


@dataclass(frozen=True, slots=True)
class Arena:
    """Result for one memory level: offset of every placed buffer, and those that did not
    fit under `capacity_bytes` (the caller spills them)."""

    offsets: dict[str, int]
    unplaced: tuple[str, ...]
    arena_bytes: int        # highest address used (the level's footprint)
    peak_bytes: int         # most bytes live at one instant (the lower bound on arena_bytes)
    peak_at_ms: float


def greedy_by_size(requests: Sequence[Request], alignment_bytes: int = 1,
                   capacity_bytes: int | None = None) -> Arena:
    """Place `requests`: from the largest down, each takes the smallest aligned gap left
    between the placed buffers whose lifetimes overlap its own (best fit), else goes above
    them all (Pisarchyk & Lee, "Efficient Memory Management for Deep Neural Net Inference",
    2020; TFLite's greedy memory planner). Intervals are half-open [first write, last read):
    a buffer freed at t can be reused by one first written at t. Ties in size break by start
    time, then name, so the result is deterministic."""
    align = max(1, int(alignment_bytes))
    order = sorted(range(len(requests)), key=lambda i: (
        -requests[i].size_bytes, requests[i].start_ms, requests[i].name))
    n = len(requests)
    starts = np.empty(n)
    ends = np.empty(n)
    lows = np.empty(n, dtype=np.int64)
    highs = np.empty(n, dtype=np.int64)
    k = 0
    offsets: dict[str, int] = {}
    unplaced: list[str] = []
    for i in order:
        r = requests[i]
        size = int(r.size_bytes)
        live = (starts[:k] < r.end_ms) & (r.start_ms < ends[:k])
        offset = _best_fit(lows[:k][live], highs[:k][live], size, align)
        if capacity_bytes is not None and offset + size > capacity_bytes:
            unplaced.append(r.name)
            continue
        starts[k], ends[k], lows[k], highs[k] = r.start_ms, r.end_ms, offset, offset + size
        k += 1
        offsets[r.name] = offset
    arena = int(highs[:k].max()) if k else 0
    placed = [r for r in requests if r.name in offsets]
    peak, at = peak_live_bytes(placed)
    return Arena(offsets, tuple(sorted(unplaced)), arena, peak, at)


def _best_fit(lows: np.ndarray, highs: np.ndarray, size: int, align: int) -> int:
    """Lowest-waste aligned offset for `size` bytes among occupied ranges [low, high)."""
    if lows.size == 0:
        return 0
    idx = np.argsort(lows, kind="stable")
    lows, highs = lows[idx], highs[idx]
    # The free gap before range j starts at the highest end of every range below it.
    reach = np.maximum.accumulate(highs)
    gap_start = np.concatenate(([0], reach[:-1]))
    gap_start = -(-gap_start // align) * align
    gap = lows - gap_start
    fits = gap >= size
    if fits.any():
        j = np.flatnonzero(fits)[np.argmin(gap[fits])]
        return int(gap_start[j])
    return int(-(-reach[-1] // align) * align)


def peak_live_bytes(requests: Sequence[Request]) -> tuple[int, float]:
    """Most bytes live at one instant, and the first instant it happens (sweep line)."""
    if not requests:
        return 0, 0.0
    # At equal times frees (-size) come before allocations: intervals are half-open.
    points = sorted([(r.start_ms, 1, r.size_bytes) for r in requests]
                    + [(r.end_ms, 0, -r.size_bytes) for r in requests])
    live = peak = 0
    at = 0.0
    for t, _, delta in points:
        live += delta
        if live > peak:
            peak, at = live, t
    return int(peak), float(at)
