"""Cost of handing a tensor from one compute unit to another (DLA <-> GPU fallback): both
units' fixed hand-off cost, plus a DRAM read and write to reformat when layouts differ."""

from __future__ import annotations

from typing import TYPE_CHECKING

from npusim.hw.layout import layout_rule
from npusim.hw.schema import Chip, ComputeUnit, figure_path
from npusim.ir import MAC_KINDS, Precision

if TYPE_CHECKING:
    from npusim.cost.problem import Problem


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


def needs_reformat(problem: Problem, reader: int, precision: Precision) -> bool:
    """True if node `reader` needs a reformat kernel to read a tensor stored at `precision`
    on its own unit. On a unit whose builder reformats (`build.reformat`), a reader at another
    precision needs one; where the unit's kernels convert in registers
    (`fusion.mixed_precision`: an int8 GEMM writes fp16, an elementwise epilogue reads int8),
    only a conv or matmul operand does, since tensor cores read their operands from memory
    in their own precision."""
    unit = problem.unit[reader]
    if unit is None or unit.build is None or not unit.build.reformat:
        return False
    if problem.precision_of(reader) is precision:
        return False
    if unit.fuses_mixed_precision:
        return problem.work[reader].kind in MAC_KINDS
    return True
