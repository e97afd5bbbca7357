"""The roofline of a plan: each fused group's arithmetic intensity and achieved throughput
against the chip's roofs (compute peak per unit at the precision, DRAM at achieved bandwidth).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from npusim.hw.schema import Chip, figure_path
from npusim.ir import Precision

UNIT_COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860")


class GroupCost(Protocol):
    """What the roofline reads from a group: `LayerRow` (simulate) and `OpCost` (plans)."""

    name: str
    unit: str
    macs: int
    vector_ops: int
    bytes_loaded: int
    bytes_stored: int
    latency_ms: float
    bound_by: str
    rests_on: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RooflinePoint:
    """One group: ops = 2 x MACs + vector ops, bytes = DRAM bytes loaded + stored."""

    index: int                   # 1-based position in execution order, as in the layer table
    name: str
    unit: str
    ops: int
    ddr_bytes: int
    latency_ms: float
    bound_by: str
    estimated: bool

    @property
    def intensity(self) -> float:
        """Ops per DRAM byte (inf for a group that touches no DRAM)."""
        return self.ops / self.ddr_bytes if self.ddr_bytes else float("inf")

    @property
    def ops_per_s(self) -> float:
        return self.ops / (self.latency_ms * 1e-3) if self.latency_ms > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Roof:
    """A ceiling: `ops_per_s` for a compute roof, `bytes_per_s` for the DRAM slope."""

    label: str
    kind: str                    # "compute" or "dram"
    value: float                 # ops/s (compute) or bytes/s (dram)
    unit: str | None
    rests_on: tuple[str, ...]    # estimated profile figures the roof is computed from


def roofline_points(groups: Sequence[GroupCost]) -> tuple[RooflinePoint, ...]:
    """Every group in order; views (no ops, no time) are kept so indices match the table."""
    return tuple(RooflinePoint(i, g.name, g.unit, 2 * g.macs + g.vector_ops,
                               g.bytes_loaded + g.bytes_stored, g.latency_ms, g.bound_by,
                               bool(g.rests_on))
                 for i, g in enumerate(groups, start=1))


def plottable(points: Iterable[RooflinePoint]) -> tuple[RooflinePoint, ...]:
    """Points a log-log plot can show: ops, DRAM bytes and time all positive."""
    return tuple(p for p in points if p.ops > 0 and p.ddr_bytes > 0 and p.latency_ms > 0)


def roofs(chip: Chip, precision: str | Precision, units: Iterable[str]) -> tuple[Roof, ...]:
    """The compute roof of each named unit at `precision` and the DRAM roof."""
    prec = Precision(precision)
    estimated = chip.estimated_figures()
    out = []
    for name in sorted(set(units)):
        unit = chip.unit(name)
        if prec not in unit.macs_per_cycle:
            continue
        paths = (figure_path(unit, "count"), figure_path(unit, "clock_MHz"),
                 figure_path(unit, "macs_per_cycle", prec.value))
        out.append(Roof(f"{name} peak {unit.peak_tops(prec):.3g} TOPS {prec.value}",
                        "compute", unit.peak_tops(prec) * 1e12, name,
                        tuple(p for p in paths if p in estimated)))
    dram = chip.dram
    paths = [figure_path(dram, "bandwidth_GBps")]
    if dram.efficiency is not None:
        paths.append(figure_path(dram, "efficiency"))
    out.append(Roof(f"{dram.name} {dram.achieved_bandwidth_GBps:.4g} GB/s achieved", "dram",
                    dram.achieved_bandwidth_GBps * 1e9, None,
                    tuple(p for p in paths if p in estimated)))
    return tuple(out)


def plot_roofline(points: Sequence[RooflinePoint], ceilings: Sequence[Roof], title: str,
                  label_limit: int = 30):
    """A log-log matplotlib Figure (Agg canvas, no pyplot state): intensity on x, achieved
    TOPS on y, a marker per group coloured by unit, numbered as in the layer table."""
    import math

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = plottable(points)
    fig = Figure(figsize=(6.4, 4.0))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    dram = next((r for r in ceilings if r.kind == "dram"), None)
    peaks = [r for r in ceilings if r.kind == "compute"]
    xs = [p.intensity for p in shown]
    top = max([r.value for r in peaks] + [p.ops_per_s for p in shown] + [1.0])
    ridge = [r.value / dram.value for r in peaks] if dram else []
    lo = min(xs + ridge + [1.0]) / 4
    hi = max(xs + ridge + [10.0]) * 4
    units = sorted({r.unit for r in peaks} | {p.unit for p in shown})
    color = {u: UNIT_COLORS[i % len(UNIT_COLORS)] for i, u in enumerate(units)}
    for r in peaks:
        knee = r.value / dram.value if dram else lo
        ax.plot([max(knee, lo), hi], [r.value / 1e12] * 2, color=color[r.unit], linewidth=1.6)
        ax.annotate(r.label + (" *" if r.rests_on else ""), (hi, r.value / 1e12),
                    textcoords="offset points", xytext=(-4, 4), ha="right", fontsize=8,
                    color=color[r.unit])
    if dram is not None:
        knee_top = max([r.value for r in peaks] + [top])
        xe = min(hi, knee_top / dram.value)
        ax.plot([lo, xe], [lo * dram.value / 1e12, xe * dram.value / 1e12], color="#444444",
                linewidth=1.6)
        xl = math.sqrt(lo * max(xe, lo * 1.01))
        ax.annotate(dram.label + (" *" if dram.rests_on else ""), (xl, xl * dram.value / 1e12),
                    textcoords="offset points", xytext=(6, -2), ha="left", va="top",
                    fontsize=8, color="#444444", rotation=0)
    for u in units:
        mine = [p for p in shown if p.unit == u]
        if mine:
            ax.scatter([p.intensity for p in mine], [p.ops_per_s / 1e12 for p in mine], s=28,
                       color=color[u], edgecolor="white", linewidth=0.6, zorder=3,
                       label=f"{u} ({len(mine)} groups)")
    if len(shown) <= label_limit:
        for k, p in enumerate(sorted(shown, key=lambda p: p.intensity)):
            # alternate above / below so neighbours on the DRAM slope stay readable
            ax.annotate(str(p.index), (p.intensity, p.ops_per_s / 1e12),
                        textcoords="offset points", xytext=(-2, 6) if k % 2 else (4, -11),
                        fontsize=7, color="#333333")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    bottom = min([p.ops_per_s / 1e12 for p in shown] + [lo * (dram.value if dram else 1e9) / 1e12])
    ax.set_ylim(bottom / 2, top / 1e12 * 2.5)
    ax.set_xlabel("arithmetic intensity (ops / DRAM byte)")
    ax.set_ylabel("achieved TOPS")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="major", linewidth=0.4, alpha=0.5)
    if shown:
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
