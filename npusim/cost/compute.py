"""Compute time of one op on one unit: the one seam where per-architecture models plug in.
MAC work goes to the unit's model (array for npu/dla, implicit GEMM for gpu, else ideal)."""

from __future__ import annotations

from dataclasses import dataclass

from npusim.cost.gemm import MacTime, mac_shape
from npusim.cost.gpu import gemm_time
from npusim.cost.npu import array_time
from npusim.hw.schema import Chip, ComputeUnit, figure_path
from npusim.ir import Graph, OpWork, Precision


@dataclass(frozen=True, slots=True)
class ComputeTime:
    """Seconds on the MAC array and on the vector unit, and the figures they used.

    `utilization`: useful MACs over the MAC slots the mapping occupies (1 for the ideal
    model); `mapping`: how the op maps (array passes, GPU tile and waves); `split`: how a
    multi-core unit shares the op (batch, out-channels, rows); `extra_dram_bytes`: DRAM
    traffic the mapping adds to reading each input and writing each output once."""

    mac_s: float
    vector_s: float
    uses: tuple[str, ...]
    utilization: float = 1.0
    mapping: str = ""
    split: str | None = None
    extra_dram_bytes: float = 0.0


def compute_time(work: OpWork, graph: Graph, unit: ComputeUnit, precision: Precision,
                 chip: Chip | None = None) -> ComputeTime:
    """Time of `work` on `unit`. Vector ops run at the unit's vector peak; MACs go to the
    unit's MAC model when its profile describes one (`array` for npu/dla, `gpu` for gpu) and
    the op's shape is known, else to the ideal model (dense peak, work split evenly).
    `chip` gives the DRAM bandwidth a multi-core split or an L2 spill is weighed at."""
    rate = unit.count.value * unit.clock_MHz.value * 1e6
    vector_s = work.vector_ops / (rate * unit.vector_ops_per_cycle[precision].value)
    vector_uses = ((figure_path(unit, "count"), figure_path(unit, "clock_MHz"),
                    figure_path(unit, "vector_ops_per_cycle", precision.value))
                   if work.vector_ops else ())
    mac = _mac_time(work, graph, unit, precision, chip) if work.macs else None
    if mac is None:
        mac_s = work.macs / (rate * unit.macs_per_cycle[precision].value)
        uses = [figure_path(unit, "count"), figure_path(unit, "clock_MHz")]
        if work.macs:
            uses.append(figure_path(unit, "macs_per_cycle", precision.value))
        uses.extend(u for u in vector_uses if u not in uses)
        return ComputeTime(mac_s, vector_s, tuple(uses))
    uses = list(mac.uses) + [u for u in vector_uses if u not in mac.uses]
    return ComputeTime(mac.seconds, vector_s, tuple(uses), mac.utilization, mac.mapping,
                       mac.split, mac.extra_dram_bytes)


def _mac_time(work: OpWork, graph: Graph, unit: ComputeUnit, precision: Precision,
              chip: Chip | None) -> MacTime | None:
    has_array = unit.kind in ("npu", "dla") and unit.array is not None
    has_gpu = unit.kind == "gpu" and unit.gpu is not None and precision in unit.gpu.tiles
    if not (has_array or has_gpu):
        return None
    shape = mac_shape(graph.node(work.node), graph, work.macs)
    if shape is None:
        return None
    dram_Bps = chip.dram.achieved_bandwidth_GBps * 1e9 if chip is not None else None
    if has_array:
        return array_time(shape, unit, precision, dram_Bps)
    l2 = chip.level(unit.gpu.l2) if chip is not None else None
    return gemm_time(shape, unit, precision, l2, dram_Bps)
