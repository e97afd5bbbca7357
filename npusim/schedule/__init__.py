"""Schedule a fusion plan in time (units, DMA channels) and place its tensors in memory:
`schedule(plan) -> Timeline`, `place(timeline) -> MemoryMap`; each result holds the one before.
"""

from __future__ import annotations

from npusim.schedule.memory_map import LevelUsage, MemoryMap, Placement, place
from npusim.schedule.placement import Arena, Request, greedy_by_size
from npusim.schedule.spill import schedule
from npusim.schedule.timeline import (
                                      Buffer,
                                      Event,
                                      GroupSpan,
                                      Lane,
                                      TensorTraffic,
                                      Timeline,
)

__all__ = ["Arena", "Buffer", "Event", "GroupSpan", "Lane", "LevelUsage", "MemoryMap",
           "Placement", "Request", "TensorTraffic", "Timeline", "greedy_by_size",
           "place", "schedule"]

