"""npusim: predict how an ONNX model runs on an edge AI chip, before the silicon exists.

Public API: `simulate` (per-layer latency on a chip), `load` (the canonical IR), `load_chip`
(a validated hardware profile). Errors a user can cause are `NpusimError`s.
"""

from npusim.api import load, simulate
from npusim.errors import NpusimError
from npusim.hw import Chip, load_chip
from npusim.result import LayerRow, Report, Totals

__version__ = "0.1.0"

__all__ = ["Chip", "LayerRow", "NpusimError", "Report", "Totals", "__version__", "load",
           "load_chip", "simulate"]
