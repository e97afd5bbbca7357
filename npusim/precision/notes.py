"""One line under the layer table saying which layers run at another precision than the
model's default (a precision map, a QDQ model's float islands), on which unit, at what cost."""

from __future__ import annotations

from npusim.result import Report


def off_default_rows(report: Report):
    """Layer rows (no views, no runtime rows) whose precision differs from the report's."""
    return [r for r in report.layers if r.bound_by not in ("view", "runtime")
            and r.precision != report.precision]


def float_layers_line(report: Report) -> str | None:
    """`3 layers not int8: fp16 on gpu 2 (0.021 ms), ... = 0.034 ms of 0.229 ms (14.8%)`,
    naming the QDQ model's float islands when there are some; None when every layer runs
    at the default precision."""
    rows = off_default_rows(report)
    if not rows:
        return None
    parts: dict[tuple[str, str], list] = {}
    for r in rows:
        parts.setdefault((r.precision, r.unit), []).append(r)
    total = sum(r.latency_ms for r in rows)
    makespan = report.totals.latency_ms
    pieces = ", ".join(f"{p} on {u} {len(rs)} ({sum(r.latency_ms for r in rs):.3f} ms)"
                       for (p, u), rs in sorted(parts.items()))
    share = 100 * total / makespan if makespan else 0.0
    line = (f"{len(rows)} layer(s) not {report.precision}: {pieces} = {total:.3f} ms of "
            f"{makespan:.3f} ms ({share:.1f}%)")
    problem = report.timeline.plan.problem if report.timeline else None
    kept = problem.builder_choices if problem is not None else {}
    if kept:
        line += (f"; the builder keeps {len(kept)} int8-capable node(s) in "
                 f"{next(iter(kept.values())).value}, where int8 with its reformats is not "
                 "faster (TensorRT's per-layer choice)")
    islands = problem.float_islands if problem is not None else ()
    if islands:
        line += (f"; {len(islands)} node(s) of this QDQ model sit outside Q/DQ and run in "
                 f"float: {', '.join(islands[:6])}" + (" ..." if len(islands) > 6 else ""))
    return line
