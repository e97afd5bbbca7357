"""The pydantic schema of a chip profile: compute units (`npusim.hw.compute_unit`), memory
levels, layout rules.

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
from npusim.hw.compute_unit import (BuildRules, ComputeUnit, DmaEngine,  # noqa: F401
                                    FusionRules, GpuKernels, MacArray, TileShapes)
from npusim.ir.dtypes import Precision


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
