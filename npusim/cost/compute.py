"""Compute time of one op on one unit: the seam where per-architecture models plug in.

The first model is the ideal one: MACs at the unit's dense peak, vector ops at its vector
peak, work split evenly over the unit's instances. `compute_time` is the only function the
rest of npusim calls, so a better model (array utilization, GPU tiles and waves) replaces it
without touching fusion or scheduling.
"""

from __future__ import annotations

from dataclasses import dataclass

from npusim.hw.schema import ComputeUnit, figure_path
from npusim.ir import Graph, OpWork, Precision


@dataclass(frozen=True, slots=True)
class ComputeTime:
    """Seconds on the MAC array and on the vector unit, and the figures they used."""

    mac_s: float
    vector_s: float
    uses: tuple[str, ...]


def compute_time(work: OpWork, graph: Graph, unit: ComputeUnit, precision: Precision
                 ) -> ComputeTime:
    rate = unit.count.value * unit.clock_MHz.value * 1e6
    mac_s = work.macs / (rate * unit.macs_per_cycle[precision].value)
    vector_s = work.vector_ops / (rate * unit.vector_ops_per_cycle[precision].value)
    uses = [figure_path(unit, "count"), figure_path(unit, "clock_MHz")]
    if work.macs:
        uses.append(figure_path(unit, "macs_per_cycle", precision.value))
    if work.vector_ops:
        uses.append(figure_path(unit, "vector_ops_per_cycle", precision.value))
    return ComputeTime(mac_s, vector_s, tuple(uses))
