"""The accuracy / latency trade-off of a model on a chip, searched: from all-int8, the worst
layers (layerwise output SQNR, as `npusim numerics` ranks them) move one at a time to the
higher precision the chip offers (int16 on a BPU, fp16 on a GPU or DLA); every point has the
output SQNR of a bit-accurate run and the latency of the plan, both of the same map.

An already quantized model (QDQ, QAT) starts as quantized, with its own Q/DQ parameters, and
its layers move out of Q/DQ into fp16 (on a BPU chip that runs them on the unit with float:
the CPU); int16 would need quantization parameters the model does not have."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import onnx

from npusim import api
from npusim.errors import NpusimError
from npusim.hw import load_chip
from npusim.hw.schema import Chip
from npusim.ir import Precision
from npusim.outputs import json_number


@dataclass(frozen=True, slots=True)
class Point:
    """One precision map: the layers moved (in the order they were moved), its latency from
    the plan and its output SQNR against the float model (dB)."""

    label: str
    moved: tuple[str, ...]
    precisions: Mapping[str, str]
    latency_ms: float
    output_sqnr_db: float
    estimated: bool              # the latency rests on an estimated profile figure
    pareto: bool = False


@dataclass(frozen=True, slots=True)
class Search:
    model: str
    chip: str
    high: str                    # the precision layers move to
    points: tuple[Point, ...]    # all-int8, then one more layer moved each, then all-high
    chosen: int                  # index into points
    criterion: str               # how `chosen` was picked
    reached: bool                # the target / budget was met
    ranking: tuple[str, ...] = field(default=())
    kept_high: int = 0           # nodes the builder keeps in `high` at every int8 point

    @property
    def pareto(self) -> tuple[Point, ...]:
        return tuple(p for p in self.points if p.pareto)

    @property
    def chosen_point(self) -> Point:
        return self.points[self.chosen]

    def to_dict(self) -> dict:
        def point(i, p):
            return {"index": i, "label": p.label, "latency_ms": p.latency_ms,
                    "output_sqnr_db": json_number(p.output_sqnr_db), "layers_moved": list(p.moved),
                    "precisions": dict(sorted(p.precisions.items())), "pareto": p.pareto,
                    "estimated": p.estimated}
        return {"model": self.model, "chip": self.chip, "high_precision": self.high,
                "points": [point(i, p) for i, p in enumerate(self.points)],
                "chosen": self.chosen, "criterion": self.criterion, "reached": self.reached,
                "ranking": list(self.ranking), "kept_high_by_builder": self.kept_high}


def high_precision(chip: Chip, quantized: bool = False) -> str:
    """The precision a layer moves to on `chip`: int16 where its first unit has int16 MACs
    (a BPU), else fp16 (a GPU, a DLA). A quantized model's layers move to fp16 on whichever
    unit runs it (its Q/DQ parameters are its own: there are none for int16)."""
    unit = chip.ordered_units[0]
    if Precision.INT16 in unit.macs_per_cycle and not quantized:
        return "int16"
    units = chip.ordered_units if quantized else chip.ordered_units[:1]
    if any(Precision.FP16 in u.macs_per_cycle for u in units):
        return "fp16"
    raise NpusimError(f"chip '{chip.name}': its first unit '{unit.name}' offers neither int16 "
                      "nor fp16 to move layers to")


def search(model, chip, inputs: Mapping[str, np.ndarray], *, shapes=None, max_moves: int = 8,
           target_sqnr_db: float | None = None, latency_budget_ms: float | None = None,
           fusion: str = "dp", scheme: str = "ort",
           ranking: tuple[str, ...] | None = None) -> Search:
    """Price and measure all-int8, the worst 1..`max_moves` layers moved, and all-high.
    `ranking` (worst first, as `worst_layers` of an int8 `run_numerics`) skips the layerwise
    runs that rank the layers, e.g. when one model is searched on several chips."""
    from npusim.numerics import run_numerics
    if target_sqnr_db is not None and latency_budget_ms is not None:
        raise NpusimError("give --target-sqnr or --latency-budget-ms, not both")
    if max_moves < 1:
        raise NpusimError("--max-moves must be at least 1")
    hw = load_chip(chip)
    proto = _float_model(model)
    name = _name(model, proto)
    graph = api.load(proto, shapes, zoo_weights="light")
    from npusim.numerics.load import is_quantized
    quantized = is_quantized(graph)
    high = high_precision(hw, quantized)
    if quantized:  # the float reference is the model without its activation Q/DQ
        base = run_numerics(proto, inputs, shapes=shapes, scheme=scheme)
        ref = {o: v for o, v in base.reference_outputs.items() if v.dtype.kind == "f"}
        ranking = base.worst_layers if ranking is None else ranking
    else:
        reference = run_numerics(proto, inputs, shapes=shapes, scheme=scheme, precision="fp32")
        ref = {o: v for o, v in reference.outputs.items() if v.dtype.kind == "f"}
    if not ref:
        raise NpusimError(f"{name}: no float output to measure the SQNR of")
    if ranking is None:
        ranking = run_numerics(proto, inputs, shapes=shapes, scheme=scheme,
                               precision="int8").worst_layers
    cost_names = {n.name for n in graph.nodes}
    ranking = tuple(n for n in ranking if n in cost_names)

    def measure(label, moved, precisions, precision="int8"):
        problem = api.prepare(graph, hw, precision=precision, precisions=precisions)
        report = api.simulate(problem, fusion=fusion)
        if precision == "int8":
            # the values of what the builder builds: layers it keeps in fp16 run in fp16 (a
            # quantized model runs its own Q/DQ, the mapped layers out of them)
            built = {**{n: p.value for n, p in problem.builder_choices.items()}, **precisions}
            run = run_numerics(proto, inputs, shapes=shapes, scheme=scheme, precision="int8",
                               precisions=built or None, reference=False,
                               layerwise=False)
        else:
            run = run_numerics(proto, inputs, shapes=shapes, scheme=scheme,
                               precision=precision, layerwise=False)
        sqnr = _output_sqnr(ref, run.outputs)
        return Point(label, tuple(moved), dict(precisions), report.totals.latency_ms, sqnr,
                     report.totals.estimated), problem

    low, built = measure("as quantized" if quantized else "all int8", (), {})
    points = [low]
    # a view op (Reshape, ...) runs at no precision, and a layer the builder already keeps
    # in the higher one (TensorRT: INT8 is a permission) gains nothing by being moved there
    ranking = tuple(n for n in ranking if n not in built.builder_choices
                    and not built.is_view[built.index[n]])
    for k in range(1, min(max_moves, len(ranking)) + 1):
        moved = ranking[:k]
        points.append(measure(f"{k} moved", moved, {n: high for n in moved})[0])
    if quantized:  # every layer out of Q/DQ (the Q/DQ nodes themselves are not layers)
        every = {n.name: high for n in graph.nodes
                 if n.op_type not in ("QuantizeLinear", "DequantizeLinear")
                 and not built.is_view[built.index[n.name]]}
        top = measure(f"all {high}", ("*",), every)[0]
    else:
        every = {n.name: high for n in graph.nodes}
        top = measure(f"all {high}", ("*",), {}, precision=high)[0]
    points.append(Point(top.label, top.moved, every, top.latency_ms, top.output_sqnr_db,
                        top.estimated))
    points = _mark_pareto(points)
    chosen, criterion, reached = _choose(points, target_sqnr_db, latency_budget_ms)
    return Search(name, hw.name, high, tuple(points), chosen, criterion, reached, ranking,
                  len(built.builder_choices))


def _mark_pareto(points: list[Point]) -> list[Point]:
    """A point is on the front when no other is at least as fast and more accurate (or
    faster and at least as accurate)."""
    out = []
    for p in points:
        dominated = any(
            (q.latency_ms <= p.latency_ms and q.output_sqnr_db > p.output_sqnr_db)
            or (q.latency_ms < p.latency_ms and q.output_sqnr_db >= p.output_sqnr_db)
            for q in points if q is not p)
        out.append(Point(p.label, p.moved, p.precisions, p.latency_ms, p.output_sqnr_db,
                         p.estimated, not dominated))
    return out


def _choose(points: list[Point], target: float | None, budget: float | None
            ) -> tuple[int, str, bool]:
    """The point a target SQNR (the fastest reaching it) or a latency budget (the most
    accurate within it) picks; without either, the most accurate Pareto point that is not
    the all-high one (unless that one is the whole front, or costs under 1% more)."""
    maps = list(range(len(points)))
    front = [i for i in maps if points[i].pareto and points[i].moved != ("*",)] or [
        i for i in maps if points[i].pareto]
    if target is not None:
        ok = [i for i in maps if points[i].output_sqnr_db >= target]
        if ok:
            return min(ok, key=lambda i: (points[i].latency_ms, i)), \
                f"fastest with output SQNR >= {target:g} dB", True
        return max(maps, key=lambda i: (points[i].output_sqnr_db, -i)), \
            f"most accurate (no map reaches {target:g} dB)", False
    if budget is not None:
        ok = [i for i in maps if points[i].latency_ms <= budget]
        if ok:
            return max(ok, key=lambda i: (points[i].output_sqnr_db, -i)), \
                f"most accurate within {budget:g} ms", True
        return min(maps, key=lambda i: (points[i].latency_ms, i)), \
            f"fastest (no map fits {budget:g} ms)", False
    best = max(front, key=lambda i: (points[i].output_sqnr_db, -i))
    top = len(points) - 1
    if points[top].pareto and points[top].latency_ms <= points[best].latency_ms * (1 + _SAME):
        return top, (f"{points[top].label} costs under {100 * _SAME:g}% more than the most "
                     "accurate mixed map"), True
    return best, "most accurate Pareto map", True


_SAME = 0.01  # latencies this close are the same engine for a user choosing a map


def _output_sqnr(ref: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray]) -> float:
    """SQNR of the first float output against the float model (dB)."""
    from npusim.numerics.metrics import sqnr_db
    name = next(iter(ref))
    return float(sqnr_db(ref[name], np.asarray(outputs[name], np.float32)))


def _float_model(model) -> onnx.ModelProto | str | os.PathLike:
    """The model with real weight values (numerics needs them; a zoo model is built)."""
    if isinstance(model, str) and model.startswith(api.ZOO_PREFIX):
        from npusim import zoo
        return zoo.build(model[len(api.ZOO_PREFIX):])
    return model


def _name(model, proto) -> str:
    if isinstance(model, str | os.PathLike):
        return os.path.basename(os.fspath(model))
    return getattr(getattr(proto, "graph", None), "name", "model")

