"""The pydantic schema of a chip profile: compute units, memory levels, layout rules.

Every number is a `Figure` carrying either the public `source` it was copied from or an
`estimated` reason; units are in the field names. Unknown fields are rejected
(`extra="forbid"`), so a misspelt or wrongly-united field is caught at load time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from npusim.ir.dtypes import Precision
from npusim.ir.ops import FusionKind


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Figure(_Frozen):
    """A number with its provenance: exactly one of `source` or `estimated` (the reason)."""

    value: float
    source: str | None = None
    estimated: str | None = None

    @model_validator(mode="after")
    def _one_provenance(self) -> Figure:
        if bool(self.source) == bool(self.estimated):
            raise ValueError("give exactly one of 'source' (where the number comes from) or "
                             "'estimated' (why it is a guess)")
        return self

    @property
    def is_estimated(self) -> bool:
        return self.estimated is not None

    def __int__(self) -> int:
        return int(self.value)

    def __float__(self) -> float:
        return float(self.value)


class FusionRules(_Frozen):
    """What a unit's compiler can fuse: a group of ops that runs without writing its
    intermediate tensors to DRAM, its working set held in the `sram` memory level."""

    sram: str = Field(description="memory level that holds a fused group's working set")
    max_ops: Figure = Field(description="ops per group, view ops not counted")
    max_mac_ops: Figure = Field(description="conv-like and matmul-like ops per group")
    kinds: list[FusionKind] = Field(description="op kinds that may join a group")
    row_tiling: bool = Field(default=True, description="split a group into row tiles (axis "
                             "-2) with halos when its working set does not fit")
    weight_block_channels: Figure = Field(
        description="output channels per chunk when weights stream through SRAM")
    tail_conv_int32: bool = Field(
        default=False, description="a Conv feeding the model output emits int32 and then "
        "cannot fuse a following activation (Horizon J5 toolchain FAQ)")


class ComputeUnit(_Frozen):
    """One kind of compute engine; `count` identical instances (cores, SMs)."""

    name: str
    kind: Literal["npu", "gpu", "dla", "cpu", "dsp"]
    description: str = ""
    count: Figure = Field(description="identical instances: NPU cores, GPU SMs, DLA cores")
    clock_MHz: Figure
    macs_per_cycle: dict[Precision, Figure] = Field(
        description="dense multiply-accumulates per cycle per instance, by precision")
    vector_ops_per_cycle: dict[Precision, Figure] = Field(
        description="elementwise ops per cycle per instance, by precision")
    op_overhead_us: Figure = Field(description="fixed cost per op: launch or dispatch")
    supported_ops: list[str] | None = Field(
        default=None, description="op types this unit runs; omitted means every op")
    fusion: FusionRules | None = Field(
        default=None, description="fusion capability; omitted means every op runs alone")

    @model_validator(mode="after")
    def _vector_rate_per_precision(self) -> ComputeUnit:
        missing = [p.value for p in self.macs_per_cycle if p not in self.vector_ops_per_cycle]
        if missing:
            raise ValueError(f"vector_ops_per_cycle lacks {missing}, which macs_per_cycle has")
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


class MemoryLevel(_Frozen):
    """One level of the memory hierarchy."""

    name: str
    kind: Literal["sram", "cache", "dram"]
    scope: Literal["per_instance", "per_unit", "chip"] = Field(
        description="per_instance: each core/SM has its own; per_unit: one per compute unit; "
                    "chip: shared by every unit")
    unit: str | None = Field(default=None, description="compute unit a local level belongs to")
    capacity_bytes: Figure
    bandwidth_GBps: Figure = Field(description="peak bandwidth, GB/s (1e9 bytes/s)")
    efficiency: Figure | None = Field(
        default=None, description="achieved fraction of peak bandwidth on streaming copies")
    alignment_bytes: Figure

    @property
    def achieved_bandwidth_GBps(self) -> float:
        eff = self.efficiency.value if self.efficiency is not None else 1.0
        return self.bandwidth_GBps.value * eff


class TensorLayout(_Frozen):
    """How a unit stores an activation: its native format and the padding rules."""

    unit: str
    precisions: list[Precision] | None = None
    format: Literal["NCHW", "NHWC", "CHW16", "CHW32", "HWC4", "NC/32HW32"]
    channel_align: int = Field(default=1, description="channels padded to a multiple")
    source: str | None = None
    estimated: str | None = None

    @model_validator(mode="after")
    def _one_provenance(self) -> TensorLayout:
        if bool(self.source) == bool(self.estimated):
            raise ValueError("give exactly one of 'source' or 'estimated'")
        return self


class Chip(_Frozen):
    """A validated chip profile."""

    name: str
    description: str
    compute_units: list[ComputeUnit]
    unit_order: list[str] | None = Field(
        default=None, description="units to try for an op, first that runs it wins; "
                                  "default: the order of compute_units")
    memory: list[MemoryLevel]
    layouts: list[TensorLayout] = []
    _estimated: dict[str, str] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self) -> Chip:
        names = [u.name for u in self.compute_units]
        if len(set(names)) != len(names):
            raise ValueError(f"compute unit names repeat: {names}")
        for name in self.unit_order or ():
            if name not in names:
                raise ValueError(f"unit_order names '{name}', not a compute unit ({names})")
        if not any(m.kind == "dram" for m in self.memory):
            raise ValueError("memory has no level of kind 'dram'")
        levels = [m.name for m in self.memory]
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
