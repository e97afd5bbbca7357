"""Fit chip-level constants on the published measurements, and report every residual.

    python benchmarks/calibrate.py [--family gpu|npu] [--rounds 2]

Only `../shared/measurements/calibration.csv` is used. A fit group is a set of chips that
share the fitted constants (one architecture, one toolchain); every constant is the same for
every model. The loss is the mean squared log error over the group's rows, minimized by a
deterministic coordinate search in log space within physical bounds. While searching, each
row keeps the fusion plan of the current constants and is re-priced and re-scheduled (the
plan is re-made once per round); the residuals printed at the end are full runs.
Leave-one-out residuals (each row predicted by constants fitted without it) are printed too:
they are the honest estimate of the error on a model npusim has not seen.
"""

from __future__ import annotations

import argparse
import copy
import functools
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import npusim  # noqa: E402
from npusim import api  # noqa: E402
from npusim.cost import CostModel, by_latency, prepare_problem  # noqa: E402
from npusim.fusion import Plan  # noqa: E402
from npusim.hw import Chip, load_chip  # noqa: E402
from npusim.ir import Precision  # noqa: E402
from validation import CACHE, MEASUREMENTS, Row, measured_quantity, read_rows  # noqa: E402


@dataclass(frozen=True)
class Param:
    """One fitted constant: the profile field it sets on every chip of its group, its
    bounds, and where the search starts."""

    path: tuple[str, ...]        # e.g. ("compute_units", "gpu", "gpu", "tile_overhead_cycles")
    lo: float
    hi: float
    start: float
    chips: tuple[str, ...] = ()  # the chips it applies to (empty: every chip of the group)

    @property
    def name(self) -> str:
        return ".".join(self.path) + (f" ({', '.join(self.chips)})" if self.chips else "")

    @property
    def key(self) -> tuple:
        return (self.path, self.chips)


@dataclass
class Group:
    name: str
    chips: tuple[str, ...]
    params: tuple[Param, ...]
    rows: list[Row] = field(default_factory=list)


def _unit(dump: dict, name: str) -> dict:
    return next(u for u in dump["compute_units"] if u["name"] == name)


def _level(dump: dict, name: str) -> dict:
    return next(m for m in dump["memory"] if m["name"] == name)


def set_value(dump: dict, path: tuple[str, ...], value: float) -> None:
    """Set a figure in a dumped chip, creating the optional objects on the way."""
    node = dump
    head, rest = path[0], path[1:]
    if head == "compute_units":
        node, rest = _unit(dump, rest[0]), rest[1:]
    elif head == "memory":
        node, rest = _level(dump, rest[0]), rest[1:]
    else:
        rest = path
    for key in rest[:-1]:
        if node.get(key) is None:
            node[key] = {}
        node = node[key]
    node[rest[-1]] = {"value": value, "source": None, "estimated": None,
                      "calibrated": "fit in progress"}


@functools.lru_cache(maxsize=None)
def _dumped(name: str) -> dict:
    """A bundled profile as data, read once per chip (each evaluation copies it)."""
    return load_chip(name).model_dump(mode="json")


def chip_with(name: str, values: dict[tuple, float]) -> Chip:
    """The bundled chip with fitted values set; a key is a profile path, or (path, chips)
    for a constant that applies to some chips of the group only."""
    dump = copy.deepcopy(_dumped(name))
    for key, value in values.items():
        path, chips = key if isinstance(key[0], tuple) else (key, ())
        if not chips or name in chips:
            set_value(dump, path, value)
    return Chip.model_validate(dump)


class Evaluator:
    """Predictions for the rows of one group under candidate constants."""

    def __init__(self, group: Group):
        from validation_models import cached_model
        self.group = group
        self.graphs = {id(r): npusim.load(cached_model(r.model, r.size, CACHE),
                                          zoo_weights="light", outputs=r.outputs)
                       for r in group.rows}
        self.segments: dict[int, list[tuple[int, ...]]] = {}

    def replan(self, values) -> None:
        for r in self.group.rows:
            problem = self._problem(r, values)
            plan = api.plan(problem)
            self.segments[id(r)] = [tuple(problem.index[m] for m in g.members)
                                    for g in plan.groups]

    def _problem(self, r: Row, values):
        chip = r.chip_profile(chip_with(r.chip, values))
        return prepare_problem(self.graphs[id(r)], chip, Precision(r.built_precision),
                               model=r.model)

    def predict(self, r: Row, values, full: bool = False) -> float:
        problem = self._problem(r, values)
        if full or id(r) not in self.segments:
            return measured_quantity(r, api.report(api.schedule(api.plan(problem))))
        cm = CostModel(problem)
        groups = [cm.group(seg, by_latency) or None for seg in self.segments[id(r)]]
        if any(g is None for g in groups):  # a group no longer fits: plan anew
            return measured_quantity(r, api.report(api.schedule(api.plan(problem))))
        plan = Plan(problem, "dp", "latency", tuple(groups), 0.0)
        return measured_quantity(r, api.report(api.schedule(plan)))

    def loss(self, values, rows=None, full=False) -> float:
        rows = self.group.rows if rows is None else rows
        errs = [math.log(self.predict(r, values, full) / r.measured_ms) for r in rows]
        return sum(e * e for e in errs) / len(errs)


