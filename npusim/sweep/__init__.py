"""Sweeps over chip variants x models x fusion strategies x precisions, a pure function a point.

`run_sweep(spec)` maps the points with joblib (local processes or Dask); `plot_pareto` draws.
"""

from npusim.sweep.pareto import pareto_front, plot_pareto
from npusim.sweep.run import SweepResult, evaluate, read_csv, run_sweep
from npusim.sweep.spec import Point, SweepSpec, expand, load_spec

__all__ = ["Point", "SweepResult", "SweepSpec", "evaluate", "expand", "load_spec",
           "pareto_front", "plot_pareto", "read_csv", "run_sweep"]
