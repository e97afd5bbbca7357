"""Run a pipeline spec: each model's plan scheduled alone on its unit (npusim.api), then all
runs laid on one timeline where units work concurrently, frames arrive at their rates,
consumers wait for their producers, and DRAM is shared (npusim.pipeline.contention).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from npusim import api
from npusim.cost.problem import element_bytes
from npusim.errors import NpusimError
from npusim.hw import Chip, load_chip
from npusim.hw.units import resolve_unit, select_unit, unit_names
from npusim.pipeline.contention import Executed, Job, Segment, execute, segments_of
from npusim.pipeline.spec import (AUTO, ModelEntry, PipelineError, PipelineSpec, chip_ref,
                                  load_spec, model_ref)
from npusim.schedule.timeline import Timeline


@dataclass(frozen=True, slots=True)
class Binding:
    """Where an entry runs and with what batch (after `auto` is resolved)."""

    units: tuple[str, ...]
    batch: int


@dataclass(frozen=True, slots=True)
class Run:
    """One run of an entry: the items (frame, stream) it covers and how it went."""

    entry: str
    index: int
    frames: tuple[int, ...]
    items: int
    executed: Executed
    timeline: Timeline     # its standalone schedule on the unit it ran on

    @property
    def latency_ms(self) -> float:
        return self.executed.end_ms - self.executed.ready_ms


@dataclass(frozen=True)
class PipelineRun:
    """Everything one simulation of a spec produced; `npusim.pipeline.results` summarizes."""

    spec: PipelineSpec
    chip: Chip
    frames: int
    bindings: Mapping[str, Binding]
    runs: tuple[Run, ...]
    arrivals_ms: tuple[float, ...]                  # per frame: its first source's arrival
    dram: tuple[tuple[float, float, float], ...]    # (start, end, GB/s)
    units: tuple[str, ...]
    standalone_ms: Mapping[str, float] = field(default_factory=dict)  # entry@unit -> alone


def run_file(path: str | Path, frames: int | None = None,
             bindings: Mapping[str, Binding] | None = None) -> PipelineRun:
    spec, root = load_spec(path)
    return run_spec(spec, root, frames, bindings)


def run_spec(spec: PipelineSpec, root: Path, frames: int | None = None,
             bindings: Mapping[str, Binding] | None = None) -> PipelineRun:
    """Simulate `frames` frames (default: the spec's) of the pipeline."""
    if frames is not None and frames < 1:
        raise PipelineError(f"--frames must be at least 1, got {frames}")
    frames = frames or spec.frames
    chip = load_chip(chip_ref(spec, root))
    chosen = dict(bindings or {})
    for entry in spec.models:
        chosen.setdefault(entry.name, default_binding(entry, chip))
        for unit in chosen[entry.name].units:
            try:
                resolve_unit(chip, unit)
            except NpusimError as e:
                raise PipelineError(f"models[{entry.name}].unit: {e}") from None
    refs = {e.name: model_ref(e, root) for e in spec.models}
    cost = _Costs(chip, {e.name: e for e in spec.models}, refs)
    jobs, meta = _jobs(spec, chosen, frames, cost)
    units = tuple(dict.fromkeys(u for e in spec.order for u in chosen[e.name].units))
    executed, dram = execute(jobs, units, chip.dram.achieved_bandwidth_GBps)
    runs = tuple(Run(name, index, fr, items, ex, cost.timeline(name, ex.unit,
                                                                chosen[name].batch))
                 for (name, index, fr, items), ex in zip(meta, executed))
    arrivals = tuple(min(_arrival(e, f) for e in spec.models if e.is_source)
                     for f in range(frames))
    alone = {f"{name}@{u}": cost.timeline(name, u, b.batch).latency_ms
             for name, b in chosen.items() for u in b.units}
    return PipelineRun(spec, chip, frames, chosen, runs, arrivals, dram, units, alone)


def candidate_units(chip: Chip) -> tuple[str, ...]:
    """Units a model may be bound to: instances where a unit has addressable ones."""
    grouped = {u.name for u in chip.compute_units if u.addressable_instances
               and int(u.count.value) > 1}
    return tuple(n for n in unit_names(chip) if n not in grouped)


def default_binding(entry: ModelEntry, chip: Chip) -> Binding:
    """`auto` without --search: the first candidate units in the chip's unit order."""
    batch = 1 if entry.batch == AUTO else int(entry.batch)
    if isinstance(entry.unit, list):
        return Binding(tuple(entry.unit), batch)
    n = entry.replica_count
    if entry.unit != AUTO:
        if n > 1:
            raise PipelineError(f"models[{entry.name}]: replicas {n} need a list of {n} "
                                "units (or unit: auto)")
        return Binding((entry.unit,), batch)
    units = candidate_units(chip)
    if n > len(units):
        raise PipelineError(f"models[{entry.name}]: replicas {n}, but chip '{chip.name}' "
                            f"has only {len(units)} units ({', '.join(units)})")
    return Binding(units[:n], batch)


def _arrival(entry: ModelEntry, frame: int) -> float:
    return 0.0 if entry.rate_hz is None else frame * 1e3 / entry.rate_hz


def _jobs(spec: PipelineSpec, chosen: Mapping[str, Binding], frames: int, cost: _Costs):
    """The runs of every entry (items dealt into batches, in frame order) as Jobs."""
    jobs: list[Job] = []
    meta: list[tuple[str, int, tuple[int, ...], int]] = []
    runs_of_frame: dict[tuple[str, int], list[int]] = {}
    for entry in spec.order:
        b = chosen[entry.name]
        total = frames * entry.streams
        for index, first in enumerate(range(0, total, b.batch)):
            items = range(first, min(total, first + b.batch))
            frs = tuple(sorted({i // entry.streams for i in items}))
            deps = sorted({k for up in entry.after for f in frs
                           for k in runs_of_frame[(up, f)]})
            units = b.units if entry.dispatch == "first-free" else \
                (b.units[index % len(b.units)],)
            key = len(jobs)
            jobs.append(Job(key, units, max(_arrival(entry, f) for f in frs), tuple(deps),
                            _segments_for(cost, entry, b.batch)))
            meta.append((entry.name, index, frs, len(items)))
            for f in frs:
                runs_of_frame.setdefault((entry.name, f), []).append(key)
    return jobs, meta


def _segments_for(cost: _Costs, entry: ModelEntry, batch: int):
    def segments(unit: str, upstream: tuple[str, ...]) -> tuple[Segment, ...]:
        own = cost.segments(entry.name, unit, batch)
        if entry.handoff == "none" or all(u == unit for u in upstream):
            return own
        return (cost.copy_segment(entry.name, unit, batch, upstream), *own)
    return segments


_TIMELINES: dict[tuple, Timeline] = {}   # per process: --search revisits the same bindings


class _Costs:
    """Standalone timelines per (entry, unit, batch), each computed once."""

    def __init__(self, chip: Chip, entries: Mapping[str, ModelEntry],
                 refs: Mapping[str, str]) -> None:
        self.chip, self.entries, self.refs = chip, entries, refs
        self.segments = lru_cache(maxsize=None)(self._segments)

    def timeline(self, name: str, unit: str, batch: int) -> Timeline:
        e = self.entries[name]
        key = (self.chip.model_dump_json(), self.refs[name],
               e.model_dump_json(exclude={"name", "unit", "replicas", "dispatch", "streams",
                                          "batch", "rate_hz", "after", "handoff"}),
               unit, batch)
        if key not in _TIMELINES:
            _TIMELINES[key] = self._timeline(name, unit, batch)
        return _TIMELINES[key]

    def _timeline(self, name: str, unit: str, batch: int) -> Timeline:
        e = self.entries[name]
        try:
            model, shapes = self._model(e, batch)
            view = select_unit(self.chip, unit)
            problem = api.prepare(model, view, shapes, e.precision, e.precisions)
            return api.schedule(api.plan(problem, strategy=e.fusion))
        except NpusimError as err:
            raise PipelineError(f"models[{name}] on {unit} (batch {batch}): {err}") from None

    def _model(self, e: ModelEntry, batch: int):
        ref = self.refs[e.name]
        if ref.startswith("zoo:"):
            from npusim import zoo
            return zoo.build(ref[4:], batch=batch, weights="light", **e.zoo_options), e.shapes
        if batch == 1:
            return ref, e.shapes
        if not e.shapes:
            raise PipelineError(f"models[{e.name}]: batch {batch} of an ONNX file needs "
                                "`shapes` (one item's, e.g. input:1x3x224x224) to scale")
        return ref, _scale_shapes(e.shapes, batch)

    def _segments(self, name: str, unit: str, batch: int) -> tuple[Segment, ...]:
        return segments_of(self.timeline(name, unit, batch))

    def copy_segment(self, name: str, unit: str, batch: int,
                     upstream: tuple[str, ...]) -> Segment:
        """Reading the upstream outputs and writing them in this unit's layout: this
        model's input bytes twice through DRAM, plus the handoff of the units involved."""
        tl = self.timeline(name, unit, batch)
        g, prec = tl.plan.problem.graph, tl.plan.problem.precision
        nbytes = 2 * sum(g.tensor(i).size * element_bytes(g, i, prec) for i in g.inputs)
        handoff = max(_handoff_ms(self.chip, u) for u in sorted({unit, *upstream}))
        return Segment(handoff + nbytes / (self.chip.dram.achieved_bandwidth_GBps * 1e6),
                       nbytes, "copy")


def _handoff_ms(chip: Chip, unit: str) -> float:
    u, _ = resolve_unit(chip, unit)
    return u.handoff_us.value / 1e3 if u.handoff_us is not None else 0.0


def _scale_shapes(shapes: str, batch: int) -> str:
    """`input:1x3x224x224` with dim 0 multiplied by `batch` (named dims left alone)."""
    out = []
    for part in shapes.split(","):
        name, sep, dims = part.rpartition(":")
        if not sep or "=" in part:
            out.append(part)
            continue
        first, *rest = dims.split("x")
        out.append(f"{name}:{'x'.join([str(int(first) * batch), *rest])}")
    return ",".join(out)
