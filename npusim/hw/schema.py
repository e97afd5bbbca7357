"""The pydantic schema of a chip profile: compute units, memory levels, layout rules.

Every number is a `Figure` carrying exactly one provenance: the public `source` it was copied
from, an `estimated` reason, or the measurements it was `calibrated` on; units are in the field
names. Unknown fields are rejected
(`extra="forbid"`), so a misspelt or wrongly-united field is caught at load time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, Field, NonNegativeInt, PositiveInt, PrivateAttr, model_validator

from npusim.hw.figure import (PROVENANCE_KINDS, Bytes, Count, Duration, Figure,  # noqa: F401
                              Fraction, OptionalAmount, OptionalCount, OptionalDuration,
                              OptionalFraction, OptionalRate, Rate, _Frozen, _Sourced)
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


class MemoryLevel(_Frozen):
    """One level of the memory hierarchy."""

    name: str
    kind: Literal["sram", "cache", "dram"]
    scope: Literal["per_instance", "per_unit", "chip"] = Field(
        description="per_instance: each core/SM has its own; per_unit: one per compute unit; "
                    "chip: shared by every unit")
    unit: str | None = Field(default=None, description="compute unit a local level belongs to")
    capacity_bytes: Bytes
    bandwidth_GBps: Rate = Field(description="peak bandwidth, GB/s (1e9 bytes/s)")
    efficiency: OptionalFraction = Field(
        default=None, description="achieved fraction of peak bandwidth on streaming copies")
    half_bandwidth_bytes: OptionalAmount = Field(
        default=None, description="bytes a kernel moves at which it reaches half the "
        "achieved bandwidth (a kernel moving B bytes takes (B + this) / bandwidth); omitted: "
        "every kernel streams at the achieved bandwidth")
    alignment_bytes: Bytes

    @property
    def achieved_bandwidth_GBps(self) -> float:
        eff = self.efficiency.value if self.efficiency is not None else 1.0
        return self.bandwidth_GBps.value * eff


LayoutFormat = Literal["NCHW", "NHWC", "CHW16", "CHW32", "HWC4", "NC/32HW32", "NC/4HW4"]


class PaddingRule(_Frozen):
    """One padding rule of a native layout, applied when its channel condition holds:
    C x itemsize bytes padded to the smallest `channel_bytes_step` x k + r (r in
    `channel_bytes_residues`) not below it, and dims aligned to multiples (`dim_align`)."""

    channels_above: NonNegativeInt | None = Field(default=None, description="applies when C > this")
    channels_at_most: NonNegativeInt | None = Field(default=None, description="applies when C <= this")
    channel_bytes_step: PositiveInt | None = Field(
        default=None, description="channel bytes padded to step x k + residue")
    channel_bytes_residues: list[NonNegativeInt] = Field(default=[0], min_length=1)
    dim_align: dict[Literal["N", "C", "H", "W"], PositiveInt] = Field(
        default_factory=dict, description="dims padded to a multiple, e.g. {H: 2, W: 32}")
    format: LayoutFormat | None = Field(
        default=None, description="the format a tensor this rule applies to is stored in, "
        "when not the layout's (TensorRT: an int8 tensor of at most 4 channels in NC/4HW4)")

    @model_validator(mode="after")
    def _residues_below_step(self) -> PaddingRule:
        step = self.channel_bytes_step
        if step is not None and any(r >= step for r in self.channel_bytes_residues):
            raise ValueError(f"channel_bytes_residues must be below channel_bytes_step "
                             f"({step}), got {self.channel_bytes_residues}")
        return self


class TensorLayout(_Sourced):
    """How a unit stores an activation: its native format and the padding rules."""

    unit: str
    precisions: list[Precision] | None = None
    format: LayoutFormat
    channel_align: PositiveInt = Field(default=1, description="channels padded to a multiple")
    padding: list[PaddingRule] = Field(
        default=[], description="padding rules by channel count; the first that applies wins")


class Validation(_Frozen):
    """Whether published measurements of this chip check the profile, and which."""

    status: Literal["validated", "unvalidated"]
    note: str = Field(min_length=1, description="validated: the measurements it is checked "
                      "against; unvalidated: why there are none")


class Runtime(_Frozen):
    """The work around the kernels that a timed inference includes: the runtime call and its
    synchronisation, the CPU enqueueing each GPU kernel (kernels cannot start before it), and
    an NPU converting camera nv12 input to the model's input, and copies of the graph inputs
    and outputs between host and device memory."""

    inference_overhead_us: OptionalDuration = Field(
        default=None, description="host time per inference: runtime call, launch, sync")
    kernel_enqueue_us: OptionalDuration = Field(
        default=None, description="CPU time to enqueue one kernel of a unit without DMA "
        "(GPU); a kernel starts no earlier than its enqueue ends")
    host_to_device_GBps: OptionalRate = Field(
        default=None, description="rate of the copy of the graph inputs (at their ONNX dtype) "
        "from host memory before the first kernel; omitted: inputs are already on the device "
        "(trtexec's Latency includes this H2D copy, its GPU Compute Time does not)")
    device_to_host_GBps: OptionalRate = Field(
        default=None, description="rate of the copy of the graph outputs back to host memory "
        "after the last kernel (trtexec's D2H); omitted: outputs stay on the device")
    input_conversion_ns_per_pixel: OptionalDuration = Field(
        default=None, description="time the first unit spends per input pixel converting "
        "nv12 camera frames to the model's input layout (rank-4 inputs, N x H x W pixels)")


class Chip(_Frozen):
    """A validated chip profile."""

    name: str
    description: str
    validation: Validation | None = Field(
        default=None, description="whether public measurements check this profile; "
                                  "omitted: not stated")
    compute_units: list[ComputeUnit] = Field(min_length=1)
    unit_order: list[str] | None = Field(
        default=None, description="units to try for an op, first that runs it wins; "
                                  "default: the order of compute_units")
    memory: list[MemoryLevel] = Field(min_length=1)
    layouts: list[TensorLayout] = []
    runtime: Runtime | None = Field(
        default=None, description="work around the kernels a timed inference includes")
    _estimated: dict[str, str] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self) -> Chip:
        names = [u.name for u in self.compute_units]
        if len(set(names)) != len(names):
            raise ValueError(f"compute unit names repeat: {names}")
        for name in self.unit_order or ():
            if name not in names:
                raise ValueError(f"unit_order names '{name}', not a compute unit ({names})")
        if self.unit_order is not None and (not self.unit_order
                                            or len(set(self.unit_order)) != len(self.unit_order)):
            raise ValueError(f"unit_order must name each unit at most once, and at least one: "
                             f"got {self.unit_order}")
        if not any(m.kind == "dram" for m in self.memory):
            raise ValueError("memory has no level of kind 'dram'")
        levels = [m.name for m in self.memory]
        if len(set(levels)) != len(levels):
            raise ValueError(f"memory level names repeat: {levels}")
        for layout in self.layouts:
            if layout.unit not in names:
                raise ValueError(f"a layout names unknown unit '{layout.unit}' ({names})")
        for m in self.memory:
            if m.unit is not None and m.unit not in names:
                raise ValueError(f"memory level '{m.name}' belongs to unknown unit '{m.unit}'")
        for u in self.compute_units:
            if u.fusion is not None and u.fusion.sram not in levels:
                raise ValueError(f"compute unit '{u.name}': fusion.sram names '{u.fusion.sram}'"
                                 f", not a memory level ({levels})")
        return self

    def level(self, name: str) -> MemoryLevel:
        return next(m for m in self.memory if m.name == name)

    def unit(self, name: str) -> ComputeUnit:
        return next(u for u in self.compute_units if u.name == name)

    @property
    def ordered_units(self) -> tuple[ComputeUnit, ...]:
        order = self.unit_order or [u.name for u in self.compute_units]
        return tuple(self.unit(n) for n in order)

    @property
    def dram(self) -> MemoryLevel:
        return next(m for m in self.memory if m.kind == "dram")

    def figures(self) -> Iterator[tuple[str, Figure]]:
        """Every figure with its path, e.g. `compute_units[bpu].clock_MHz`."""
        yield from _walk(self, "")

    def estimated_figures(self) -> Mapping[str, str]:
        """Path -> reason, for every figure marked estimated (computed once per chip)."""
        if self._estimated is None:
            self._estimated = {p: f.estimated for p, f in self.figures() if f.estimated}
        return MappingProxyType(self._estimated)

    def calibrated_figures(self) -> Mapping[str, str]:
        """Path -> the measurement rows it was fitted on, for every calibrated figure."""
        return MappingProxyType({p: f.calibrated for p, f in self.figures() if f.calibrated})

    def provenance_counts(self) -> Mapping[str, int]:
        """How many figures are sourced, estimated and calibrated."""
        counts = dict.fromkeys(PROVENANCE_KINDS, 0)
        for _, figure in self.figures():
            counts[figure.provenance] += 1
        return MappingProxyType(counts)

    @property
    def is_validated(self) -> bool:
        return self.validation is not None and self.validation.status == "validated"


def figure_path(owner: ComputeUnit | MemoryLevel, field: str, key: str | None = None) -> str:
    """The path `Chip.figures` gives the figure `owner.field[key]`."""
    group = "compute_units" if isinstance(owner, ComputeUnit) else "memory"
    return f"{group}[{owner.name}].{field}" + (f".{key}" if key is not None else "")


def _walk(obj, prefix: str) -> Iterator[tuple[str, Figure]]:
    if isinstance(obj, Figure):
        yield prefix, obj
    elif isinstance(obj, BaseModel):
        for key in type(obj).model_fields:
            yield from _walk(getattr(obj, key), f"{prefix}.{key}" if prefix else key)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            k = key.value if hasattr(key, "value") else key
            yield from _walk(value, f"{prefix}.{k}")
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            label = getattr(item, "name", None) or str(i)
            yield from _walk(item, f"{prefix}[{label}]")
