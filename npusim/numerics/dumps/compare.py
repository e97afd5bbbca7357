"""`compare_dumps`: per-layer cosine, SQNR and max |error| of a SIM dump against a REF dump,
frame by frame, the per-layer distribution over frames and the first divergent layer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from npusim.errors import NumericsError
from npusim.numerics.dumps.read import Frame, Loaded, load_frame, open_dump
from npusim.numerics.metrics import errors

_TO_NCHW = (0, 3, 1, 2)
_TO_NHWC = (0, 2, 3, 1)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """A layer diverges when any given bound fails (or it holds NaN / infinities)."""

    min_cosine: float | None = 0.99
    min_sqnr_db: float | None = 20.0
    max_abs_error: float | None = None

    def diverged(self, sqnr: float, cos: float, big: float, nonfinite: int) -> bool:
        return bool(nonfinite
                    or (self.min_cosine is not None and not cos >= self.min_cosine)
                    or (self.min_sqnr_db is not None and not sqnr >= self.min_sqnr_db)
                    or (self.max_abs_error is not None and not big <= self.max_abs_error))


@dataclass(frozen=True, slots=True)
class LayerMetric:
    layer: str
    cosine: float
    sqnr_db: float
    max_abs_error: float
    nonfinite: int
    diverged: bool


@dataclass(frozen=True, slots=True)
class FrameResult:
    frame: str | None
    layers: tuple[LayerMetric, ...]
    first_divergent_layer: str | None


@dataclass(frozen=True, slots=True)
class LayerSummary:
    """One layer over all frames: median, minimum and 5th percentile (nearest rank) of cosine
    and SQNR, the largest max |error|, and in how many frames it diverged."""

    layer: str
    node: str | None
    shape: tuple[int, ...]
    frames: int
    cosine_median: float
    cosine_min: float
    cosine_p5: float
    sqnr_db_median: float
    sqnr_db_min: float
    sqnr_db_p5: float
    max_abs_error: float
    frames_divergent: int


@dataclass(frozen=True, slots=True)
class CompareResult:
    ref: str
    sim: str
    thresholds: Thresholds
    order: str                       # where the layer order comes from
    layers: tuple[LayerSummary, ...]
    frames: tuple[FrameResult, ...]
    first_divergent_layer: str | None
    only_in_ref: tuple[str, ...] = ()
    only_in_sim: tuple[str, ...] = ()
    frames_only_in_ref: tuple[str, ...] = ()
    frames_only_in_sim: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "ref": self.ref, "sim": self.sim, "order": self.order,
            "thresholds": _plain(self.thresholds),
            "first_divergent_layer": self.first_divergent_layer,
            "layers": [_plain(s) for s in self.layers],
            "frames": [{"frame": f.frame, "first_divergent_layer": f.first_divergent_layer,
                        "layers": [_plain(m) for m in f.layers]} for f in self.frames],
            "only_in_ref": list(self.only_in_ref), "only_in_sim": list(self.only_in_sim),
            "frames_only_in_ref": list(self.frames_only_in_ref),
            "frames_only_in_sim": list(self.frames_only_in_sim),
            "notes": list(self.notes),
        }


def compare_dumps(ref: str, sim: str, thresholds: Thresholds = Thresholds(),
                  model_order: Sequence[str] | None = None) -> CompareResult:
    """Compare `sim` against `ref` (each an .npz, a folder of tensors, or a folder of frames).
    Frames pair up by name; layers by name, in REF's order, or in `model_order` (layer or
    tensor names in topological order) when given."""
    rd, sd = open_dump(ref, "REF"), open_dump(sim, "SIM")
    if rd.multi_frame != sd.multi_frame:
        one, many = ("REF", "SIM") if sd.multi_frame else ("SIM", "REF")
        raise NumericsError(f"{many} holds one folder or .npz per frame but {one} is a single "
                            "frame; give both as frame folders or both as one frame")
    pairs = _pair_frames(rd.frames, sd.frames)
    frames = []
    order: list[str] = []
    shapes: dict[str, tuple[int, ...]] = {}
    nodes: dict[str, str | None] = {}
    only_ref: set[str] = set()
    only_sim: set[str] = set()
    for fr, fs in pairs:
        r, s = load_frame(fr, "REF"), load_frame(fs, "SIM")
        common = [n for n in r if n in s]
        only_ref.update(n for n in r if n not in s)
        only_sim.update(n for n in s if n not in r)
        order.extend(n for n in common if n not in shapes)
        metrics = {}
        for name in common:
            a, b = _aligned(name, fr.name, r[name], s[name])
            shapes.setdefault(name, a.shape)
            nodes.setdefault(name, r[name].node or s[name].node)
            metrics[name] = _metric(name, a, b, thresholds)
        frames.append((fr.name, metrics))
    if not order:
        raise NumericsError(f"REF and SIM share no layer name (REF has e.g. "
                            f"{_some(only_ref)}, SIM {_some(only_sim)})")
    source = "REF manifest" if any(f.manifest for f, _ in pairs) else "REF files"
    notes = []
    if model_order is not None:
        order, missing = _model_sorted(order, model_order)
        source = "model"
        if missing:
            notes.append(f"{len(missing)} layer(s) not in the model, compared last: "
                         + ", ".join(missing[:5]))
    results = tuple(_frame_result(name, metrics, order) for name, metrics in frames)
    summaries = tuple(_summary(n, nodes[n], shapes[n], [f[1][n] for f in frames if n in f[1]])
                      for n in order)
    rank = {n: i for i, n in enumerate(order)}
    firsts = [f.first_divergent_layer for f in results if f.first_divergent_layer]
    first = min(firsts, key=rank.__getitem__) if firsts else None
    return CompareResult(
        str(ref), str(sim), thresholds, source, summaries, results, first,
        tuple(sorted(only_ref - set(order))), tuple(sorted(only_sim - set(order))),
        tuple(sorted({f.name for f in rd.frames} - {f.name for f, _ in pairs})),
        tuple(sorted({f.name for f in sd.frames} - {f.name for _, f in pairs})), tuple(notes))


def _pair_frames(ref: tuple[Frame, ...], sim: tuple[Frame, ...]) -> list[tuple[Frame, Frame]]:
    by_name = {f.name: f for f in sim}
    pairs = [(f, by_name[f.name]) for f in ref if f.name in by_name]
    if not pairs:
        raise NumericsError(f"REF and SIM share no frame name (REF has e.g. "
                            f"{_some(f.name for f in ref)}, SIM {_some(f.name for f in sim)}); "
                            "frames pair up by folder or .npz name")
    return pairs


def _aligned(name: str, frame: str | None, r: Loaded, s: Loaded
             ) -> tuple[np.ndarray, np.ndarray]:
    """SIM's tensor in REF's layout and shape; a shape that still differs is an error (only
    size-1 dimensions may differ, as when one tool keeps a batch axis the other drops)."""
    b = s.values
    if r.layout and s.layout and r.layout != s.layout:
        b = b.transpose(_TO_NCHW if r.layout == "NCHW" else _TO_NHWC)
    a = r.values
    if a.shape != b.shape:
        squeeze = tuple(d for d in a.shape if d != 1) == tuple(d for d in b.shape if d != 1)
        if not squeeze:
            at = f" (frame '{frame}')" if frame is not None else ""
            seen = f", {b.shape} in {r.layout}" if b.shape != s.values.shape else ""
            raise NumericsError(
                f"layer '{name}'{at}: REF shape {a.shape}{_lay(r)} vs SIM shape "
                f"{s.values.shape}{_lay(s)}{seen}; they cannot be the same tensor")
        b = b.reshape(a.shape)
    return a, b


def _lay(t: Loaded) -> str:
    return f" {t.layout}" if t.layout else ""


def _metric(name: str, a: np.ndarray, b: np.ndarray, th: Thresholds) -> LayerMetric:
    nonfinite = int(np.count_nonzero(~np.isfinite(a)) + np.count_nonzero(~np.isfinite(b)))
    sqnr, cos, big = errors(a, b)
    return LayerMetric(name, cos, sqnr, big, nonfinite, th.diverged(sqnr, cos, big, nonfinite))


def _frame_result(name, metrics: dict[str, LayerMetric], order: list[str]) -> FrameResult:
    rows = tuple(metrics[n] for n in order if n in metrics)
    first = next((m.layer for m in rows if m.diverged), None)
    return FrameResult(name, rows, first)


def _summary(name: str, node: str | None, shape, ms: list[LayerMetric]) -> LayerSummary:
    cos = [m.cosine for m in ms]
    sq = [m.sqnr_db for m in ms]
    big = max((m.max_abs_error for m in ms), key=lambda v: (math.isnan(v), v))
    return LayerSummary(name, node, tuple(shape), len(ms), _rank(cos, 50), _rank(cos, 0),
                        _rank(cos, 5), _rank(sq, 50), _rank(sq, 0), _rank(sq, 5), big,
                        sum(m.diverged for m in ms))


def _rank(values: list[float], q: float) -> float:
    """Nearest-rank percentile: always one of the values, so +-inf and NaN stay what they are
    instead of turning into inf - inf."""
    ordered = sorted(values, key=lambda v: (not math.isnan(v), v))   # NaN counts as worst
    k = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[k - 1]


def _model_sorted(order: list[str], model_order: Sequence[str]) -> tuple[list[str], list[str]]:
    """Layers in model order; a fused name ('a+b', 'a||b') sits at its last part."""
    pos = {n: i for i, n in enumerate(model_order)}
    def where(name: str) -> int | None:
        if name in pos:
            return pos[name]
        parts = [p for chunk in name.split("||") for p in chunk.split("+")]
        found = [pos[p] for p in parts if p in pos]
        return max(found) if found else None
    known = [n for n in order if where(n) is not None]
    missing = [n for n in order if where(n) is None]
    return sorted(known, key=where) + missing, missing


def _some(names) -> str:
    names = sorted(n for n in names if n is not None)
    return ", ".join(f"'{n}'" for n in names[:3]) or "none"


def _plain(obj) -> dict:
    out = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, tuple):
            v = list(v)
        elif isinstance(v, float) and not math.isfinite(v):
            v = "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        out[f.name] = v
    return out
