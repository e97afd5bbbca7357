"""Pareto fronts of sweep rows (minimize cost x and metric y) and their plot.

A bare matplotlib Figure (no pyplot): every point faint, each model's front a step line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from npusim import outputs
from npusim.errors import NpusimError

PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def pareto_front(rows: Sequence[Mapping[str, Any]], x: str, y: str,
                 group_by: Sequence[str] = ("model",)) -> tuple[Mapping[str, Any], ...]:
    """The rows no other row of their group beats: none has x <= and y <= with one strictly
    smaller. Rows with equal (x, y) are all kept; the front keeps the input order."""
    groups: dict[tuple, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(tuple(row[g] for g in group_by), []).append(i)
    keep: set[int] = set()
    for members in groups.values():
        keep.update(_front(rows, members, x, y))
    return tuple(rows[i] for i in sorted(keep))


def _front(rows: Sequence[Mapping[str, Any]], members: list[int], x: str, y: str) -> list[int]:
    # Sweep by x ascending (then y): a row is on the front if its y is below every y seen at
    # a smaller x, or equals the best at its own x (a tie, not beaten).
    order = sorted(members, key=lambda i: (rows[i][x], rows[i][y]))
    out: list[int] = []
    best_y = float("inf")      # the smallest y at any x strictly below the current one
    at_x: tuple | None = None  # (x, smallest y) of the current x
    for i in order:
        xi, yi = rows[i][x], rows[i][y]
        if at_x is None or xi != at_x[0]:
            if at_x is not None:
                best_y = min(best_y, at_x[1])
            at_x = (xi, yi)
        if yi < best_y and yi == at_x[1]:
            out.append(i)
    return out


def plot_pareto(result, path: str | Path, x: str = "memory.sram.capacity_bytes",
                y: str = "latency_ms", group_by: str = "model") -> Path:
    """Draw `y` against `x` for every row, one colour per model, the front of each as a step
    line; PNG, SVG or PDF by the suffix of `path`."""
    path = Path(path)
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise NpusimError(f"cannot plot to '{path}': use a {', '.join(PLOT_SUFFIXES)} file")
    front = result.pareto(x, y, (group_by,))
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    labels = list(dict.fromkeys(r[group_by] for r in result.rows))
    for n, label in enumerate(labels):
        colour = f"C{n % 10}"
        pts = [(r[x], r[y]) for r in result.rows if r[group_by] == label]
        ax.scatter(*zip(*pts), s=14, alpha=0.3, color=colour)
        edge = sorted((r[x], r[y]) for r in front if r[group_by] == label)
        ax.step(*zip(*edge), where="post", marker="o", ms=4, color=colour,
                label=short_model(str(label)))
    xs = [r[x] for r in result.rows]
    if min(xs) > 0 and max(xs) / min(xs) >= 10:
        ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"Pareto front: {y} vs {x} (lower is better on both)", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    with outputs.atomic_path(path) as tmp:
        fig.savefig(tmp)
    return path


def short_model(model: str) -> str:
    """A model label for tables and legends: the file name of a path, zoo:NAME as is."""
    return Path(model).name if not model.startswith("zoo:") else model
