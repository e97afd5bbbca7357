"""Shared-DRAM contention between units running at once: a fluid (rate-based) model.

Each run of a model on a unit is its standalone `Timeline` cut into segments at the end of
every group's compute: segment i lasts t_i ms alone and moves b_i DRAM bytes (its DMA loads
and stores, prorated by overlap; a unit without DMA lanes, e.g. a GPU, moves its group's
priced DRAM bytes evenly over the group's compute), so it needs the bandwidth

    d_i = b_i / t_i                                           (GB/s)

to keep its standalone pace. d_i never exceeds the unit's own DMA limit: the standalone
schedule already respects its DMA channels and the DRAM's achieved bandwidth. While several
segments are active, the DRAM's achieved bandwidth W = bandwidth_GBps x efficiency (profile
figures) is split max-min fairly (water-filling):

    a_i = min(d_i, L),  with L such that sum_i min(d_i, L) = W   (if sum_i d_i > W)
    a_i = d_i                                                  (otherwise)

and each segment progresses at speed s_i = a_i / d_i (1 when d_i = 0): a segment alone for
t_i ms takes t_i / s_i while the share holds. Shares are recomputed whenever any segment
starts or ends. Contention is zero when the DMA windows of different units do not overlap or
their summed demand stays within W.

A segment computing on another unit (a DLA run's GPU fallback ops) shares that unit with the
run bound there, as kernels of several streams interleave: each of the k runs computing on a
unit progresses at most at 1/k of its speed, s_i = min(1/k, a_i / d_i), with the DRAM
shares computed on the demands scaled by the same slice (d_i / k). The run keeps its own
unit meanwhile (one TensorRT stream).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from npusim.schedule.timeline import Timeline

EPS_MS = 1e-9


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of a run: `duration_ms` alone, moving `dram_bytes` to or from DRAM."""

    duration_ms: float
    dram_bytes: float
    label: str = ""
    unit: str | None = None      # another unit it computes on (fallback); None: the run's own

    @property
    def demand_GBps(self) -> float:
        return self.dram_bytes / (self.duration_ms * 1e6) if self.duration_ms > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Job:
    """A run waiting for a unit: where it may run and what it costs there."""

    key: int                                 # position in the job list
    units: tuple[str, ...]                   # candidate units (one unless first-free)
    ready_ms: float                          # arrival of its last item
    deps: tuple[int, ...] = ()               # jobs that must end first
    segments: Callable[[str, tuple[str, ...]], tuple[Segment, ...]] | None = None
    fixed: tuple[Segment, ...] = ()          # the segments, when they do not depend on unit


@dataclass(frozen=True, slots=True)
class Executed:
    """Where and when a job ran, and how much contention stretched it."""

    key: int
    unit: str
    ready_ms: float
    start_ms: float
    end_ms: float
    alone_ms: float
    segments: tuple[tuple[float, float, str, float], ...]   # (start, end, label, GB/s)
    borrowed: tuple[tuple[str, float, float], ...] = ()     # (unit, start, end) of fallbacks


def fair_share(demands: Sequence[float], capacity_GBps: float) -> list[float]:
    """Max-min fair allocation of `capacity_GBps` among `demands` (each gets at most its
    demand; what the small ones leave is split evenly among the rest)."""
    alloc = [0.0] * len(demands)
    if sum(demands) <= capacity_GBps:
        return list(demands)
    left = capacity_GBps
    todo = sorted(range(len(demands)), key=lambda i: (demands[i], i))
    while todo:
        level = left / len(todo)
        i = todo[0]
        if demands[i] <= level:
            alloc[i] = demands[i]
            left -= demands[i]
            todo.pop(0)
        else:
            for j in todo:
                alloc[j] = level
            break
    return alloc


def segments_of(timeline: Timeline) -> tuple[Segment, ...]:
    """The standalone run of `timeline` as segments, cut where a group's compute ends."""
    end = timeline.latency_ms
    cuts = sorted({0.0, end, *(min(end, g.compute_end_ms) for g in timeline.groups)})
    windows: list[tuple[float, float, float]] = []   # (start, end, bytes) spread evenly
    staged = {g.index for g in timeline.groups if g.staged}
    own = timeline.plan.chip.ordered_units[0].name
    lane_unit = {lane.name: lane.unit for lane in timeline.lanes if lane.kind == "compute"}
    computes = [(e.start_ms, e.end_ms, lane_unit[e.lane]) for e in timeline.events
                if e.kind == "compute" and lane_unit.get(e.lane, own) != own]
    for e in timeline.events:
        if e.kind in ("load", "store") and e.nbytes:
            windows.append((e.start_ms, e.end_ms, float(e.nbytes)))
    for g in timeline.groups:
        if g.index not in staged:
            c = timeline.plan.groups[g.index]
            windows.append((g.compute_start_ms, g.compute_end_ms,
                            float(c.bytes_loaded + c.bytes_stored)))
    out = []
    for a, b in zip(cuts, cuts[1:]):
        if b - a <= EPS_MS:
            continue
        moved = 0.0
        for s, e, n in windows:
            if e - s <= EPS_MS:
                moved += n if a <= s < b else 0.0
            else:
                moved += n * max(0.0, min(b, e) - max(a, s)) / (e - s)
        other: dict[str, float] = {}
        for s, e, unit in computes:
            if min(b, e) - max(a, s) > EPS_MS:
                other[unit] = other.get(unit, 0.0) + min(b, e) - max(a, s)
        fallback = max(sorted(other), key=lambda u: other[u]) if other else None
        out.append(Segment(b - a, moved, unit=fallback))
    return tuple(out)


