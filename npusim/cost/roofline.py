"""The first cost model: a roofline per op plus a fixed per-op overhead.

compute time = max(MACs / peak MAC rate, vector ops / peak vector rate) at the op's precision
on the unit that runs it; memory time = DRAM bytes / achieved DRAM bandwidth;
latency = max(compute, memory) + the unit's per-op overhead. Shape-only ops are views and
cost nothing. Which figures were used is recorded, so reports can say what is estimated.
"""

from __future__ import annotations

from dataclasses import dataclass

from npusim.errors import UnsupportedOpError
from npusim.hw.schema import Chip, ComputeUnit, figure_path
from npusim.ir import Access, FusionKind, Graph, OpWork, Precision, Role, op_work


@dataclass(frozen=True, slots=True)
class OpCost:
    """Cost of one op (or, later, one fused group) on one unit."""

    name: str
    op_types: tuple[str, ...]
    kind: FusionKind
    unit: str
    precision: Precision
    macs: int
    vector_ops: int
    bytes_loaded: int
    bytes_stored: int
    compute_ms: float
    memory_ms: float
    overhead_ms: float
    latency_ms: float
    bound_by: str
    rests_on: tuple[str, ...]

    @property
    def ddr_bytes(self) -> int:
        return self.bytes_loaded + self.bytes_stored


def assign_unit(op_type: str, node_name: str, chip: Chip, precision: Precision
                ) -> ComputeUnit:
    """The first unit in the chip's order that runs this op type at this precision."""
    for unit in chip.ordered_units:
        if unit.runs(op_type) and precision in unit.macs_per_cycle:
            return unit
    offered = ", ".join(f"{u.name} ({'/'.join(p.value for p in u.precisions)})"
                        for u in chip.ordered_units)
    raise UnsupportedOpError(f"no unit of chip '{chip.name}' runs {op_type} node "
                             f"'{node_name}' in {precision.value}; units: {offered}")


def tensor_bytes(graph: Graph, access: Access, precision: Precision) -> int:
    """Bytes of an access at a precision: float tensors take the precision's width (bias:
    int32 under integer precisions); integer and bool tensors keep their own width."""
    dtype = graph.tensor(access.tensor).dtype
    if not dtype.is_float:
        width = dtype.itemsize
    elif access.role is Role.BIAS and precision in (Precision.INT8, Precision.INT16,
                                                    Precision.INT4):
        width = 4
    else:
        width = precision.activation_bytes
    return int(round(access.elements * width))


def op_cost(work: OpWork, graph: Graph, chip: Chip, precision: Precision) -> OpCost:
    unit = assign_unit(work.op_type, work.node, chip, precision)
    if work.kind is FusionKind.SHAPE_ONLY:
        return OpCost(work.node, (work.op_type,), work.kind, unit.name, precision, 0, 0, 0, 0,
                      0.0, 0.0, 0.0, 0.0, "view", ())
    loaded = sum(tensor_bytes(graph, a, precision) for a in work.reads)
    stored = sum(tensor_bytes(graph, a, precision) for a in work.writes)
    return price(work.node, (work.op_type,), work.kind, unit, chip, precision, work.macs,
                 work.vector_ops, loaded, stored)


def price(name: str, op_types: tuple[str, ...], kind: FusionKind, unit: ComputeUnit,
          chip: Chip, precision: Precision, macs: int, vector_ops: int, loaded: int,
          stored: int) -> OpCost:
    """Roofline latency of a piece of work whose DRAM traffic is `loaded` + `stored` bytes."""
    instances, clock_hz = unit.count.value, unit.clock_MHz.value * 1e6
    mac_s = macs / (instances * unit.macs_per_cycle[precision].value * clock_hz)
    vec_s = vector_ops / (instances * unit.vector_ops_per_cycle[precision].value * clock_hz)
    dram = chip.dram
    mem_s = (loaded + stored) / (dram.achieved_bandwidth_GBps * 1e9)
    compute_ms, memory_ms = 1e3 * max(mac_s, vec_s), 1e3 * mem_s
    overhead_ms = unit.op_overhead_us.value / 1e3
    latency_ms = max(compute_ms, memory_ms) + overhead_ms
    if max(compute_ms, memory_ms) < overhead_ms:
        bound_by = "overhead"
    else:
        bound_by = "compute" if compute_ms >= memory_ms else "memory"
    used = [figure_path(unit, "count"), figure_path(unit, "clock_MHz"),
            figure_path(unit, "op_overhead_us"), figure_path(dram, "bandwidth_GBps")]
    if macs:
        used.append(figure_path(unit, "macs_per_cycle", precision.value))
    if vector_ops:
        used.append(figure_path(unit, "vector_ops_per_cycle", precision.value))
    if dram.efficiency is not None:
        used.append(figure_path(dram, "efficiency"))
    estimated = chip.estimated_figures()
    rests_on = tuple(sorted(p for p in used if p in estimated))
    return OpCost(name, op_types, kind, unit.name, precision, macs, vector_ops, loaded, stored,
                  compute_ms, memory_ms, overhead_ms, latency_ms, bound_by, rests_on)


def graph_costs(graph: Graph, chip: Chip, precision: Precision) -> tuple[OpCost, ...]:
    """Every op priced alone, in topological order."""
    return tuple(op_cost(op_work(n, graph), graph, chip, precision) for n in graph.nodes)

