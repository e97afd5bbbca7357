"""Schedule a fusion plan in time (units, DMA channels) and place its tensors in memory.
`memory_layout` runs load -> plan -> schedule -> place and returns a frozen `MemoryMap`.
"""

from __future__ import annotations

import os

from npusim.hw import Chip
from npusim.schedule.check import placement_problems, timeline_problems
from npusim.schedule.layout import Layout, layout_rule, pad_channel_bytes, tensor_layout
from npusim.schedule.memory_map import LevelUsage, MemoryMap, Placement, place
from npusim.schedule.placement import Arena, Request, greedy_by_size
from npusim.schedule.timeline import Buffer, Event, GroupSpan, Lane, Timeline, schedule

__all__ = ["Arena", "Buffer", "Event", "GroupSpan", "Lane", "Layout", "LevelUsage",
           "MemoryMap", "Placement", "Request", "Timeline", "greedy_by_size", "layout_rule",
           "layout_of", "memory_layout", "pad_channel_bytes", "place", "placement_problems", "schedule",
           "tensor_layout", "timeline_problems"]


def memory_layout(model, chip: str | os.PathLike | Chip, shapes=None, precision="int8",
                  fusion: str = "dp", objective: str = "latency") -> MemoryMap:
    """Where every tensor of `model` lives on `chip`, from when to when, at which address.
    `model` is anything `npusim.load` takes (a path, a ModelProto, `zoo:NAME`, a Graph)."""
    from npusim import api
    from npusim.fusion import plan as fusion_plan
    graph, hw, prec, name = api.prepare(model, chip, shapes, precision)
    return layout_of(fusion_plan(graph, hw, prec, fusion, objective, name), graph, hw)


def layout_of(plan, graph, chip: Chip) -> MemoryMap:
    """Schedule an existing plan and place its tensors."""
    return place(schedule(plan, graph, chip), plan, graph, chip)
