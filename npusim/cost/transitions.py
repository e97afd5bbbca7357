"""Cost of handing a tensor from one compute unit to another (DLA <-> GPU fallback): both
units' fixed hand-off cost, plus a DRAM read and write to reformat when layouts differ."""

from __future__ import annotations

from npusim.hw.layout import layout_rule
from npusim.hw.schema import Chip, ComputeUnit, figure_path
from npusim.ir import Precision


def native_format(chip: Chip, unit: ComputeUnit, precision: Precision) -> str | None:
    """The layout the chip's profile gives `unit` at `precision`, if any."""
    rule = layout_rule(chip, unit.name, precision)
    return None if rule is None else rule.format


def handoff_s(nbytes: float, src: ComputeUnit, dst: ComputeUnit, chip: Chip,
              precision: Precision) -> tuple[float, tuple[str, ...]]:
    """Seconds to pass an `nbytes` tensor produced on `src` to a reader on `dst`."""
    if src.name == dst.name:
        return 0.0, ()
    seconds, uses = 0.0, []
    for unit in (src, dst):
        if unit.handoff_us is not None:
            seconds += unit.handoff_us.value * 1e-6
            uses.append(figure_path(unit, "handoff_us"))
    a, b = native_format(chip, src, precision), native_format(chip, dst, precision)
    if a is not None and b is not None and a != b:
        dram = chip.dram
        seconds += 2 * nbytes / (dram.achieved_bandwidth_GBps * 1e9)
        uses.append(figure_path(dram, "bandwidth_GBps"))
        if dram.efficiency is not None:
            uses.append(figure_path(dram, "efficiency"))
    return seconds, tuple(uses)


def reformat_s(nbytes: float, unit: ComputeUnit, chip: Chip) -> tuple[float, tuple[str, ...]]:
    """Seconds of the reformat kernel a builder inserts where two precisions meet on one unit
    (int8 <-> fp16 in a TensorRT int8 build): one more kernel that reads the tensor in one
    precision and writes it in the other (`nbytes`, both together) at the DRAM bandwidth."""
    dram = chip.dram
    seconds = unit.op_overhead_us.value * 1e-6 + nbytes / (dram.achieved_bandwidth_GBps * 1e9)
    uses = [figure_path(unit, "op_overhead_us"), figure_path(dram, "bandwidth_GBps")]
    if dram.efficiency is not None:
        uses.append(figure_path(dram, "efficiency"))
    return seconds, tuple(uses)