def fit(ev: Evaluator, rows, rounds: int) -> dict[tuple[str, ...], float]:
    """Coordinate search in log space: per constant, a golden-section search within its
    bounds, all constants in turn, `rounds` times (the plan is re-made each round)."""
    params = ev.group.params
    values = {p.key: p.start for p in params}
    for _ in range(rounds):
        ev.replan(values)
        for p in params:
            def f(x, p=p):
                trial = {**values, p.key: math.exp(x)}
                return ev.loss(trial, rows)
            values[p.key] = math.exp(_golden(f, math.log(p.lo), math.log(p.hi)))
    return values


def _golden(f, a: float, b: float, steps: int = 11) -> float:
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(steps):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    return (a + b) / 2


GPU = ("orin-agx-gpu", "orin-nx-gpu", "orin-nano")
GROUPS = {
    "gpu": Group(
        "Jetson Ampere GPU with TensorRT 8.5 (orin-agx-gpu, orin-nx-gpu, orin-nano)", GPU,
        (Param(("compute_units", "gpu", "gpu", "tile_overhead_cycles"), 50, 20000, 500),
         Param(("runtime", "inference_overhead_us"), 1, 500, 30),
         Param(("memory", "dram", "efficiency"), 0.2, 0.95, 0.87, ("orin-nano",)))),
    "bayes-e": Group(
        "Horizon Bayes-e BPU (rdk-x5)", ("rdk-x5",),
        (Param(("compute_units", "bpu", "array", "efficiency"), 0.05, 1.0, 0.5),
         Param(("runtime", "inference_overhead_us"), 1, 5000, 300),
         Param(("compute_units", "bpu", "array", "depthwise_macs_per_cycle"), 16, 5120, 256))),
    "nash": Group(
        "Horizon Nash BPU (rdk-s100, rdk-s100p)", ("rdk-s100", "rdk-s100p"),
        (Param(("compute_units", "bpu", "array", "efficiency"), 0.05, 1.0, 0.5),
         Param(("runtime", "inference_overhead_us"), 1, 5000, 300))),
}
# Rows whose time rests on work npusim does not model are predicted and reported, but do
# not steer the fit: fitted on them, chip-level constants would absorb a missing mechanism
# and be wrong for every other model.
EXCLUDED_TIMED = {  # what_is_timed says the board did work the graph does not have
    "includes box decode and NMS": "times box decode and NMS, which the graph does not have "
                                    "(on Orin: the RetinaNetNMSPVATRT plugin on the PVA)"}
EXCLUDED_ROWS: dict[tuple[str, str], str] = {}  # (model, chip): the mechanism npusim lacks


def excluded(row: Row) -> str | None:
    """Why a row is kept out of the fit, or None."""
    for phrase, why in EXCLUDED_TIMED.items():
        if phrase in row.what_is_timed:
            return why
    return EXCLUDED_ROWS.get((row.model, row.chip))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", choices=sorted(GROUPS), action="append")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-loo", action="store_true", help="skip leave-one-out")
    args = ap.parse_args(argv)
    rows = read_rows(MEASUREMENTS)
    for key in args.family or sorted(GROUPS):
        group = GROUPS[key]
        group.rows = [r for r in rows if r.chip in group.chips]
        fitted = [r for r in group.rows if excluded(r) is None]
        ev = Evaluator(group)
        values = fit(ev, fitted, args.rounds)
        print(f"## {group.name}: fitted on {len(fitted)} of {len(group.rows)} rows\n")
        for p in group.params:
            print(f"- `{p.name}` = {values[p.key]:.6g}")
        print("\n| model | chip | precision | measured ms | fitted ms | error | "
              "leave-one-out ms | error |\n|---|---|---|---|---|---|---|---|")
        for r in group.rows:
            ms = ev.predict(r, values, full=True)
            loo = f"(not in the fit: {excluded(r)}) |" if r not in fitted else ""
            if not args.no_loo and r in fitted:
                others = [o for o in fitted if o is not r]
                held = fit(ev, others, 1)
                lms = ev.predict(r, held, full=True)
                loo = f"{lms:.3f} | {100 * (lms / r.measured_ms - 1):+.1f}%"
            print(f"| {r.model} | {r.chip} | {r.listed_precision} | {r.measured_ms:g} | {ms:.3f} | "
                  f"{100 * (ms / r.measured_ms - 1):+.1f}% | {loo} |")
        print()


if __name__ == "__main__":
    main()
