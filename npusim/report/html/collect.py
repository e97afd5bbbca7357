"""What a report shows, gathered in one pass: the strategies scheduled, the chosen
timeline's report and memory map, and numerics when inputs are given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from npusim.errors import NpusimError
from npusim.fusion import STRATEGIES
from npusim.hw import Chip
from npusim.result import Report
from npusim.schedule import Timeline

BOUND_COLORS = {"compute": "#4C72B0", "memory": "#DD8452", "overhead": "#8C8C8C",
                "view": "#CCCCCC"}
TOP_GROUPS = 24       # the by-group chart shows this many groups, the rest summed
TOP_OP_TYPES = 12
SVG_SALT = "npusim-report"


@dataclass(frozen=True, slots=True)
class ReportInputs:
    """Everything the page shows, computed once: render it with `render_html`."""

    report: Report
    timelines: tuple[Timeline, ...]         # the fusion strategies side by side, scheduled
    chip: Chip
    memory_map: object | None               # npusim.schedule.MemoryMap, None if unavailable
    memory_problem: str | None              # why the memory map is missing
    numerics: object | None                 # npusim.numerics.NumericsResult when inputs given
    tradeoff: object | None = None          # npusim.precision.search.Search (int8 + inputs)


# -- gathering ---------------------------------------------------------------------------------

def collect(model, chip, shapes=None, precision: str = "int8", fusion: str = "dp",
            objective: str = "latency", inputs: Mapping[str, np.ndarray] | None = None,
            target_sqnr_db: float | None = None, outputs: str | None = None,
            precisions: Mapping[str, str] | None = None) -> ReportInputs:
    """Run simulate (via the strategy comparison), memory layout and, with `inputs`, numerics."""
    from npusim import api
    if fusion not in STRATEGIES:
        raise NpusimError(f"unknown fusion strategy '{fusion}'; use one of "
                          f"{', '.join(STRATEGIES)}")
    prepared = api.prepare(model, chip, shapes, precision, precisions, outputs=outputs)
    timelines = api.compare(prepared, objective=objective)
    # the layer table, the strategy rows and the memory picture all use the same timeline
    chosen = next(tl for tl in timelines if tl.plan.strategy == fusion)
    report = api.report(chosen)
    hw = prepared.chip
    memory_map, problem = None, None
    try:
        memory_map = api.place(chosen)
    except NpusimError as e:  # the rest of the page is still worth having
        problem = " ".join(str(e).split())
    numerics = None
    if inputs is not None:
        numerics = _numerics(model, inputs, shapes, precision, target_sqnr_db, precisions)
    tradeoff = None
    if numerics is not None and precision == "int8" and not precisions and \
            numerics.precision == "int8":  # a float model quantized here: search the trade-off
        from npusim.precision.search import search
        tradeoff = search(model, hw, inputs, shapes=shapes, max_moves=4, fusion=fusion,
                          ranking=numerics.worst_layers)
    return ReportInputs(report, timelines, hw, memory_map, problem, numerics, tradeoff)


def _numerics(model, inputs, shapes, precision: str, target_sqnr_db: float | None,
              precisions=None):
    from npusim.numerics import PRECISIONS, run_numerics
    if isinstance(model, str) and model.startswith("zoo:"):
        from npusim import zoo
        model = zoo.build(model[len("zoo:"):])  # numerics needs real weight values
    return run_numerics(model, inputs, shapes=shapes,
                        precision=precision if precision in PRECISIONS else "int8",
                        target_sqnr_db=target_sqnr_db, precisions=precisions)