def execute(jobs: Sequence[Job], units: Sequence[str], capacity_GBps: float
            ) -> tuple[tuple[Executed, ...], tuple[tuple[float, float, float], ...]]:
    """Run `jobs` on `units` (one job per unit at a time, FIFO by ready time, then key),
    with DRAM shared as the module docstring says. Returns what ran and the DRAM bandwidth
    over time as (start_ms, end_ms, GB/s) intervals."""
    by_key = {j.key: j for j in jobs}
    waiting = {j.key: len(j.deps) for j in jobs}
    users: dict[int, list[int]] = {}
    for j in jobs:
        for d in j.deps:
            users.setdefault(d, []).append(j.key)
    ready = {j.key: j.ready_ms for j in jobs if not j.deps}
    done: dict[int, Executed] = {}
    running: dict[str, dict] = {}
    pending = set(by_key)
    bandwidth: list[tuple[float, float, float]] = []
    t, changed = 0.0, True
    while pending or running:
        for unit in units if changed else ():
            if unit in running:
                continue
            free = [k for k in pending if k in ready and ready[k] <= t + EPS_MS
                    and unit in by_key[k].units]
            if not free:
                continue
            k = min(free, key=lambda k: (ready[k], k))
            job = by_key[k]
            pending.discard(k)
            ups = tuple(done[d].unit for d in job.deps)
            segs = job.segments(unit, ups) if job.segments else job.fixed
            segs = tuple(s for s in segs if s.duration_ms > EPS_MS) or (Segment(EPS_MS, 0),)
            running[unit] = {"job": job, "segs": segs, "i": 0, "left": segs[0].duration_ms,
                             "start": t, "seg_start": t, "log": [], "gbps": 0.0,
                             "borrowed": []}
        if not running:
            later = [ready[k] for k in pending if k in ready]
            if not later:
                raise RuntimeError("jobs wait on each other")  # the spec's graph is acyclic
            t, changed = max(t, min(later)), True
            continue
        names = sorted(running)
        slices = _time_slices(running)
        full = [running[u]["segs"][running[u]["i"]].demand_GBps for u in names]
        demands = [d * slices[u] for d, u in zip(full, names)]
        shares = fair_share(demands, capacity_GBps)
        speeds = [slices[u] if d <= 0 else min(slices[u], a / d)
                  for a, d, u in zip(shares, full, names)]
        dt = min(running[u]["left"] / s for u, s in zip(names, speeds))
        changed = False
        if len(running) < len(units):
            arrivals = [ready[k] - t for k in pending if k in ready and ready[k] > t + EPS_MS]
            if arrivals and min(arrivals) <= dt:
                dt, changed = min(arrivals), True
        if dt > EPS_MS:
            bandwidth.append((t, t + dt, sum(min(a, d) for a, d in zip(shares, demands))))
        t += dt
        for u, s, a, d in zip(names, speeds, shares, demands):
            r = running[u]
            r["left"] -= s * dt
            r["gbps"] += min(a, d) * dt
            if r["left"] > EPS_MS * 10:
                continue
            seg = r["segs"][r["i"]]
            span = t - r["seg_start"]
            r["log"].append((r["seg_start"], t, seg.label,
                             r["gbps"] / span if span > 0 else 0.0))
            if seg.unit is not None and seg.unit != u:
                r["borrowed"].append((seg.unit, r["seg_start"], t))
            r["i"] += 1
            r["seg_start"], r["gbps"] = t, 0.0
            if r["i"] < len(r["segs"]):
                r["left"] = r["segs"][r["i"]].duration_ms
                continue
            job = r["job"]
            done[job.key] = Executed(job.key, u, _ready_of(job, done), r["start"], t,
                                     sum(x.duration_ms for x in r["segs"]), tuple(r["log"]),
                                     tuple(r["borrowed"]))
            del running[u]
            changed = True
            for user in users.get(job.key, ()):
                waiting[user] -= 1
                if waiting[user] == 0:
                    ready[user] = max(by_key[user].ready_ms,
                                      max(done[d].end_ms for d in by_key[user].deps))
    return tuple(done[k] for k in sorted(done)), _merge(bandwidth)


def _time_slices(running: dict[str, dict]) -> dict[str, float]:
    """Each run's share of the unit its current segment computes on: 1 / the runs computing
    there (its own run and the fallback segments of runs bound elsewhere)."""
    where = {}
    for u, r in running.items():
        need = r["segs"][r["i"]].unit
        where[u] = need if need is not None else u
    count: dict[str, int] = {}
    for v in where.values():
        count[v] = count.get(v, 0) + 1
    return {u: 1.0 / count[v] for u, v in where.items()}


def _ready_of(job: Job, done: dict[int, Executed]) -> float:
    return max([job.ready_ms, *(done[d].end_ms for d in job.deps)])


def _merge(intervals: list[tuple[float, float, float]]) -> tuple[tuple[float, float, float], ...]:
    out: list[tuple[float, float, float]] = []
    for a, b, g in intervals:
        if out and abs(out[-1][2] - g) < 1e-9 and abs(out[-1][1] - a) < 1e-12:
            out[-1] = (out[-1][0], b, g)
        else:
            out.append((a, b, g))
    return tuple(out)
