"""What pricing one op or one fused group returns: `OpCost`, with the tiling it chose and
every tensor it moves over DRAM (`Traffic`), so the scheduler places exactly what was priced.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from npusim.ir import FusionKind, Precision

WeightMode = Literal["resident", "streamed"]
Direction = Literal["load", "store"]


class Bound(str, enum.Enum):
    """What limits a group's time."""

    COMPUTE = "compute"
    MEMORY = "memory"
    OVERHEAD = "overhead"
    VIEW = "view"          # moves no data, takes no time


@dataclass(frozen=True, slots=True)
class Tiling:
    """Row tiles along axis -2, and whether weights stay resident or stream per tile."""

    row_tiles: int = 1
    weights: WeightMode = "resident"


@dataclass(frozen=True, slots=True)
class Traffic:
    """One tensor a group moves between DRAM and the unit, as priced.

    `tensor_bytes`: one copy at its precision, without layout padding; `bytes_moved`: over
    all row tiles (halo rows reloaded, streamed weights reloaded per tile, operand re-reads
    the mapping adds); `rows_per_tile`: rows one interior tile touches, None when every tile
    needs the whole tensor (or there is one tile)."""

    tensor: str
    direction: Direction
    constant: bool
    tensor_bytes: int
    bytes_moved: int
    rows_per_tile: int | None = None


@dataclass(frozen=True, slots=True)
class OpCost:
    """Cost of one op or one fused group on one unit, priced in isolation."""

    name: str
    op_types: tuple[str, ...]
    kind: FusionKind
    unit: str
    precision: Precision
    macs: int
    vector_ops: int
    bytes_loaded: int   # the sum of the loads' bytes_moved
    bytes_stored: int   # the sum of the stores' bytes_moved
    compute_ms: float
    memory_ms: float
    overhead_ms: float
    latency_ms: float
    bound_by: Bound
    rests_on: tuple[str, ...]
    members: tuple[str, ...] = ()
    tiling: Tiling = Tiling()
    traffic: tuple[Traffic, ...] = ()
    working_set_bytes: int = 0
    sram_level: str | None = None
    sram_capacity_bytes: int = 0
    recompute_macs: int = 0
    resident: tuple[str, ...] = ()
    internal: tuple[str, ...] = ()  # tensors a fused group keeps on chip between members
    transition_ms: float = 0.0  # handing inputs over from another unit (DLA <-> GPU)

    @property
    def is_view(self) -> bool:
        return self.bound_by is Bound.VIEW

    @property
    def loads(self) -> tuple[Traffic, ...]:
        return tuple(t for t in self.traffic if t.direction == "load")

    @property
    def stores(self) -> tuple[Traffic, ...]:
        return tuple(t for t in self.traffic if t.direction == "store")

    @property
    def ddr_bytes(self) -> int:
        return self.bytes_loaded + self.bytes_stored


Objective = Callable[[OpCost], tuple[float, ...]]


def by_latency(c: OpCost) -> tuple[float, float]:
    return (c.latency_ms, c.ddr_bytes)


def by_ddr(c: OpCost) -> tuple[float, float]:
    return (c.ddr_bytes, c.latency_ms)
