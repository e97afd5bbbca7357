"""DRAM time of a group's transfers: bytes at the achieved bandwidth, and, for a unit with a
DMA engine, a setup latency per transfer and each transfer rounded up to whole bursts."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping

from npusim.hw.schema import ComputeUnit, MemoryLevel, figure_path


def dram_time_s(total_bytes: float, transfers: Iterable[float], dram: MemoryLevel,
                unit: ComputeUnit) -> tuple[float, tuple[str, ...]]:
    """Seconds to move `total_bytes` (the exact DRAM traffic) issued as `transfers` (bytes of
    each DMA transfer, used for the burst padding and the setup count), and the figures used."""
    uses = [figure_path(dram, "bandwidth_GBps")]
    if dram.efficiency is not None:
        uses.append(figure_path(dram, "efficiency"))
    bandwidth_Bps = dram.achieved_bandwidth_GBps * 1e9
    dma = unit.dma
    if dma is None:
        if dram.half_bandwidth_bytes is not None and total_bytes > 0:
            # a kernel reaches the achieved bandwidth only on large transfers: moving B
            # bytes takes (B + B_half) / bandwidth (B_half: where it gets half)
            uses.append(figure_path(dram, "half_bandwidth_bytes"))
            return (total_bytes + dram.half_bandwidth_bytes.value) / bandwidth_Bps, tuple(uses)
        return total_bytes / bandwidth_Bps, tuple(uses)
    burst = dma.burst_bytes.value
    sizes = [b for b in transfers if b > 0]
    padding = sum(math.ceil(b / burst) * burst - b for b in sizes)
    uses += [figure_path(unit, "dma.burst_bytes"), figure_path(unit, "dma.setup_us")]
    seconds = len(sizes) * dma.setup_us.value * 1e-6 + (total_bytes + padding) / bandwidth_Bps
    return seconds, tuple(uses)


def group_transfers(loads: Mapping[str, float], stores: Mapping[str, float],
                    constants: Collection[str], tiles: int, resident: bool) -> list[float]:
    """Bytes of each DMA transfer of a group: one per tensor per row tile, except a
    resident weight, loaded once."""
    sizes: list[float] = []
    for root, nbytes in loads.items():
        n = 1 if resident and root in constants else tiles
        sizes += [nbytes / n] * n
    for nbytes in stores.values():
        sizes += [nbytes / tiles] * tiles
    return sizes
