"""What an int8 build of a float model keeps in a higher precision when that is faster.

TensorRT treats the INT8 flag as permission: "TensorRT will still choose a higher-precision
kernel if it results in overall lower runtime" (TensorRT Developer Guide, Reduced Precision).
A unit whose profile says `build.int8_choice: fastest` gets the same choice here, per run of
int8 layers between layers the build keeps in `fallback_precision` (an island: flipping part
of it would add reformats inside it). Two builds are offered besides all-int8: the islands
whose layers, priced alone with the reformats at their edges, are faster in the fallback
precision kept there, and every island kept there; `api.prepare` plans the three and keeps
the fastest. QDQ models
(explicit quantization) are never changed, nor layers whose precision the user chose.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from npusim.cost.model import CostModel
from npusim.cost.naming import connected_parts
from npusim.cost.opcost import by_latency
from npusim.cost.problem import Problem
from npusim.cost.transitions import needs_reformat, reformat_s
from npusim.ir import Precision

Reprice = Callable[[Mapping[str, Precision]], Problem]


def builder_options(problem: Problem, explicit: Collection[str], reprice: Reprice
                    ) -> list[dict[str, Precision]]:
    """The builds to choose from, as node -> fallback precision maps (empty: none to make):
    the islands that are faster kept higher, layer by layer, and every island kept higher.
    The caller plans each (with fusion, which layer-by-layer pricing does not see: an int8
    island also cuts the fused groups around it) and keeps the fastest, as the builder's
    timing does. `reprice(flips)` gives the problem with those nodes at those precisions."""
    if problem.precision is not Precision.INT8 or _has_qdq(problem):
        return []
    nodes = problem.graph.nodes
    candidates = {i for i, n in enumerate(nodes)
                  if not problem.is_view[i] and problem.unit[i] is not None
                  and problem.unit[i].build is not None
                  and problem.unit[i].build.int8_choice == "fastest"
                  and problem.precisions[n.name] is Precision.INT8 and n.name not in explicit}
    if not candidates:
        return []
    islands = _islands(problem, candidates)
    flipped = {nodes[i].name: problem.unit[i].build.fallback_precision for i in candidates}
    high = reprice(flipped)
    low_costs, high_costs = CostModel(problem), CostModel(high)
    out: dict[str, Precision] = {}
    for island in islands:
        low = sum(_ms(low_costs, i) + _edge_reformats_ms(problem, high, i, island)
                  for i in island)
        if sum(_ms(high_costs, i) for i in island) < low:
            out.update((nodes[i].name, flipped[nodes[i].name]) for i in island)
    return [o for o in (out, flipped) if o] if out != flipped else [flipped]


def _islands(problem: Problem, candidates: set[int]) -> list[list[int]]:
    """Connected runs of candidate nodes (through the tensors one writes and another reads),
    in node order."""
    return connected_parts(sorted(candidates), lambda i: (
        problem.producer.get(r.root) for r in problem.reads[i]))


def _ms(costs: CostModel, i: int) -> float:
    cost = costs.group((i,), by_latency)
    return float("inf") if cost is None else cost.latency_ms


def _edge_reformats_ms(low: Problem, high: Problem, i: int, island: list[int]) -> float:
    """The reformat kernels that node i's outputs need for readers outside its island at
    another precision (the readers pay them in the int8 build; keeping the island in the
    fallback precision saves them)."""
    members = set(island)
    ms = 0.0
    for w in low.writes[i]:
        for j in low.readers.get(w.tensor, ()):
            if j in members or low.unit[j] is None or low.unit[j].name != low.unit[i].name:
                continue
            if needs_reformat(low, j, low.precision_of(i)):
                seconds, _ = reformat_s(low.stored_bytes(w.tensor) + high.stored_bytes(w.tensor),
                                        low.unit[i], low.chip)
                ms += 1e3 * seconds
    return ms


def _has_qdq(problem: Problem) -> bool:
    return any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in problem.graph.nodes)
