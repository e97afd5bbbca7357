"""MAC-array model of an NPU or DLA: channel and spatial padding to the array, kernel folding
for thin first layers, grouped convs on a dense array, and the best multi-core split."""

from __future__ import annotations

import math
from dataclasses import dataclass

from npusim.cost.gemm import MacShape, MacTime
from npusim.hw.schema import ComputeUnit, figure_path
from npusim.ir import Precision


@dataclass(frozen=True, slots=True)
class _Option:
    split: str | None
    cycles: int
    extra_bytes: float


def reduction_passes(shape: MacShape, input_channels: int, fold: bool) -> tuple[int, str]:
    """Array passes per output position and output-channel block: the reduction (input
    channels, padded to the array width) once per kernel tap, unless a thin input folds the
    kernel width, or the stride (space-to-depth), into channels: fewer, fuller passes."""
    kh, kw = shape.kernel
    sh, sw = shape.stride
    c = shape.in_channels
    options = [(math.ceil(c / input_channels) * kh * kw, "")]
    if fold and c < input_channels:
        options.append((math.ceil(c * kw / input_channels) * kh, "kernel width folded"))
        if sh > 1 or sw > 1:
            options.append((math.ceil(c * sh * sw / input_channels)
                            * math.ceil(kh / sh) * math.ceil(kw / sw), f"space-to-depth {sh}x{sw}"))
    return min(options, key=lambda o: o[0])


def array_time(shape: MacShape, unit: ComputeUnit, precision: Precision,
               dram_Bps: float | None) -> MacTime:
    """Seconds on `unit.count` array instances. Each cycle an instance reduces
    `input_channels` inputs into `output_channels` outputs at `spatial` output pixels along W
    (spatial = macs_per_cycle / (input x output channels)); every dimension rounds up."""
    array = unit.array
    ci, co = int(array.input_channels.value), int(array.output_channels.value)
    mpc = unit.macs_per_cycle[precision].value
    spatial = max(1, int(mpc // (ci * co)))
    passes, fold = reduction_passes(shape, ci, array.fold_small_channels)
    width_steps = math.ceil(shape.width / spatial)

    def cycles(batch: int, groups: int, rows: int, width_steps: int, cout: int) -> int:
        return batch * groups * rows * width_steps * math.ceil(cout / co) * passes

    s, cores = shape, int(unit.count.value)
    nbytes = precision.activation_bytes
    whole = cycles(s.batch, s.groups, s.rows, width_steps, s.out_channels)
    options = [_Option(None, whole, 0.0)]
    if cores > 1:
        options = _splits(s, cores, cycles, width_steps, spatial, nbytes)
    clock_hz = unit.clock_MHz.value * 1e6

    def cost(o: _Option) -> tuple[float, float]:
        seconds = o.cycles / clock_hz
        return (seconds + (o.extra_bytes / dram_Bps if dram_Bps else 0.0), o.extra_bytes)

    if array.depthwise_macs_per_cycle is not None and s.in_channels == 1 and s.groups > 1:
        # channel-wise mode: each output channel reduces its own kh x kw window
        dw = math.ceil(s.macs / (array.depthwise_macs_per_cycle.value * cores))
        options = [_Option("channel-wise", dw, 0.0)] + options
    if array.efficiency is not None:
        options = [_Option(o.split, math.ceil(o.cycles / array.efficiency.value), o.extra_bytes)
                   for o in options]
    best = min(options, key=cost)
    utilization = s.macs / (best.cycles * mpc * cores) if best.cycles else 1.0
    mapping = (f"array {ci}x{co}x{spatial}: {passes} pass(es)/position"
               + (f", {fold}" if fold else "") + (f", groups {s.groups}" if s.groups > 1 else "")
               + f", utilization {utilization:.0%}")
    uses = [figure_path(unit, "count"), figure_path(unit, "clock_MHz"),
            figure_path(unit, "macs_per_cycle", precision.value),
            figure_path(unit, "array.input_channels"), figure_path(unit, "array.output_channels")]
    if best.split == "channel-wise":
        uses.append(figure_path(unit, "array.depthwise_macs_per_cycle"))
    if array.efficiency is not None:
        uses.append(figure_path(unit, "array.efficiency"))
    return MacTime(best.cycles / clock_hz, tuple(uses), utilization, mapping, best.split,
                   best.extra_bytes)


def _splits(s: MacShape, cores: int, cycles, width_steps: int, spatial: int, nbytes: float
            ) -> list[_Option]:
    """Ways to share one op between cores, each with the DRAM bytes it adds: by batch (each
    core loads all weights), by output channels (each core reads the whole input; a grouped
    conv splits its groups and reads only their inputs), by rows (each core loads all
    weights and the halo rows); a matmul's rows are its output positions (W)."""
    weights = s.weight_elements * nbytes
    options = []
    if s.batch > 1:
        used = min(cores, s.batch)
        options.append(_Option("batch", cycles(math.ceil(s.batch / cores), s.groups, s.rows,
                                                width_steps, s.out_channels),
                               (used - 1) * weights))
    if s.groups > 1:
        options.append(_Option("out-channels", cycles(s.batch, math.ceil(s.groups / cores),
                                                      s.rows, width_steps, s.out_channels), 0.0))
    elif s.out_channels > 1:
        options.append(_Option("out-channels", cycles(s.batch, 1, s.rows, width_steps,
                                                      math.ceil(s.out_channels / cores)),
                               (cores - 1) * s.input_elements * nbytes))
    if s.rows > 1:
        kh, sh = s.kernel[0], s.stride[0]
        halo = max(0, kh - sh) * s.width * s.stride[1] * s.in_channels * s.groups * s.batch
        options.append(_Option("rows", cycles(s.batch, s.groups, math.ceil(s.rows / cores),
                                              width_steps, s.out_channels),
                               (cores - 1) * (weights + halo * nbytes)))
    elif s.width > 1:
        options.append(_Option("rows", cycles(s.batch, s.groups, 1,
                                              math.ceil(math.ceil(s.width / cores) / spatial),
                                              s.out_channels), (cores - 1) * weights))
    if not options:
        options.append(_Option("one core", cycles(s.batch, s.groups, s.rows, width_steps,
                                                  s.out_channels), 0.0))
    return options
