"""The public entry points; the CLI is a thin shell over these.

`simulate` runs the pipeline: ONNX -> IR -> canonical IR -> fusion plan on a chip -> Report;
`plan` stops at the plan. A model is a path, an `onnx.ModelProto`, or `zoo:NAME`.
"""

from __future__ import annotations

import os
from collections import defaultdict

import onnx

from npusim import fusion
from npusim.cost import OpCost
from npusim.errors import NpusimError
from npusim.frontend import load_graph
from npusim.fusion import Plan
from npusim.hw import Chip, load_chip
from npusim.ir import Graph, Precision
from npusim.ir.passes import canonicalize
from npusim.result import LayerRow, Report, Totals

ModelLike = str | os.PathLike | onnx.ModelProto | Graph

ZOO_PREFIX = "zoo:"


def load(model: ModelLike, shapes: str | dict[str, tuple[int, ...]] | None = None, *,
         zoo_weights: str = "random", outputs: str | None = None) -> Graph:
    """The canonical IR of a model (constants folded, BN folded, identities removed).
    `zoo_weights="light"` builds a zoo model with placeholder weights (structure only)."""
    if isinstance(model, Graph):
        return model
    if isinstance(model, str) and model.startswith(ZOO_PREFIX):
        from npusim import zoo
        model = zoo.build(model[len(ZOO_PREFIX):], weights=zoo_weights)
    return canonicalize(load_graph(model, shapes, outputs))


def parse_precision(precision: str | Precision) -> Precision:
    try:
        return Precision(precision)
    except ValueError:
        known = ", ".join(p.value for p in Precision)
        raise NpusimError(f"unknown precision '{precision}'; use one of {known}") from None


def plan(model: ModelLike, chip: str | os.PathLike | Chip,
         shapes: str | dict[str, tuple[int, ...]] | None = None,
         precision: str | Precision = "int8", strategy: str = "dp",
         objective: str = "latency", outputs: str | None = None) -> Plan:
    """Which ops run fused on `chip`, with what tiling, and what each group costs.
    `strategy`: none, rules, greedy or dp; `objective`: latency, ddr or weighted:W."""
    graph, hw, precision, name = prepare(model, chip, shapes, precision, outputs)
    return fusion.plan(graph, hw, precision, strategy, objective, name)


def compare(model: ModelLike, chip: str | os.PathLike | Chip,
            shapes: str | dict[str, tuple[int, ...]] | None = None,
            precision: str | Precision = "int8", objective: str = "latency",
            outputs: str | None = None) -> tuple[Plan, ...]:
    """The four fusion strategies side by side, sharing one cost model."""
    graph, hw, precision, name = prepare(model, chip, shapes, precision, outputs)
    return compare_graph(graph, hw, precision, objective, name)


def compare_graph(graph: Graph, chip: Chip, precision: Precision, objective: str = "latency",
                  name: str | None = None) -> tuple[Plan, ...]:
    """`compare` on an already prepared graph and chip."""
    from npusim.cost import CostModel
    costs = CostModel(graph, chip, precision)
    return tuple(fusion.plan(graph, chip, precision, s, objective, name, cost_model=costs)
                 for s in fusion.STRATEGIES)


def simulate(model: ModelLike, chip: str | os.PathLike | Chip,
             shapes: str | dict[str, tuple[int, ...]] | None = None,
             precision: str | Precision = "int8", fusion: str = "dp",
             objective: str = "latency") -> Report:
    """Predict per-layer and total latency of one frame of `model` on `chip`; layers are
    the fused groups of the `fusion` strategy (`none` prices every op alone)."""
    hw = load_chip(chip)
    return build_report(plan(model, hw, shapes, precision, fusion, objective), hw)


def prepare(model: ModelLike, chip, shapes=None, precision="int8", outputs=None
            ) -> tuple[Graph, Chip, Precision, str]:
    """The graph (cost needs shapes, not weight values: zoo models load light), the chip,
    the precision and the model's display name: what every planning entry point starts from."""
    precision = parse_precision(precision)
    hw = load_chip(chip)
    graph = load(model, shapes, zoo_weights="light", outputs=outputs)
    return graph, hw, precision, _model_name(model, graph)


def build_report(p: Plan, chip: Chip) -> Report:
    """Lay the groups end to end (one group at a time) and total them."""
    costs: tuple[OpCost, ...] = p.groups
    total_ms = sum(c.latency_ms for c in costs)
    rows, start, busy = [], 0.0, defaultdict(float)
    preferred = chip.ordered_units[0].name
    for c in costs:
        rows.append(LayerRow(
            c.name, c.op_types, c.kind.value, c.unit, c.precision.value, c.macs,
            c.vector_ops, c.bytes_loaded, c.bytes_stored, start, c.compute_ms, c.memory_ms,
            c.overhead_ms, c.latency_ms, 100.0 * c.latency_ms / total_ms if total_ms else 0.0,
            c.bound_by, c.rests_on, c.members, c.tiling.row_tiles, c.tiling.weights,
            c.working_set_bytes, c.sram_level, c.transition_ms,
            c.bound_by != "view" and c.unit != preferred))
        start += c.latency_ms
        busy[c.unit] += c.latency_ms
    # Throughput with frames in flight: different units can work on different frames, so
    # the busiest unit sets the frame rate; with one unit this is 1 / latency.
    bottleneck_ms = max(busy.values(), default=0.0)
    used = sorted({path for c in costs for path in c.rests_on})
    estimated = chip.estimated_figures()
    totals = Totals(
        latency_ms=total_ms,
        fps=1e3 / bottleneck_ms if bottleneck_ms else 0.0,
        ddr_bytes_per_frame=sum(c.ddr_bytes for c in costs),
        macs=sum(c.macs for c in costs),
        flops=sum(2 * c.macs + c.vector_ops for c in costs),
        layers=sum(1 for c in costs if c.bound_by != "view"),
        busy_ms_by_unit=dict(sorted(busy.items())),
        estimated=bool(used),
        ddr_round_trips=p.ddr_round_trips)
    shapes = p.input_shapes
    return Report(p.model, chip.name, p.precision, p.strategy, p.objective, shapes,
                  tuple(rows), totals, {path: estimated[path] for path in used})


def _model_name(model: ModelLike, graph: Graph) -> str:
    if isinstance(model, str | os.PathLike) and not str(model).startswith(ZOO_PREFIX):
        return os.path.basename(os.fspath(model))
    return str(model) if isinstance(model, str) else graph.name
