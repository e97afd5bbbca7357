"""Independent check that every group of a plan fits its SRAM level.

It recomputes each group's working set from the graph, the chip and the group's recorded
tiling alone, with its own accounting (not the cost model's), and reports every group whose
tiles do not fit. A planner bug that admits an oversized group fails here.
"""

from __future__ import annotations

import math

from npusim.cost.problem import is_view
from npusim.fusion.plan import Plan
from npusim.hw import Chip
from npusim.ir import Graph, Precision, op_work
from npusim.ir.ops import FULL, MAC_KINDS, Role, row_demand, rows_of


def oversized_groups(plan: Plan) -> list[str]:
    """Names of groups whose working set exceeds their SRAM level (empty when all fit)."""
    graph, chip = plan.problem.graph, plan.problem.chip
    bad = []
    for g in plan.groups:
        if g.sram_level is None:
            continue
        precision = g.precision
        kinds = [op_work(graph.node(m), graph).kind for m in g.members
                 if not is_view(op_work(graph.node(m), graph), precision)]
        if sum(k in MAC_KINDS for k in kinds) <= 1:
            continue  # an op and its epilogue stream tile by tile; nothing is held
        need = working_set(graph, g.members, g.tiling.row_tiles, g.tiling.weights, precision,
                           chip, g.unit)
        if need > chip.level(g.sram_level).capacity_bytes.value:
            bad.append(f"{g.name}: needs {need:.0f} B of {g.sram_level}")
    return bad


def working_set(graph: Graph, members: tuple[str, ...], tiles: int, weights: str,
                precision: Precision, chip: Chip, unit_name: str) -> float:
    member_set = set(members)
    aliases = _view_aliases(graph, precision)
    compute = [m for m in members if not is_view(op_work(graph.node(m), graph), precision)]
    produced = {o for m in compute for o in graph.node(m).outputs if o}

    def width(name: str, role: Role) -> float:
        dtype = graph.tensor(name).dtype
        if not dtype.is_float:
            return dtype.itemsize
        if role is Role.BIAS and precision.value.startswith("int"):
            return 4
        return precision.activation_bytes

    # rows per tile of every tensor, walking back from the stored outputs
    stored = set()
    for m in members:
        for o in graph.node(m).outputs:
            outside = [c for c in graph.consumers(o) if c.name not in member_set] if o else ()
            if outside or o in graph.outputs:
                stored.add(o)
    rows: dict[str, int] = {o: math.ceil(rows_of(graph, o) / tiles) for o in stored}
    if tiles > 1:
        for m in reversed(members):
            node = graph.node(m)
            wanted = [rows[o] for o in node.outputs if o in rows]
            if not wanted:
                continue
            need = row_demand(node, graph, max(wanted)) or {}
            for t, r in need.items():
                rows[t] = FULL if FULL in (r, rows.get(t)) else max(r, rows.get(t, 0))
    buffers = 2 if tiles > 1 else 1
    total = 0.0
    weight_bytes, chunks = 0.0, [0.0]
    block = chip.unit(unit_name).fusion.weight_block_channels.value
    seen: set[str] = set()
    for m in compute:
        work = op_work(graph.node(m), graph)
        for a in work.reads:
            root = aliases.get(a.tensor, a.tensor)
            if root in produced or root in seen:
                continue
            seen.add(root)
            nbytes = a.elements * width(a.tensor, a.role)
            r = rows.get(a.tensor, FULL) if tiles > 1 else FULL
            if graph.tensor(root).is_constant:
                weight_bytes += nbytes
                shape = graph.shape(a.tensor)
                channels = shape[0] if len(shape) == 4 else (shape[-1] if shape else 1)
                chunks.append(nbytes / math.ceil(max(channels, 1) / block))
            elif r == FULL:
                total += nbytes
            else:
                total += buffers * nbytes * r / rows_of(graph, a.tensor)
        for a in work.writes:
            h = rows_of(graph, a.tensor)
            r = rows.get(a.tensor, FULL) if tiles > 1 else FULL
            share = 1.0 if r == FULL else r / h
            copies = buffers if a.tensor in stored else 1
            total += copies * a.elements * width(a.tensor, a.role) * share
    return total + (weight_bytes if weights == "resident" else 2 * max(chunks))


def _view_aliases(graph: Graph, precision: Precision) -> dict[str, str]:
    """Output of every view op (in this group or not) -> the tensor it views."""
    out: dict[str, str] = {}
    for node in graph.nodes:
        if is_view(op_work(node, graph), precision) and node.inputs:
            out[node.outputs[0]] = out.get(node.inputs[0], node.inputs[0])
    return out
