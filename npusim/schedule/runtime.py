"""The work around the kernels that a chip's `runtime:` profile describes, as timeline events:
the per-inference host work, the copy of the graph inputs to the device (every kernel of the
stream waits for it) and of the outputs back after the last kernel, the first unit
converting nv12 camera input, and the CPU enqueueing each kernel of a unit without DMA (a
kernel starts no earlier than its enqueue).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from npusim.ir import Graph
from npusim.schedule.staging import Staging, compute_lanes
from npusim.schedule.timeline import COPY_LANE, MIN_MS, RUNTIME_GROUP, Event

INPUT_COPY = "input copy (H2D)"
OUTPUT_COPY = "output copy (D2H)"


@dataclass(frozen=True, slots=True)
class RuntimeWork:
    events: tuple[Event, ...] = ()
    start_ms: float = 0.0                  # no lane starts before the per-inference work
    lane_free: Mapping[str, float] = field(default_factory=dict)  # lanes busy beyond it
    input_ready_ms: float = 0.0            # graph inputs are in DDR from then on
    enqueued: Mapping[int, float] = field(default_factory=dict)   # group -> enqueue end


def runtime_work(ctx: Staging) -> RuntimeWork:
    """The runtime events of one frame, in the order the runtime does them."""
    rt = ctx.chip.runtime
    if rt is None:
        return RuntimeWork()
    events: list[Event] = []

    def event(name: str, lane: str, start: float, end: float,
              group: int = RUNTIME_GROUP) -> None:
        events.append(Event(name, "runtime", lane, start, max(end, start + MIN_MS), group, 0,
                            detail="runtime"))

    t = 0.0
    if rt.inference_overhead_us is not None and rt.inference_overhead_us.value > 0:
        t = rt.inference_overhead_us.value / 1e3
        event("inference overhead", "host", 0.0, t)
    start, lane_free, input_ready = t, {}, 0.0
    graph = ctx.problem.graph
    if rt.host_to_device_GBps is not None:
        nbytes = io_bytes(graph, graph.inputs)
        end = t + nbytes / (rt.host_to_device_GBps.value * 1e6)
        events.append(Event(INPUT_COPY, "runtime", COPY_LANE, t, max(end, t + MIN_MS),
                            RUNTIME_GROUP, 0, None, nbytes, "runtime"))
        input_ready = end
        for lane in ctx.lanes:  # one in-order stream: no kernel starts before the copy
            if lane.kind != "host":
                lane_free[lane.name] = end
    if rt.input_conversion_ns_per_pixel is not None:
        pixels = sum(s[0] * s[2] * s[3] for s in map(graph.shape, graph.inputs) if len(s) == 4)
        scheduled = {lane.name for lane in ctx.lanes}
        lanes = [lane for lane in compute_lanes(ctx.chip.ordered_units[0]) if lane in scheduled]
        if pixels and lanes:
            begin = max(t, input_ready)
            end = begin + pixels * rt.input_conversion_ns_per_pixel.value / 1e6
            for lane in lanes:
                event("nv12 input conversion", lane, begin, end)
                lane_free[lane] = end
            input_ready = end
    enqueued = {}
    if rt.kernel_enqueue_us is not None:
        step = rt.kernel_enqueue_us.value / 1e3
        for w in ctx.works:
            if w is not None and not w.staged:
                event(f"enqueue {w.cost.name}", "host", t, t + step, w.index)
                t += step
                enqueued[w.index] = t
    lane_free["host"] = max([start, *(e.end_ms for e in events if e.lane == "host")])
    return RuntimeWork(tuple(events), start, lane_free, input_ready, enqueued)


def output_copy(ctx: Staging, events: Iterable[Event]) -> Event | None:
    """The copy of the graph outputs back to the host, after everything else the stream
    does (trtexec enqueues it behind the last kernel)."""
    rt = ctx.chip.runtime
    if rt is None or rt.device_to_host_GBps is None:
        return None
    graph = ctx.problem.graph
    nbytes = io_bytes(graph, graph.outputs)
    start = max((e.end_ms for e in events), default=0.0)
    end = start + nbytes / (rt.device_to_host_GBps.value * 1e6)
    return Event(OUTPUT_COPY, "runtime", COPY_LANE, start, max(end, start + MIN_MS),
                 RUNTIME_GROUP, 0, None, nbytes, "runtime")


def io_bytes(graph: Graph, names: Iterable[str]) -> int:
    """Bytes of graph inputs or outputs at their ONNX dtype (what the bindings hold)."""
    return sum(int(graph.tensor(n).nbytes) for n in names)
