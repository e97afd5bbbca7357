"""The schema of one compute unit of a chip profile: its rates, what its compiler fuses, the
shape of its MAC array or its GPU kernels, its DMA, and what the vendor's builder makes of a
model on it. Every number is a `Figure` (see `npusim.hw.schema`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, model_validator

from npusim.hw.figure import (
    Bytes,
    Count,
    Duration,
    Fraction,
    OptionalCount,
    OptionalDuration,
    OptionalFraction,
    OptionalRate,
    Rate,
    _Frozen,
    _Sourced,
)
from npusim.ir.dtypes import Precision
from npusim.ir.ops import FusionKind


class FusionRules(_Frozen):
    """What a unit's compiler can fuse: a group of ops that runs without writing its
    intermediate tensors to DRAM, its working set held in the `sram` memory level."""

    sram: str = Field(description="memory level that holds a fused group's working set")
    max_ops: Count = Field(description="ops per group, view ops not counted")
    max_mac_ops: Count = Field(description="conv-like and matmul-like ops per group")
    kinds: list[FusionKind] = Field(description="op kinds that may join a group")
    row_tiling: bool = Field(default=True, description="split a group into row tiles (axis "
                             "-2) with halos when its working set does not fit")
    weight_block_channels: Count = Field(
        description="output channels per chunk when weights stream through SRAM")
    tail_conv_int32: bool = Field(
        default=False, description="a Conv feeding the model output emits int32 and then "
        "cannot fuse a following activation (Horizon J5 toolchain FAQ)")
    mixed_precision: bool = Field(
        default=False, description="a group may hold ops at different precisions: its kernel "
        "converts in registers, reading int8 and writing fp16 or the reverse (TensorRT fuses "
        "a quantized op with its input DQ and output Q, or writes float output)")


class MacArray(_Frozen):
    """How an NPU / DLA MAC array is shaped: per cycle it reduces `input_channels` inputs
    into each of `output_channels` outputs, for macs_per_cycle / (input x output channels)
    output pixels along W at once. Dimensions that are not multiples of these are padded."""

    input_channels: Count = Field(description="reduction lanes: input channels per cycle")
    output_channels: Count = Field(description="output channels computed in parallel")
    fold_small_channels: bool = Field(
        default=False, description="a conv with fewer input channels than the array width "
        "may fold its kernel width, or its stride (space-to-depth), into channels")
    depthwise_macs_per_cycle: OptionalRate = Field(
        default=None, description="MACs per cycle per instance of the array's channel-wise "
        "(depthwise) mode; omitted: a depthwise conv maps onto the dense array, one channel "
        "per pass")
    efficiency: OptionalFraction = Field(
        default=None, description="fraction of array cycles that do work on a mapped layer "
        "(pipeline fill, weight loads between passes); omitted: 1")


class BuildRules(_Frozen):
    """What the vendor's builder (TensorRT, the Horizon compiler) makes of a model: the math
    it uses for fp32, the ops an int8 build keeps in a higher precision (with a reformat
    where precisions meet), and the ops it runs in place (no copy)."""

    fp32_math: Literal["fp32", "tf32"] = Field(
        default="fp32", description="tf32: fp32 convs and matmuls run on TF32 tensor cores "
        "(TensorRT's default unless disabled)")
    int8_fallback: list[str] = Field(
        default=[], description="op types an int8 build runs in `fallback_precision` (no "
        "int8 kernel, or a slower one)")
    fallback_precision: Precision = Precision.FP16
    int8_choice: Literal["forced", "fastest"] = Field(
        default="forced", description="fastest: an int8 build of a float model (implicit "
        "quantization) lets the builder keep a run of int8-capable layers in "
        "`fallback_precision` where that is faster with the reformats at its edges (TensorRT "
        "times both); forced: every layer with an int8 kernel runs int8. QDQ models are "
        "forced either way")
    in_place: list[str] = Field(
        default=[], description="op types the builder elides: producers write straight "
        "into the consumer's buffer (TensorRT concat / slice)")
    reformat: bool = Field(
        default=False, description="a tensor crossing a precision boundary is converted by "
        "a reformat kernel (reads one precision, writes the other)")
    io_precision: Precision | None = Field(
        default=None, description="the engine's input and output bindings: the layers that "
        "read the model inputs and write its outputs move them at this precision, whatever "
        "precision they compute in (TensorRT's network I/O is fp32 linear unless the user "
        "sets other I/O formats)")


class TileShapes(_Sourced):
    """Thread-block tile shapes (M x N x K) a GPU's GEMM / implicit-GEMM kernels offer."""

    shapes: list[tuple[PositiveInt, PositiveInt, PositiveInt]] = Field(min_length=1)


