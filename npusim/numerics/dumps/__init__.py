"""Per-layer tensor dumps: read a board's or another tool's (an .npz, or a folder of .npy /
raw .bin files with a manifest, optionally one sub-folder per frame), write npusim's own in
the same format, and compare two layer by layer (`npusim compare`)."""

from npusim.numerics.dumps.compare import (
    CompareResult, FrameResult, LayerMetric, LayerSummary, Thresholds, compare_dumps)

__all__ = ["CompareResult", "FrameResult", "LayerMetric", "LayerSummary", "Thresholds",
           "compare_dumps"]
