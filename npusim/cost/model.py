"""Price the ops and fused groups of one graph on one chip at one precision.

A group is a set of nodes run without writing its internal tensors to DRAM. Its cost:

- DRAM loads: each tensor a member reads and no member produces (weights, activations),
  once even when several members read it (horizontal fusion saves this). With T row tiles an
  activation's halo rows are loaded again for every tile, and weights (or an operand every
  tile needs whole, like the B of a MatMul) streamed through SRAM are loaded once per tile.
- DRAM stores: each tensor a member produces that a non-member reads or the graph outputs.
- Compute: the members' MAC-array time and vector time, each summed (the two pipeline within
  a group); with row tiles, the halo rows of internal tensors are recomputed.
- Latency: max(compute, DRAM time) + the unit's per-op overhead, once per group.

A group with at most one conv/matmul (a lone op, or an op and its epilogue: bias, activation,
residual add, normalization) processes each output tile in flight and buffers nothing between
ops; like an unfused op it is always feasible and reads and writes each tensor once. A group
with two or more conv/matmul ops (layer fusion) must hold the tensors between them on chip:
it is feasible when some tiling fits its working set (double-buffered input and output tiles
when T > 1, internal tiles, resident weights or a double-buffered weight chunk) into the
unit's fusion SRAM level. The tiling chosen is the fewest row tiles that fit, for resident and
for streamed weights, whichever the objective prefers (more tiles only add halo and reloads).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from npusim.cost.compute import compute_time
from npusim.cost.memory import dram_time_s, group_transfers
from npusim.cost.transitions import handoff_s
from npusim.errors import UnsupportedOpError
from npusim.hw.schema import Chip, ComputeUnit, figure_path
from npusim.ir import Access, FusionKind, Graph, OpWork, Precision, Role, op_work
from npusim.ir.ops import FULL, row_demand, rows_of


_QDQ = frozenset({"QuantizeLinear", "DequantizeLinear"})
_INTEGER = frozenset({Precision.INT4, Precision.INT8, Precision.INT16})


def is_view(work: OpWork, precision: Precision) -> bool:
    """Ops that move no data: shape-only ops, and at an integer precision a QDQ model's
    Quantize/DequantizeLinear, which a compiler folds into the integer kernels."""
    return work.kind is FusionKind.SHAPE_ONLY or (precision in _INTEGER
                                                  and work.op_type in _QDQ)


@dataclass(frozen=True, slots=True)
class Tiling:
    """Row tiles along axis -2, and whether weights stay resident or stream per tile."""

    row_tiles: int = 1
    weights: str = "resident"


@dataclass(frozen=True, slots=True)
class OpCost:
    """Cost of one op or one fused group on one unit."""

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
    members: tuple[str, ...] = ()
    tiling: Tiling = Tiling()
    working_set_bytes: int = 0
    sram_level: str | None = None
    sram_capacity_bytes: int = 0
    recompute_macs: int = 0
    loads: tuple[tuple[str, int], ...] = ()
    stores: tuple[tuple[str, int], ...] = ()
    resident: tuple[str, ...] = ()
    transition_ms: float = 0.0  # handing inputs over from another unit (DLA <-> GPU)

    @property
    def ddr_bytes(self) -> int:
        return self.bytes_loaded + self.bytes_stored


Objective = Callable[[OpCost], tuple[float, ...]]


def by_latency(c: OpCost) -> tuple[float, float]:
    return (c.latency_ms, c.ddr_bytes)


def by_ddr(c: OpCost) -> tuple[float, float]:
    return (c.ddr_bytes, c.latency_ms)


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


@dataclass(frozen=True, slots=True)
class _Read:
    tensor: str      # the name the op reads (may be a view of `root`)
    root: str        # the stored tensor behind any chain of views
    nbytes: int
    constant: bool


class CostModel:
    """Prices any op or group of one graph; node facts are computed once, groups memoized."""

    def __init__(self, graph: Graph, chip: Chip, precision: Precision):
        self.graph, self.chip, self.precision = graph, chip, precision
        nodes = graph.nodes
        self.index = {n.name: i for i, n in enumerate(nodes)}
        self.work = [op_work(n, graph) for n in nodes]
        self.is_view = [is_view(w, precision) for w in self.work]
        self.unit: list[ComputeUnit | None] = [
            None if v else assign_unit(n.op_type, n.name, chip, precision)
            for n, v in zip(nodes, self.is_view)]
        self.compute = [None if v else compute_time(w, graph, u, precision, chip)
                        for w, v, u in zip(self.work, self.is_view, self.unit)]
        self.root: dict[str, str] = {}
        self.producer: dict[str, int] = {}
        for i, n in enumerate(nodes):
            for out in n.outputs:
                if not out:
                    continue
                if self.is_view[i] and n.inputs and n.inputs[0]:
                    self.root[out] = self.root.get(n.inputs[0], n.inputs[0])
                else:
                    self.producer[out] = i
        self.readers: dict[str, set[int]] = {}
        self.is_output: set[str] = {self.root_of(t) for t in graph.outputs}
        self.reads: list[tuple[_Read, ...]] = []
        self.writes: list[tuple[tuple[str, int], ...]] = []
        for i, n in enumerate(nodes):
            # a weight read through views (e.g. a DequantizeLinear) is still a weight
            reads = tuple(_Read(a.tensor, self.root_of(a.tensor),
                                tensor_bytes(graph, a, precision),
                                graph.tensor(self.root_of(a.tensor)).is_constant)
                          for a in self.work[i].reads)
            self.reads.append(reads)
            self.writes.append(tuple((a.tensor, tensor_bytes(graph, a, precision))
                                     for a in self.work[i].writes))
            if not self.is_view[i]:
                for r in reads:
                    self.readers.setdefault(r.root, set()).add(i)
        self.rows = {name: rows_of(graph, name) for name in graph.tensors}
        self.weight_chunk = {r.root: self._weight_chunk(i, r)
                             for i, reads in enumerate(self.reads) for r in reads if r.constant}
        self._dram = chip.dram
        self._estimated = chip.estimated_figures()
        self._memo: dict[tuple, OpCost | None] = {}
        self._demand: dict[tuple[int, int], dict[str, int] | None] = {}

    def _weight_chunk(self, i: int, read: _Read) -> float:
        """Bytes of one block of output channels of a weight (what streams at a time)."""
        shape = self.graph.shape(read.tensor)
        channels = shape[0] if len(shape) == 4 else shape[-1] if shape else 1
        unit = self.unit[i]
        block = (int(unit.fusion.weight_block_channels.value)
                 if unit is not None and unit.fusion is not None else channels)
        return read.nbytes / math.ceil(max(channels, 1) / max(block, 1))

    def row_demand(self, i: int, rows: int) -> dict[str, int] | None:
        """Memoized `ir.ops.row_demand` of node i: the same (node, rows) recurs across the
        many overlapping groups a planner prices."""
        key = (i, rows)
        if key not in self._demand:
            self._demand[key] = row_demand(self.graph.nodes[i], self.graph, rows)
        return self._demand[key]

    def root_of(self, tensor: str) -> str:
        return self.root.get(tensor, tensor)

    # -- public ------------------------------------------------------------------------------
    def op(self, i: int, objective: Objective = by_latency) -> OpCost:
        cost = self.group((i,), objective)
        assert cost is not None  # a single op is always feasible
        return cost

    def unfused(self) -> tuple[OpCost, ...]:
        return tuple(self.op(i) for i in range(len(self.graph.nodes)))

    def group(self, members: Sequence[int], objective: Objective = by_latency,
              io: GroupIO | None = None) -> OpCost | None:
        """Cost of running `members` (node indices, topological order) as one group with its
        best feasible tiling, or None when the group cannot run fused. A planner growing a
        group leftward passes the `GroupIO` it keeps up to date (see `GroupIO.prepend`)."""
        key = (tuple(members), objective)
        if key not in self._memo:
            self._memo[key] = self._group(tuple(members), objective, io)
        return self._memo[key]

    def group_io(self) -> GroupIO:
        """An empty group's I/O, to grow with `prepend(model, i)`."""
        return GroupIO()

    # -- internals ---------------------------------------------------------------------------
    def _group(self, members: tuple[int, ...], objective: Objective,
               io: GroupIO | None) -> OpCost | None:
        compute_members = [i for i in members if not self.is_view[i]]
        if not compute_members:
            return self._view_cost(members)
        units = {self.unit[i].name for i in compute_members}
        if len(units) > 1:
            return None
        unit = self.unit[compute_members[0]]
        if len(compute_members) > 1 and unit.fusion is None:
            return None
        io = GroupIO.of(self, members) if io is None else io
        mac_ops = sum(self.work[i].kind in (FusionKind.CONV, FusionKind.MATMUL)
                      for i in compute_members)
        if unit.fusion is None or mac_ops <= 1:
            # One conv/matmul and its epilogue (bias, activation, residual add, ...) process
            # each output tile in flight, as a lone op does: nothing is buffered between ops.
            return self._price(members, compute_members, unit, io, Tiling(), None)
        sram = self.chip.level(unit.fusion.sram)
        capacity = int(sram.capacity_bytes.value)
        t_max = io.max_row_tiles(self) if unit.fusion.row_tiling else 1
        modes = ("resident", "streamed") if io.has_full_operands else ("resident",)
        candidates = []
        for mode in modes:
            tiles = self._fewest_tiles(members, io, mode, capacity, t_max)
            if tiles is not None:
                candidates.append(self._price(members, compute_members, unit, io,
                                              Tiling(tiles, mode), sram))
        return min(candidates, key=objective) if candidates else None

    def _fewest_tiles(self, members, io: GroupIO, mode: str, capacity: int, t_max: int
                      ) -> int | None:
        """Smallest T in [1, t_max] whose working set fits (it shrinks as T grows)."""
        def fits(t: int) -> bool:
            plan = io.tile_plan(self, members, t)
            return plan is not None and io.working_set(self, plan, t, mode) <= capacity
        if fits(1):
            return 1
        if t_max == 1 or not fits(t_max):
            return None
        lo, hi = 1, t_max  # fits(lo) is False, fits(hi) is True
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if fits(mid) else (mid, hi)
        return hi

    def _price(self, members, compute_members, unit: ComputeUnit, io: GroupIO,
               tiling: Tiling, sram) -> OpCost:
        t = tiling.row_tiles
        plan = io.tile_plan(self, members, t) if t > 1 else {}
        loaded = io.bytes_loaded(self, plan, t, tiling.weights)
        stored = sum(io.stores.values())
        mac_s = vec_s = 0.0
        macs = vector_ops = recompute_macs = 0
        uses: set[str] = set()
        for i in compute_members:
            factor = io.recompute_factor(self, i, plan, t)
            c = self.compute[i]
            mac_s += c.mac_s * factor
            vec_s += c.vector_s * factor
            macs += self.work[i].macs
            vector_ops += self.work[i].vector_ops
            recompute_macs += round(self.work[i].macs * (factor - 1))
            loaded += c.extra_dram_bytes  # operand re-reads, multi-core duplicates
            uses.update(c.uses)
        dram = self._dram
        transfers = group_transfers(io.loads, io.stores, io.full_operands, t,
                                    tiling.weights == "resident")
        memory_s, memory_uses = dram_time_s(loaded + stored, transfers, dram, unit)
        memory_ms = 1e3 * memory_s
        uses.update(memory_uses)
        transition_s = 0.0
        for root, nbytes in io.loads.items():
            p = self.producer.get(root)
            if p is not None and self.unit[p] is not None:
                seconds, handoff_uses = handoff_s(nbytes, self.unit[p], unit, self.chip,
                                                  self.precision)
                transition_s += seconds
                uses.update(handoff_uses)
        transition_ms = 1e3 * transition_s
        compute_ms = 1e3 * max(mac_s, vec_s)
        overhead_ms = unit.op_overhead_us.value / 1e3
        latency_ms = max(compute_ms, memory_ms) + overhead_ms + transition_ms
        if max(compute_ms, memory_ms) < overhead_ms:
            bound_by = "overhead"
        else:
            bound_by = "compute" if compute_ms >= memory_ms else "memory"
        uses.update((figure_path(unit, "op_overhead_us"), figure_path(dram, "bandwidth_GBps")))
        if dram.efficiency is not None:
            uses.add(figure_path(dram, "efficiency"))
        if sram is not None:
            uses.add(figure_path(sram, "capacity_bytes"))
        nodes = self.graph.nodes
        kinds = [self.work[i].kind for i in compute_members]
        kind = next((k for k in kinds if k in (FusionKind.CONV, FusionKind.MATMUL)), kinds[0])
        names = tuple(nodes[i].name for i in members)
        return OpCost(
            name=group_name(self, members), op_types=tuple(nodes[i].op_type for i in members),
            kind=kind, unit=unit.name, precision=self.precision, macs=macs,
            vector_ops=vector_ops, bytes_loaded=int(round(loaded)), bytes_stored=stored,
            compute_ms=compute_ms, memory_ms=memory_ms, overhead_ms=overhead_ms,
            latency_ms=latency_ms, bound_by=bound_by,
            rests_on=tuple(sorted(p for p in uses if p in self._estimated)), members=names,
            tiling=tiling,
            working_set_bytes=int(io.working_set(self, plan, t, tiling.weights))
            if sram is not None else 0,
            sram_level=sram.name if sram is not None else None,
            sram_capacity_bytes=int(sram.capacity_bytes.value) if sram is not None else 0,
            recompute_macs=recompute_macs,
            loads=tuple(sorted(io.loads.items())),
            stores=tuple(sorted(io.stores.items())),
            resident=tuple(sorted(io.full_operands)) if tiling.weights == "resident" else (),
            transition_ms=transition_ms)

    def _view_cost(self, members: tuple[int, ...]) -> OpCost:
        nodes = self.graph.nodes
        unit = self.chip.ordered_units[0]
        return OpCost(group_name(self, members), tuple(nodes[i].op_type for i in members),
                      FusionKind.SHAPE_ONLY, unit.name, self.precision, 0, 0, 0, 0, 0.0, 0.0,
                      0.0, 0.0, "view", (), members=tuple(nodes[i].name for i in members))