class GpuKernels(_Frozen):
    """What the implicit-GEMM model of a GPU needs: tile shapes per precision, the fraction
    of tensor-core peak a kernel's main loop sustains, CUDA-core (SIMT) MAC rates for convs
    tensor cores serve badly (depthwise, thin groups), and the L2 level operands reuse."""

    tiles: dict[Precision, TileShapes]
    mma_efficiency: dict[Precision, Fraction] = Field(
        description="sustained fraction of the tensor-core peak on large GEMMs")
    simt_macs_per_cycle: dict[Precision, Rate] = Field(
        default_factory=dict, description="CUDA-core MACs per cycle per SM (direct kernels)")
    l2: str = Field(description="memory level (kind cache) the SMs share")
    tile_overhead_cycles: OptionalDuration = Field(
        default=None, description="fixed cycles per thread block: multistage pipeline "
        "prologue and epilogue; omitted: 0")
    split_k: list[PositiveInt] = Field(default=[1], min_length=1, description="split-K factors kernels may use")


class DmaEngine(_Frozen):
    """A unit's DMA to DRAM: each transfer pays a setup latency and moves whole bursts."""

    burst_bytes: Bytes
    setup_us: Duration


class ComputeUnit(_Frozen):
    """One kind of compute engine; `count` identical instances (cores, SMs)."""

    name: str
    kind: Literal["npu", "gpu", "dla", "cpu", "dsp"]
    description: str = ""
    count: Count = Field(description="identical instances: NPU cores, GPU SMs, DLA cores")
    clock_MHz: Rate
    macs_per_cycle: dict[Precision, Rate] = Field(
        description="dense multiply-accumulates per cycle per instance, by precision")
    vector_ops_per_cycle: dict[Precision, Rate] = Field(
        description="elementwise ops per cycle per instance, by precision")
    op_overhead_us: Duration = Field(description="fixed cost per op: launch or dispatch")
    supported_ops: list[str] | None = Field(
        default=None, description="op types this unit runs; omitted means every op")
    fusion: FusionRules | None = Field(
        default=None, description="fusion capability; omitted means every op runs alone")
    array: MacArray | None = Field(
        default=None, description="MAC array shape (npu, dla); omitted: ideal peak")
    gpu: GpuKernels | None = Field(
        default=None, description="implicit-GEMM tile / wave model (gpu); omitted: ideal peak")
    dma: DmaEngine | None = Field(
        default=None, description="DMA burst and setup; omitted: DRAM time is bytes / bandwidth")
    handoff_us: OptionalDuration = Field(
        default=None, description="fixed cost each time a tensor crosses between this unit "
                                  "and another (synchronisation, reformat launch)")
    dma_channels: OptionalCount = Field(
        default=None, description="DMA channels moving data between DRAM and this unit's "
        "SRAM, sharing the DRAM bandwidth; omitted: the unit reads DRAM directly (GPU, CPU) "
        "and the schedule stages nothing in SRAM")
    build: BuildRules | None = Field(
        default=None, description="what the vendor builder makes of a model on this unit")
    addressable_instances: bool = Field(
        default=False, description="each of the `count` instances can run a model of its own, "
        "addressed as NAME0, NAME1, ... (`npusim pipeline` units, `--unit`); false: the "
        "instances only work together on one model")

    @model_validator(mode="after")
    def _vector_rate_per_precision(self) -> ComputeUnit:
        missing = [p.value for p in self.macs_per_cycle if p not in self.vector_ops_per_cycle]
        if missing:
            raise ValueError(f"vector_ops_per_cycle lacks {missing}, which macs_per_cycle has")
        return self

    @model_validator(mode="after")
    def _instances_split_the_channels(self) -> ComputeUnit:
        n = int(self.count.value)
        if self.addressable_instances and self.dma_channels is not None and \
                self.dma_channels.value % n:
            raise ValueError(f"addressable_instances: dma_channels "
                             f"({self.dma_channels.value:g}) must split evenly among the "
                             f"{n} instances")
        return self

    @property
    def precisions(self) -> tuple[Precision, ...]:
        return tuple(self.macs_per_cycle)

    def peak_macs_per_s(self, precision: Precision) -> float:
        return self.count.value * self.macs_per_cycle[precision].value * self.clock_MHz.value * 1e6

    def peak_tops(self, precision: Precision) -> float:
        """Dense peak in tera-ops (2 ops per MAC)."""
        return 2 * self.peak_macs_per_s(precision) / 1e12

    def runs(self, op_type: str) -> bool:
        return self.supported_ops is None or op_type in self.supported_ops

    @property
    def fuses_mixed_precision(self) -> bool:
        """A fused group on this unit may hold ops at different precisions."""
        return self.fusion is not None and self.fusion.mixed_precision
