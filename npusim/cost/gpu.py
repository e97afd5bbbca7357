"""Implicit-GEMM model of a GPU: thread-block tiles pad M, N and K (tile quantization), tiles
run in waves over the SMs (wave quantization), operands stream through L2, split-K, SIMT."""

from __future__ import annotations

import math

from npusim.cost.gemm import MacShape, MacTime
from npusim.hw.schema import ComputeUnit, MemoryLevel, figure_path
from npusim.ir import Precision


def gemm_time(shape: MacShape, unit: ComputeUnit, precision: Precision,
              l2: MemoryLevel | None, dram_Bps: float | None) -> MacTime:
    """The fastest kernel among the profile's tile shapes and split-K factors, and, for
    grouped convs, a direct CUDA-core kernel: what a TensorRT-style autotuner would pick.

    One thread block computes a tm x tn output tile over the padded K on one SM; its time is
    the larger of its tensor-core time (at the sustained `mma_efficiency`) and the time to
    stream its (tm + tn) x K operand bytes from L2, whose bandwidth the concurrently running
    blocks share. Blocks run in waves of one per SM, so a last partial wave costs a full one.
    Split-K adds the reduction of the partial sums on the vector lanes. An operand larger
    than L2 that later waves need again is re-read from DRAM (extra bytes). Each block also
    pays the profile's `tile_overhead_cycles` (pipeline prologue and epilogue)."""
    kernels = unit.gpu
    sms = int(unit.count.value)
    clock_hz = unit.clock_MHz.value * 1e6
    mpc = unit.macs_per_cycle[precision].value
    eff = kernels.mma_efficiency[precision].value
    nbytes = precision.activation_bytes
    l2_bytes_per_cycle = l2.bandwidth_GBps.value * 1e9 / clock_hz if l2 is not None else None
    l2_capacity = l2.capacity_bytes.value if l2 is not None else math.inf
    vector_rate = sms * unit.vector_ops_per_cycle[precision].value * clock_hz
    g, m, n, k = shape.groups, shape.m, shape.out_channels, shape.k
    a_bytes, b_bytes = shape.input_elements * nbytes, shape.weight_elements * nbytes
    # a block's fixed cycles: filling its multistage operand pipeline before the first MMA
    # and writing its tile back after the last (short K loops pay it most)
    tile_overhead = (kernels.tile_overhead_cycles.value
                     if kernels.tile_overhead_cycles is not None else 0.0)

    candidates: list[tuple[float, MacTime]] = []
    for tm, tn, tk in kernels.tiles[precision].shapes:
        for split in kernels.split_k:
            chunk = math.ceil(k / split)
            if split > 1 and chunk < tk:
                continue
            k_padded = math.ceil(chunk / tk) * tk
            m_tiles, n_tiles = math.ceil(m / tm), math.ceil(n / tn)
            ctas = g * m_tiles * n_tiles * split
            waves = math.ceil(ctas / sms)
            mma_cycles = tm * tn * k_padded / (mpc * eff)
            l2_cycles = 0.0
            if l2_bytes_per_cycle:
                l2_cycles = (tm + tn) * k_padded * nbytes * min(ctas, sms) / l2_bytes_per_cycle
            seconds = waves * (max(mma_cycles, l2_cycles) + tile_overhead) / clock_hz
            if split > 1:
                seconds += g * m * n * split / vector_rate
            extra = 0.0
            # an operand too big for L2 is read again from DRAM by each further row (column)
            # of output tiles that needs it: B once per M-tile row, A once per N-tile column
            # beyond what one wave covers (a GEMV, M = 1, reads its matrix once)
            if m_tiles > 1 and waves > 1 and b_bytes > l2_capacity:
                extra += (min(m_tiles, waves) - 1) * b_bytes
            if n_tiles > sms and a_bytes > l2_capacity:
                extra += (math.ceil(n_tiles / sms) - 1) * a_bytes
            utilization = shape.macs / (waves * sms * tm * tn * k_padded)
            bound = "L2" if l2_cycles > mma_cycles else "tensor cores"
            mapping = (f"tile {tm}x{tn}x{tk}" + (f", split-K {split}" if split > 1 else "")
                       + f", {ctas} blocks in {waves} wave(s) on {sms} SMs, {bound}-bound"
                       + f", utilization {utilization:.0%}")
            candidates.append((seconds, MacTime(seconds, (), utilization, mapping,
                                                extra_dram_bytes=extra)))
    simt = kernels.simt_macs_per_cycle.get(precision)
    if g > 1 and simt is not None:
        seconds = shape.macs / (sms * simt.value * clock_hz)
        candidates.append((seconds, MacTime(seconds, (figure_path(
            unit, "gpu.simt_macs_per_cycle", precision.value),), 1.0,
            f"direct CUDA-core kernel ({g} groups)")))

    def total(c: tuple[float, MacTime]) -> tuple[float, float]:
        seconds, t = c
        return (seconds + (t.extra_dram_bytes / dram_Bps if dram_Bps else 0.0),
                t.extra_dram_bytes)

    best = min(candidates, key=total)[1]
    uses = [figure_path(unit, "count"), figure_path(unit, "clock_MHz"), *best.uses]
    if not best.mapping.startswith("direct"):
        uses += [figure_path(unit, "macs_per_cycle", precision.value),
                 figure_path(unit, "gpu.mma_efficiency", precision.value)]
        if l2 is not None:
            uses += [figure_path(l2, "bandwidth_GBps"), figure_path(l2, "capacity_bytes")]
        if kernels.tile_overhead_cycles is not None:
            uses.append(figure_path(unit, "gpu.tile_overhead_cycles"))
    return MacTime(best.seconds, tuple(uses), best.utilization, best.mapping,
                   extra_dram_bytes=best.extra_dram_bytes)