class GroupIO:
    """Which tensors a group loads, stores and keeps on chip (tiling-independent)."""

    __slots__ = ("members", "loads", "load_aliases", "full_operands", "stores", "internal")

    def __init__(self):
        self.members: set[int] = set()
        self.loads: dict[str, int] = {}             # root -> bytes read from DRAM
        self.load_aliases: dict[str, list[str]] = {}  # root -> the names members read it by
        self.full_operands: set[str] = set()        # constants: weights and biases
        self.stores: dict[str, int] = {}            # written to DRAM
        self.internal: dict[str, int] = {}          # kept on chip

    @classmethod
    def of(cls, model: CostModel, members: tuple[int, ...]) -> GroupIO:
        io = cls()
        for i in reversed(members):
            io.prepend(model, i)
        return io

    def prepend(self, model: CostModel, i: int) -> None:
        """Add node i, which precedes every member in topological order: it cannot read a
        member's output, and the members' stores and internal tensors do not change."""
        self.members.add(i)
        if model.is_view[i]:
            return
        for tensor, nbytes in model.writes[i]:
            if self.loads.pop(tensor, None) is not None:
                self.load_aliases.pop(tensor)
            readers = model.readers.get(tensor, ())
            if tensor in model.is_output or any(j not in self.members for j in readers):
                self.stores[tensor] = nbytes
            else:
                self.internal[tensor] = nbytes
        for r in model.reads[i]:
            if r.nbytes > self.loads.get(r.root, -1):
                self.loads[r.root] = r.nbytes
            self.load_aliases.setdefault(r.root, []).append(r.tensor)
            if r.constant:
                self.full_operands.add(r.root)

    @property
    def has_full_operands(self) -> bool:
        return bool(self.full_operands)

    def max_row_tiles(self, model: CostModel) -> int:
        outs = self.stores or self.internal
        return max(1, min((model.rows[t] for t in outs), default=1))

    def tile_plan(self, model: CostModel, members: tuple[int, ...], t: int
                  ) -> dict[str, int] | None:
        """Rows of each tensor one (interior) tile touches, or None if not row-tileable."""
        if t == 1:
            return {}
        nodes = model.graph.nodes
        demand: dict[str, int] = {o: -(-model.rows[o] // t) for o in self.stores}
        for i in reversed(members):
            wanted = [demand[o] for o in nodes[i].outputs if o in demand]
            if not wanted:
                continue
            d = FULL if FULL in wanted else max(wanted)
            if d == FULL:
                return None
            need = model.row_demand(i, d)
            if need is None:
                return None
            for tensor, rows in need.items():
                old = demand.get(tensor)
                demand[tensor] = FULL if FULL in (rows, old) else max(rows, old or 0)
        return demand

    def _rows(self, model: CostModel, plan: dict[str, int], names: list[str]) -> int:
        wanted = [plan.get(n, FULL) for n in names]
        return FULL if FULL in wanted else max(wanted)

    def working_set(self, model: CostModel, plan: dict[str, int], t: int, mode: str) -> float:
        rows_of_ = model.rows
        buffers = 2 if t > 1 else 1
        ws = 0.0
        full = 0
        for root, nbytes in self.loads.items():
            rows = FULL if t == 1 else self._rows(model, plan, self.load_aliases[root])
            if root in self.full_operands:
                full += nbytes
            elif rows == FULL:
                ws += nbytes  # an activation every tile needs whole stays resident
            else:
                ws += buffers * nbytes * rows / rows_of_[root]
        for tensor, nbytes in self.stores.items():
            rows = plan.get(tensor, FULL) if t > 1 else FULL
            h = rows_of_[tensor]
            ws += buffers * nbytes * (h if rows == FULL else rows) / h
        for tensor, nbytes in self.internal.items():
            rows = plan.get(tensor, FULL) if t > 1 else FULL
            h = rows_of_[tensor]
            ws += nbytes * (h if rows == FULL else rows) / h
        if mode == "resident":
            return ws + full
        return ws + 2 * max((model.weight_chunk[r] for r in self.full_operands), default=0.0)

    def bytes_loaded(self, model: CostModel, plan: dict[str, int], t: int, mode: str
                     ) -> float:
        total = 0.0
        for root, nbytes in self.loads.items():
            rows = FULL if t == 1 else self._rows(model, plan, self.load_aliases[root])
            if root in self.full_operands:
                total += nbytes * (t if mode == "streamed" else 1)
            elif rows == FULL:
                total += nbytes
            else:
                h = model.rows[root]
                total += nbytes * _rows_over_tiles(h, rows, t) / h
        return total

    def recompute_factor(self, model: CostModel, i: int, plan: dict[str, int], t: int
                         ) -> float:
        """Rows of node i's output computed over all tiles / rows it has."""
        if t == 1:
            return 1.0
        out = model.graph.nodes[i].outputs[0]
        rows = plan.get(out)
        if rows is None or rows == FULL:
            return 1.0
        h = model.rows[out]
        return _rows_over_tiles(h, rows, t) / h


def _rows_over_tiles(h: int, rows: int, t: int) -> int:
    """Rows touched by t tiles that each touch `rows` of h: the first tile's rows plus, for
    each further tile, its overlap (halo) beyond an even share."""
    return min(t * rows, h + (t - 1) * max(0, rows - -(-h // t)))


def group_name(model: CostModel, members: Sequence[int]) -> str:
    """ONNX node names joined with `+` along data flow and `||` between sibling chains
    (ops in one group that only share an input)."""
    nodes = model.graph.nodes
    if len(members) == 1:
        return nodes[members[0]].name
    inside = set(members)
    parent = {i: i for i in members}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in members:
        for name in nodes[i].inputs:
            src = _producer_any(model, name) if name else None
            if src is not None and src in inside:
                parent[find(i)] = find(src)
    chains: dict[int, list[int]] = {}
    for i in members:
        chains.setdefault(find(i), []).append(i)
    parts = ["+".join(nodes[i].name for i in chain) for chain in chains.values()]
    if len(parts) == 1:
        return parts[0]
    return "||".join(f"({p})" if "+" in p else p for p in parts)


def _producer_any(model: CostModel, tensor: str) -> int | None:
    """The node (view or not) that writes `tensor`."""
    node = model.graph.producer(tensor)
    return None if node is None else model.index[node.name]
