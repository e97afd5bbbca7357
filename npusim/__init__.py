"""npusim: predict how an ONNX model runs on an edge AI chip, before the silicon exists.

The pipeline, one function a stage (in `npusim.api`): `prepare` (model + chip -> Problem) ->
`plan` (fusion) -> `schedule` (Timeline: its makespan is the latency) -> `place`
(MemoryMap) -> `report` (per-layer rows).
Public API: `simulate` (per-layer latency on a chip), `plan` / `compare` (operator fusion),
`run_numerics` (bit-accurate int8/fp16 execution and per-layer error), `memory_layout` (where
every tensor lives on the chip, from when to when), `run_sweep` (design-space sweeps), `load`
(the canonical
IR), `load_chip` (a validated hardware profile). User mistakes raise `NpusimError`.
"""

from npusim.api import compare, load, memory_layout, plan, prepare, simulate
from npusim.errors import NpusimError
from npusim.hw import Chip, load_chip
from npusim.result import LayerRow, Report, Totals

__version__ = "0.1.0"

__all__ = ["Chip", "LayerRow", "NpusimError", "Report", "Totals", "__version__", "compare",
           "load", "load_chip", "memory_layout", "plan", "prepare", "run_numerics",
           "run_sweep", "simulate"]


def __getattr__(name: str):
    # numerics pulls in numba; import it only when asked for
    if name == "run_numerics":
        from npusim.numerics import run_numerics
        return run_numerics
    if name == "run_sweep":
        from npusim.sweep import run_sweep
        return run_sweep
    raise AttributeError(f"module 'npusim' has no attribute '{name}'")
