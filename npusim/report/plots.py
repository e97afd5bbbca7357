"""Memory-over-time picture of a MemoryMap: one panel per level, a rectangle per buffer
(time on x, address on y), as memory planners draw them; PNG or SVG by file suffix.
"""

from __future__ import annotations

import os
from pathlib import Path

from npusim.errors import NpusimError
from npusim.schedule.memory_map import MemoryMap

KIND_COLORS = {
    "weight": "#4C72B0", "weight-chunk": "#8FAADC", "activation": "#DD8452",
    "tile": "#F2B880", "internal": "#55A868", "input": "#C44E52", "output": "#8172B3",
}


def plot_memory(memory_map: MemoryMap, path: str | os.PathLike, level: str | None = None
                ) -> None:
    """Draw every placed buffer of `level` (default: every on-chip level that holds
    buffers, or DDR when none does) and write the figure to `path` (.png or .svg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PatchCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, Rectangle

    suffix = Path(path).suffix.lower()
    if suffix not in (".png", ".svg"):
        raise NpusimError(f"plot '{path}': use a .png or .svg file name")
    mm = memory_map
    if level is not None:
        mm.level(level)  # raises for an unknown level, naming the known ones
        levels = [level]
    else:
        used = [lv for lv in mm.levels if lv.buffers]
        levels = [lv.name for lv in used if lv.kind != "dram"] or [
            lv.name for lv in used if lv.kind == "dram"]
    if not levels:
        raise NpusimError(f"{mm.model} on {mm.chip}: no buffer is placed in any level")
    fig = Figure(figsize=(11, 3.2 * len(levels)), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(levels), 1, squeeze=False)[:, 0]
    latency_us = mm.timeline.latency_ms * 1e3
    for ax, name in zip(axes, levels):
        lv = mm.level(name)
        ps = [p for p in mm.placements if p.level == name]
        unit, scale = _unit(max(lv.arena_bytes, 1))
        rects = [Rectangle((p.start_ms * 1e3, p.address / scale),
                           (p.end_ms - p.start_ms) * 1e3, p.size_bytes / scale) for p in ps]
        colors = [KIND_COLORS.get(p.kind, "#999999") for p in ps]
        ax.add_collection(PatchCollection(rects, facecolor=colors, edgecolor="black",
                                          linewidth=0.2))
        top = lv.arena_bytes / scale
        if lv.kind != "dram":
            ax.axhline(lv.capacity_bytes / scale, color="red", linestyle="--", linewidth=0.8,
                       label=f"capacity {lv.capacity_bytes / scale:g} {unit}")
            top = max(top, lv.capacity_bytes / scale)
        ax.set_xlim(0, max(latency_us, 1e-3))
        ax.set_ylim(0, max(top * 1.05, 1e-9))
        ax.set_xlabel("time (us)")
        ax.set_ylabel(f"address ({unit})")
        ax.set_title(f"{mm.model} on {mm.chip}: {name} - peak {lv.peak_bytes / scale:.4g} "
                     f"{unit} at {lv.peak_at_ms * 1e3:.4g} us, fragmentation "
                     f"{100 * lv.fragmentation:.1f}%", fontsize=9)
        kinds = sorted({p.kind for p in ps})
        handles = [Patch(color=KIND_COLORS.get(k, "#999999"), label=k) for k in kinds]
        if lv.kind != "dram":
            handles += ax.get_legend_handles_labels()[0]
        ax.legend(handles=handles, fontsize=7, loc="upper right")
    fig.tight_layout()
    if suffix == ".svg":
        import matplotlib
        with matplotlib.rc_context({"svg.hashsalt": "npusim", "svg.fonttype": "none"}):
            fig.savefig(path, format="svg", metadata={"Date": None})
    else:
        fig.savefig(path, format="png", metadata={"Software": None})


def _unit(nbytes: int) -> tuple[str, float]:
    for name, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= 4 * scale:
            return name, float(scale)
    return "B", 1.0
