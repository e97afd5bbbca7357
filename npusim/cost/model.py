"""Price the ops and fused groups of one graph on one chip, each node at its precision.

A group is a set of nodes run without writing its internal tensors to DRAM. Its cost:

- DRAM loads: each tensor a member reads and no member produces (weights, activations),
  once even when several members read it (horizontal fusion saves this). With T row tiles an
  activation's halo rows are loaded again for every tile, and weights (or an operand every
  tile needs whole, like the B of a MatMul) streamed through SRAM are loaded once per tile.
- DRAM stores: each tensor a member produces that a non-member reads or the graph outputs.
- Compute: the members' MAC-array time and vector time, each summed (the two pipeline within
  a group); with row tiles, the halo rows of internal tensors are recomputed.
- Latency: max(compute, DRAM time) + the unit's per-op overhead, once per group, + the
  transitions: a hand-off from another unit, and a reformat kernel for a tensor stored at
  another precision than a member reads it in (`transitions.needs_reformat`). A group runs
  at one precision unless its unit's kernels convert in registers (`mixed_precision`).

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

from collections.abc import Sequence

from npusim.cost.group_io import GroupIO
from npusim.cost.memory import dram_time_s, group_transfers
from npusim.cost.naming import group_name, producer_indices
from npusim.cost.opcost import Bound, Objective, OpCost, Tiling, Traffic, by_latency
from npusim.cost.problem import Problem
from npusim.cost.transitions import handoff_s, needs_reformat, reformat_s
from npusim.hw.schema import ComputeUnit, figure_path
from npusim.ir import MAC_KINDS, FusionKind
from npusim.ir.ops import row_demand


class CostModel:
    """Prices any op or group of one graph; node facts are computed once, groups memoized."""

    def __init__(self, problem: Problem):
        self.problem = problem
        # plain-dict copies of the facts the planners read in their innermost loops
        self.rows = dict(problem.rows)
        self.padding = dict(problem.padding)
        self.weight_chunk = dict(problem.weight_chunk)
        self.sources = producer_indices(problem.graph)
        self._memo: dict[tuple, OpCost | None] = {}
        self._demand: dict[tuple[int, int], dict[str, int] | None] = {}

    def row_demand(self, i: int, rows: int) -> dict[str, int] | None:
        """Memoized `ir.ops.row_demand` of node i: the same (node, rows) recurs across the
        many overlapping groups a planner prices."""
        key = (i, rows)
        if key not in self._demand:
            self._demand[key] = row_demand(self.problem.graph.nodes[i], self.problem.graph, rows)
        return self._demand[key]

    # -- public ------------------------------------------------------------------------------
    def op(self, i: int, objective: Objective = by_latency) -> OpCost:
        cost = self.group((i,), objective)
        assert cost is not None  # a single op is always feasible
        return cost

    def unfused(self) -> tuple[OpCost, ...]:
        return tuple(self.op(i) for i in range(len(self.problem.graph.nodes)))

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
        p = self.problem
        compute_members = [i for i in members if not p.is_view[i]]
        if not compute_members:
            return self._view_cost(members)
        units = {p.unit[i].name for i in compute_members}
        if len(units) > 1:
            return None
        unit = p.unit[compute_members[0]]
        if len({p.precision_of(i) for i in compute_members}) > 1 and \
                not unit.fuses_mixed_precision:
            return None
        if len(compute_members) > 1 and unit.fusion is None:
            return None
        io = GroupIO.of(self, members) if io is None else io
        mac_ops = sum(p.work[i].kind in MAC_KINDS for i in compute_members)
        if unit.fusion is None or mac_ops <= 1:
            # One conv/matmul and its epilogue (bias, activation, residual add, ...) process
            # each output tile in flight, as a lone op does: nothing is buffered between ops.
            return self._price(members, compute_members, unit, io, Tiling(), None)
        sram = p.chip.level(unit.fusion.sram)
        capacity = int(sram.capacity_bytes.value)
        t_max = io.max_row_tiles(self) if unit.fusion.row_tiling else 1
        modes = ("resident", "streamed") if io.has_full_operands else ("resident",)
        plans: dict[int, dict[str, int] | None] = {}  # row tiles -> tile plan, both modes
        candidates = []
        for mode in modes:
            tiles = self._fewest_tiles(members, io, mode, capacity, t_max, plans)
            if tiles is not None:
                candidates.append(self._price(members, compute_members, unit, io,
                                              Tiling(tiles, mode), sram, plans.get(tiles)))
        return min(candidates, key=objective) if candidates else None

    def _fewest_tiles(self, members, io: GroupIO, mode: str, capacity: int, t_max: int,
                      plans: dict[int, dict[str, int] | None]) -> int | None:
        """Smallest T in [1, t_max] whose working set fits (it shrinks as T grows)."""
        def fits(t: int) -> bool:
            if t not in plans:
                plans[t] = io.tile_plan(self, members, t)
            plan = plans[t]
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
               tiling: Tiling, sram, plan: dict[str, int] | None = None) -> OpCost:
        p = self.problem
        t = tiling.row_tiles
        if t == 1:
            plan = {}
        elif plan is None:
            plan = io.tile_plan(self, members, t)
        moved = io.bytes_moved(self, plan, t, tiling.weights)
        mac_s = vec_s = 0.0
        macs = vector_ops = recompute_macs = 0
        uses: set[str] = set()
        for i in compute_members:
            factor = io.recompute_factor(self, i, plan, t)
            c = p.compute[i]
            mac_s += c.mac_s * factor
            vec_s += c.vector_s * factor
            macs += p.work[i].macs
            vector_ops += p.work[i].vector_ops
            recompute_macs += round(p.work[i].macs * (factor - 1))
            if c.extra_dram_bytes and moved:  # operand re-reads, multi-core duplicates
                _charge_reread(moved, p.reads[i], c.extra_dram_bytes)
            uses.update(c.uses)
        stores = dict(io.stores)
        if unit.dma is None and unit.dma_channels is None and self.padding:
            # a unit that reads DRAM itself (GPU, CPU) moves its tensors in its layout
            moved = {r: (p.padded(r, b), rows) for r, (b, rows) in moved.items()}
            stores = {name: p.padded(name, b) for name, b in stores.items()}
        loaded = round(sum(nbytes for nbytes, _ in moved.values()))
        stored = sum(stores.values())
        dram = p.chip.dram
        transfers = group_transfers(io.loads, io.stores, io.full_operands, t,
                                    tiling.weights == "resident")
        memory_s, memory_uses = dram_time_s(loaded + stored, transfers, dram, unit)
        memory_ms = 1e3 * memory_s
        uses.update(memory_uses)
        # the group's kind and precision are its conv/matmul's (a mixed group's lead op)
        lead = next((i for i in compute_members if p.work[i].kind in MAC_KINDS),
                    compute_members[0])
        precision = p.precision_of(lead)
        inside = set(compute_members)
        transition_s = 0.0
        reformat_bytes: dict[str, int] = {}
        for root, nbytes in io.loads.items():
            src = p.producer.get(root)
            if src is None or p.unit[src] is None:
                continue
            if p.unit[src].name != unit.name:
                seconds, handoff_uses = handoff_s(nbytes, p.unit[src], unit, p.chip,
                                                  precision.compute)
            elif any(needs_reformat(p, j, p.precision_of(src))
                     for j in p.readers.get(root, ()) if j in inside):
                reformat_bytes[root] = p.stored_bytes(root) + nbytes
                seconds, handoff_uses = reformat_s(reformat_bytes[root], unit, p.chip)
            else:
                continue
            transition_s += seconds
            uses.update(handoff_uses)
        for root, extra in reformat_bytes.items():  # the reformat kernel reads and writes it
            nbytes, rows = moved[root]
            moved[root] = (nbytes + extra, rows)
        traffic = tuple(
            [Traffic(root, "load", root in io.full_operands, io.loads[root], round(nbytes),
                     rows) for root, (nbytes, rows) in sorted(moved.items())]
            + [Traffic(tensor, "store", False, io.stores[tensor], nbytes,
                       None if t == 1 else plan.get(tensor))
               for tensor, nbytes in sorted(stores.items())])
        loaded = sum(x.bytes_moved for x in traffic if x.direction == "load")
        transition_ms = 1e3 * transition_s
        compute_ms = 1e3 * max(mac_s, vec_s)
        overhead_ms = unit.op_overhead_us.value / 1e3
        latency_ms = max(compute_ms, memory_ms) + overhead_ms + transition_ms
        if max(compute_ms, memory_ms) < overhead_ms:
            bound_by = Bound.OVERHEAD
        else:
            bound_by = Bound.COMPUTE if compute_ms >= memory_ms else Bound.MEMORY
        uses.update((figure_path(unit, "op_overhead_us"), figure_path(dram, "bandwidth_GBps")))
        if dram.efficiency is not None:
            uses.add(figure_path(dram, "efficiency"))
        if sram is not None:
            uses.add(figure_path(sram, "capacity_bytes"))
        nodes = p.graph.nodes
        return OpCost(
            name=group_name(p.graph, members, self.sources),
            op_types=tuple(nodes[i].op_type for i in members),
            kind=p.work[lead].kind, unit=unit.name, precision=precision, macs=macs,
            vector_ops=vector_ops, bytes_loaded=loaded, bytes_stored=stored,
            compute_ms=compute_ms, memory_ms=memory_ms, overhead_ms=overhead_ms,
            latency_ms=latency_ms, bound_by=bound_by,
            rests_on=tuple(sorted(u for u in uses if u in p.estimated)),
            members=tuple(nodes[i].name for i in members), tiling=tiling, traffic=traffic,
            working_set_bytes=int(io.working_set(self, plan, t, tiling.weights))
            if sram is not None else 0,
            sram_level=sram.name if sram is not None else None,
            sram_capacity_bytes=int(sram.capacity_bytes.value) if sram is not None else 0,
            recompute_macs=recompute_macs,
            resident=tuple(sorted(io.full_operands)) if tiling.weights == "resident" else (),
            internal=tuple(t for i in compute_members for t in nodes[i].outputs
                           if t in io.internal) if sram is not None else (),
            transition_ms=transition_ms)

    def _view_cost(self, members: tuple[int, ...]) -> OpCost:
        p = self.problem
        nodes = p.graph.nodes
        unit = p.chip.ordered_units[0]
        return OpCost(group_name(p.graph, members, self.sources),
                      tuple(nodes[i].op_type for i in members), FusionKind.SHAPE_ONLY, unit.name, p.precision_of(members[0]), 0, 0, 0,
                      0, 0.0, 0.0, 0.0, 0.0, Bound.VIEW, (),
                      members=tuple(nodes[i].name for i in members))


def _charge_reread(moved: dict[str, tuple[float, int | None]], reads, extra_bytes: float
                   ) -> None:
    """Charge the DRAM re-reads an op's mapping adds to the largest operand it loads (to the
    group's largest load when every operand of the op is produced inside the group)."""
    loaded = [r for r in reads if r.root in moved]
    big = (max(loaded, key=lambda r: r.nbytes).root if loaded
           else max(moved, key=lambda t: moved[t][0]))
    nbytes, rows = moved[big]
    moved[big] = (nbytes + extra_bytes, rows)
