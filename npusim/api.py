"""The public entry points; the CLI, `npusim report` and sweeps are thin shells over these.

The pipeline is a chain of functions, each returning a frozen result that holds the one
before: `prepare -> plan -> schedule -> place -> report`. `prepare` loads the model and the
chip and computes every fact once (a `Problem`); `plan` fuses (a `Plan`); `schedule` lays the
plan on the chip's units and DMA channels (a `Timeline`, whose makespan is the latency);
`place` gives every buffer an address (a `MemoryMap`); `report` builds the per-layer table.
A model is a path, an `onnx.ModelProto`, an `ir.Graph`, or `zoo:NAME`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from types import MappingProxyType

import onnx

from npusim import fusion
from npusim.cost import CostModel, Problem, prepare_problem
from npusim.cost.build_choice import builder_options
from npusim.errors import NpusimError
from npusim.frontend import load_graph
from npusim.fusion import Plan
from npusim.hw import Chip, load_chip
from npusim.hw.schema import figure_path
from npusim.ir import Graph, Precision
from npusim.ir.passes import canonicalize
from npusim.result import LayerRow, LlmReport, Report, Totals
from npusim.schedule import MemoryMap, Timeline, place, schedule
from npusim.schedule.runtime import INPUT_COPY, OUTPUT_COPY

ModelLike = str | os.PathLike | onnx.ModelProto | Graph
ChipLike = str | os.PathLike | Chip
Shapes = str | dict[str, tuple[int, ...]] | None

ZOO_PREFIX = "zoo:"


def load(model: ModelLike, shapes: Shapes = None, *, zoo_weights: str = "random",
         outputs: str | None = None) -> Graph:
    """The canonical IR of a model (constants folded, BN folded, identities removed).
    `zoo_weights="light"` builds a zoo model with placeholder weights (structure only);
    `outputs` ("a,b") cuts the graph at those tensors."""
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


def prepare(model: ModelLike | Problem, chip: ChipLike | None = None, shapes: Shapes = None,
            precision: str | Precision = "int8",
            precisions: Mapping[str, str | Precision] | None = None,
            outputs: str | None = None) -> Problem:
    """The model (cost needs shapes, not weight values: zoo models load light) on the chip at
    `precision` (or per layer: `precisions` maps node or fused-group names to another; see
    `npusim.precision.map` for the file form), with every fact the later stages read computed
    once. A `Problem` passes through unchanged."""
    if isinstance(model, Problem):
        return model
    if chip is None:
        raise NpusimError("give a chip (a bundled profile name or a YAML path)")
    default = parse_precision(precision)
    per_node = {name: parse_precision(p) for name, p in (precisions or {}).items()}
    hw = load_chip(chip)
    graph = load(model, shapes, zoo_weights="light", outputs=outputs)
    name = _model_name(model, graph)
    problem = prepare_problem(graph, hw, default, per_node, name)
    # an int8 build may keep runs of layers in fp16 where that is faster (TensorRT): plan
    # each build the builder could make (a quick greedy plan) and keep the fastest

    repriced: dict[tuple, Problem] = {}

    def reprice(flips):  # each build once: builder_options prices the all-fp16 one too
        key = tuple(sorted((n, p.value) for n, p in flips.items()))
        if key not in repriced:
            repriced[key] = prepare_problem(graph, hw, default, {**flips, **per_node}, name)
        return repriced[key]

    best, best_ms = problem, None
    for flips in builder_options(problem, problem.chosen, reprice):
        if best_ms is None:
            best_ms = fusion.plan(problem, "greedy").serial_latency_ms
        option = dataclasses.replace(reprice(flips), builder_choices=MappingProxyType(flips))
        ms = fusion.plan(option, "greedy").serial_latency_ms
        if ms < best_ms:
            best, best_ms = option, ms
    return best


def plan(model: ModelLike | Problem, chip: ChipLike | None = None, shapes: Shapes = None,
         precision: str | Precision = "int8", strategy: str = "dp",
         objective: str = "latency", outputs: str | None = None,
         precisions: Mapping[str, str | Precision] | None = None) -> Plan:
    """Which ops run fused on `chip`, with what tiling, and what each group costs.
    `strategy`: none, rules, greedy or dp; `objective`: latency, ddr or weighted:W."""
    return fusion.plan(prepare(model, chip, shapes, precision, precisions, outputs=outputs),
                       strategy, objective)


def compare(model: ModelLike | Problem, chip: ChipLike | None = None, shapes: Shapes = None,
            precision: str | Precision = "int8", objective: str = "latency",
            outputs: str | None = None,
            precisions: Mapping[str, str | Precision] | None = None) -> tuple[Timeline, ...]:
    """The four fusion strategies side by side, sharing one cost model, each scheduled (the
    Timeline holds its Plan; its makespan is that strategy's latency)."""
    problem = prepare(model, chip, shapes, precision, precisions, outputs=outputs)
    costs = CostModel(problem)
    return tuple(schedule(fusion.plan(problem, s, objective, cost_model=costs))
                 for s in fusion.STRATEGIES)


def simulate(model: ModelLike | Problem, chip: ChipLike | None = None, shapes: Shapes = None,
             precision: str | Precision = "int8", fusion: str = "dp",
             objective: str = "latency", outputs: str | None = None,
             precisions: Mapping[str, str | Precision] | None = None) -> Report:
    """Predict per-layer and total latency of one frame of `model` on `chip`; layers are
    the fused groups of the `fusion` strategy (`none` prices every op alone). `precisions`
    maps layer or fused-group names to a precision other than `precision`."""
    return report(schedule(plan(model, chip, shapes, precision, fusion, objective, outputs,
                                precisions)))


def memory_layout(model: ModelLike | Problem, chip: ChipLike | None = None,
                  shapes: Shapes = None, precision: str | Precision = "int8",
                  fusion: str = "dp", objective: str = "latency", outputs: str | None = None,
                  precisions: Mapping[str, str | Precision] | None = None) -> MemoryMap:
    """Where every tensor of `model` lives on `chip`, from when to when, at which address."""
    return place(schedule(plan(model, chip, shapes, precision, fusion, objective, outputs,
                               precisions)))


# Hugging Face decoder exports name these dims (optimum, transformers' ONNX export)
LLM_DIMS = ("batch_size", "sequence_length", "past_sequence_length")


def llm(model: ModelLike, chip: ChipLike, prompt_tokens: int = 128,
        cache_tokens: int | None = None, precision: str | Precision = "w4a16",
        prefill_shapes: Shapes = None, decode_shapes: Shapes = None,
        fusion: str = "dp") -> LlmReport:
    """Time to first token and tokens per second of a decoder exported with a KV cache
    (past_key_values inputs; `zoo:decoder` is one): the prefill of `prompt_tokens` with an
    empty cache, and one decode step with `cache_tokens` (default: the prompt) in the cache.
    The dims are bound by their Hugging Face names unless `prefill_shapes` / `decode_shapes`
    say otherwise."""
    if prompt_tokens < 1 or (cache_tokens is not None and cache_tokens < 0):
        raise NpusimError("llm: --prompt must be at least 1 token and --cache at least 0")
    cache = prompt_tokens if cache_tokens is None else cache_tokens
    if model == f"{ZOO_PREFIX}decoder":  # the zoo decoder with named dims, as HF exports it
        from npusim.zoo.decoder import build_decoder
        model = build_decoder(dynamic=True, weights="light")
    batch, seq, past = LLM_DIMS
    prefill_shapes = prefill_shapes or f"{batch}=1,{seq}={prompt_tokens},{past}=0"
    decode_shapes = decode_shapes or f"{batch}=1,{seq}=1,{past}={cache}"
    first = simulate(model, chip, prefill_shapes, precision, fusion)
    step = simulate(model, chip, decode_shapes, precision, fusion)
    weights = sum(t.bytes_moved for g in step.timeline.plan.groups for t in g.loads
                  if t.constant)
    return LlmReport(first, step, prompt_tokens, cache, weights)


def report(timeline: Timeline) -> Report:
    """The per-layer table and totals of a scheduled plan. Each row runs from the end of the
    row before to the end of its group's compute on the timeline (the wait for its inputs is
    its own), so the rows add up to the makespan, which is the latency."""
    p = timeline.plan
    chip = p.chip
    makespan = timeline.latency_ms
    extra = _scheduling_figures(timeline)
    estimated = chip.estimated_figures()
    preferred = chip.ordered_units[0].name
    real = [i for i, c in enumerate(p.groups) if not c.is_view]
    last = real[-1] if real else None
    rows, end = _runtime_rows(timeline, estimated, makespan)
    # the output copy (if any) follows the last kernel: it is a row of its own
    kernels_end = min([e.start_ms for e in timeline.runtime_events if e.name == OUTPUT_COPY]
                      + [makespan])
    spans = {g.index: g for g in timeline.groups}
    for i, c in enumerate(p.groups):
        start = end
        span = spans.get(i)
        if span is not None:
            end = max(end, span.compute_end_ms)
        if i == last:
            end = max(end, kernels_end)  # the last stores drain before the frame is done
        rests = tuple(sorted(set(c.rests_on) | (
            {f for f in extra.get(c.unit, ()) if f in estimated} if span is not None
            and span.staged else set())))
        rows.append(LayerRow(
            c.name, c.op_types, c.kind.value, c.unit, c.precision.value, c.macs,
            c.vector_ops, c.bytes_loaded, c.bytes_stored, start, end, end - start,
            100.0 * (end - start) / makespan if makespan else 0.0, c.latency_ms,
            c.compute_ms, c.memory_ms, c.overhead_ms,
            "launch" if span is not None and span.launch_bound else c.bound_by.value,
            rests, c.members,
            c.tiling.row_tiles, c.tiling.weights, c.working_set_bytes, c.sram_level,
            c.transition_ms, not c.is_view and c.unit != preferred))
    rows += _runtime_rows(timeline, estimated, makespan, after=True, end=end)[0]
    used = sorted({path for r in rows for path in r.rests_on})
    totals = Totals(
        latency_ms=makespan,
        kernels_ms=timeline.kernels_ms,
        serial_latency_ms=p.serial_latency_ms,
        throughput_fps=timeline.throughput_fps,
        bottleneck=timeline.bottleneck,
        ddr_bytes_per_frame=timeline.ddr_bytes,
        priced_ddr_bytes=p.ddr_bytes,
        macs=sum(c.macs for c in p.groups),
        flops=sum(2 * c.macs + c.vector_ops for c in p.groups),
        layers=len(real),
        launch_bound_layers=sum(1 for g in timeline.groups if g.launch_bound),
        busy_ms_by_unit=MappingProxyType(_busy_by_unit(timeline)),
        dma_hidden_fraction=timeline.dma_hidden_fraction,
        spilled_buffers=len(timeline.spilled),
        estimated=bool(used),
        ddr_round_trips=p.ddr_round_trips)
    return Report(p.model, chip.name, p.precision.value, p.strategy, p.objective,
                  MappingProxyType(p.input_shapes), tuple(rows), totals,
                  MappingProxyType({path: estimated[path] for path in used}), timeline)


_RUNTIME_FIGURES = {"inference overhead": "runtime.inference_overhead_us",
                    INPUT_COPY: "runtime.host_to_device_GBps",
                    "nv12 input conversion": "runtime.input_conversion_ns_per_pixel",
                    OUTPUT_COPY: "runtime.device_to_host_GBps"}


def _runtime_rows(timeline: Timeline, estimated, makespan: float, after: bool = False,
                  end: float = 0.0) -> tuple[list[LayerRow], float]:
    """Rows for the work before the first kernel (the per-inference runtime, the input copy,
    the nv12 input conversion), or `after` the last one (the output copy), in time order
    from `end` on, and when the last of them ends."""
    rows = []
    seen = set()
    for e in sorted(timeline.runtime_events, key=lambda e: (e.start_ms, e.lane)):
        if e.name not in _RUNTIME_FIGURES or e.name in seen or (e.name == OUTPUT_COPY) != after:
            continue  # kernel enqueues run beside the kernels; their waits show as `launch`
        seen.add(e.name)
        start, end = end, max(end, e.end_ms)
        path = _RUNTIME_FIGURES[e.name]
        unit = e.lane.split("#")[0]
        rows.append(LayerRow(
            f"(runtime) {e.name}", ("Runtime",), "runtime", unit, "-", 0, 0,
            0 if after else e.nbytes, e.nbytes if after else 0, start,
            end, end - start, 100.0 * (end - start) / makespan if makespan else 0.0,
            e.duration_ms, 0.0, 0.0, e.duration_ms, "runtime",
            (path,) if path in estimated else (), (), 1, "resident", 0, None, 0.0, False))
    return rows, end


def _busy_by_unit(timeline: Timeline) -> dict[str, float]:
    """Compute time of each unit in the frame (its busiest instance)."""
    busy: dict[str, float] = {}
    for lane in timeline.lanes:
        if lane.kind == "compute":
            busy[lane.unit] = max(busy.get(lane.unit, 0.0), timeline.busy_ms(lane.name))
    return dict(sorted(busy.items()))


def _scheduling_figures(timeline: Timeline) -> dict[str, tuple[str, ...]]:
    """Profile figures the scheduler's DMA model reads, per staged unit (channels, setup,
    bursts, the SRAM level's bandwidth and capacity)."""
    chip = timeline.plan.chip
    out = {}
    for name in {g.unit for g in timeline.groups if g.staged}:
        unit = chip.unit(name)
        level = chip.level(unit.fusion.sram)
        paths = [figure_path(unit, "dma_channels"), figure_path(level, "capacity_bytes"),
                 figure_path(level, "bandwidth_GBps")]
        if unit.dma is not None:
            paths += [figure_path(unit, "dma.setup_us"), figure_path(unit, "dma.burst_bytes")]
        out[name] = tuple(paths)
    return out


def _model_name(model: ModelLike, graph: Graph) -> str:
    if isinstance(model, str | os.PathLike) and not str(model).startswith(ZOO_PREFIX):
        return os.path.basename(os.fspath(model))
    return str(model) if isinstance(model, str) else graph.name
