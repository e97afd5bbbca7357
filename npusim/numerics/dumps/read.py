"""Open a per-layer dump (an .npz, a folder of .npy / .bin files with a manifest, or a folder of
such frames) and load one frame at a time as float arrays, dequantized and with their layout."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from npusim.errors import NumericsError
from npusim.numerics.dumps.manifest import (
    MANIFEST_NAMES, LayerEntry, Manifest, find_manifest, read_manifest, resolve_inside)
from npusim.numerics.npz import MAX_NPZ_BYTES, load_npy, load_npz

TENSOR_SUFFIXES = (".npy", ".bin")


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of a dump: an .npz file, or a folder with (or without) a manifest."""

    name: str | None
    path: Path
    manifest: Manifest | None = None


@dataclass(frozen=True, slots=True)
class Dump:
    path: Path
    frames: tuple[Frame, ...]
    multi_frame: bool


@dataclass(frozen=True, slots=True)
class Loaded:
    """A layer's tensor as float (dequantized when the manifest gave a scale)."""

    values: np.ndarray
    layout: str | None        # NCHW / NHWC for a 4-D tensor, else None
    file: str
    node: str | None = None   # the producing layer, when the manifest says


def open_dump(path: str | Path, what: str) -> Dump:
    """Classify `path`: an .npz file or a folder of tensors is one frame; a folder of
    sub-folders and/or .npz files is one frame per entry, named by folder or file stem."""
    p = Path(path)
    if p.is_file():
        if p.suffix != ".npz":
            raise NumericsError(f"{what} '{p}' is a file but not an .npz; give an .npz or a "
                                "folder of .npy / .bin tensors")
        return Dump(p, (Frame(None, p),), False)
    if not p.is_dir():
        raise NumericsError(f"{what} '{p}' does not exist")
    manifest_path = find_manifest(p)
    manifest = read_manifest(manifest_path) if manifest_path else None
    entries = [e for e in sorted(p.iterdir()) if not e.name.startswith(".")]
    tensors = [e for e in entries if e.is_file() and e.suffix in TENSOR_SUFFIXES]
    listed_here = manifest is not None and all(
        (p / e.file).exists() for e in manifest.layers)
    subs = [e for e in entries if e.is_dir() or (e.is_file() and e.suffix == ".npz")]
    if tensors or listed_here or (manifest is not None and not subs):
        return Dump(p, (Frame(None, p, manifest),), False)   # a missing file is named later
    frames = []
    for e in entries:
        if e.name in MANIFEST_NAMES:
            continue
        resolve_inside(p, e.name, f"{what} '{p}'")
        if e.is_dir():
            sub = find_manifest(e)
            frames.append(Frame(e.name, e, read_manifest(sub) if sub else manifest))
        elif e.is_file() and e.suffix == ".npz":
            frames.append(Frame(e.stem, e))
    if not frames:
        raise NumericsError(f"{what} '{p}' holds no tensors: give .npy / .bin files (with a "
                            "manifest), an .npz, or one sub-folder or .npz per frame")
    names = [f.name for f in frames]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise NumericsError(f"{what} '{p}': frame '{twice[0]}' is both a folder and an .npz")
    return Dump(p, tuple(sorted(frames, key=lambda f: natural_key(f.name))), True)


def natural_key(name: str | None) -> tuple:
    """frame2 before frame10."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name or ""))


def load_frame(frame: Frame, what: str) -> dict[str, Loaded]:
    """Every layer of `frame` in its order (manifest, else .npz member order, else file names
    in natural order), as float arrays."""
    where = f"{what} '{frame.path}'"
    if frame.path.is_file():
        arrays = load_npz(str(frame.path), what, finite=False)
        return {k: Loaded(_as_float(v), "NCHW" if v.ndim == 4 else None, k)
                for k, v in arrays.items()}
    if frame.manifest is None:
        files = [f for f in frame.path.iterdir() if f.suffix in TENSOR_SUFFIXES
                 and not f.name.startswith(".")]
        raw = [f.name for f in files if f.suffix == ".bin"]
        if raw:
            raise NumericsError(f"{where}: raw file '{raw[0]}' needs a manifest giving its "
                                f"dtype and shape ({' / '.join(MANIFEST_NAMES)})")
        if not files:
            raise NumericsError(f"{where} holds no .npy files and no manifest")
        entries = [LayerEntry(name=f.stem, file=f.name)
                   for f in sorted(files, key=lambda f: natural_key(f.name))]
        manifest = Manifest(layers=tuple(entries))
    else:
        manifest = frame.manifest
    total = 0
    out: dict[str, Loaded] = {}
    for entry in manifest.layers:
        path = resolve_inside(frame.path, entry.file, where)
        if not path.is_file():
            raise NumericsError(f"{where}: file '{entry.file}' of layer '{entry.name}' does "
                                "not exist")
        total += path.stat().st_size
        if total > MAX_NPZ_BYTES:
            raise NumericsError(f"{where} holds more than {MAX_NPZ_BYTES >> 30} GiB of tensors "
                                "in one frame")
        out[entry.name] = _load_entry(entry, path, manifest.layout, where)
    return out


def _load_entry(entry: LayerEntry, path: Path, default_layout: str, where: str) -> Loaded:
    name = f"{where}: layer '{entry.name}' ({entry.file})"
    if path.suffix == ".npy":
        a = load_npy(path, "dump file", finite=False)
        if entry.dtype is not None and str(a.dtype) != entry.dtype:
            raise NumericsError(f"{name}: the manifest says {entry.dtype}, the file holds "
                                f"{a.dtype}")
        if entry.shape is not None and tuple(a.shape) != tuple(entry.shape):
            raise NumericsError(f"{name}: the manifest says shape {tuple(entry.shape)}, the "
                                f"file holds {tuple(a.shape)}")
    else:
        a = _load_raw(entry, path, name)
    if entry.layout is not None and a.ndim != 4:
        raise NumericsError(f"{name}: layout {entry.layout} given for a {a.ndim}-D tensor; "
                            "a layout applies to 4-D tensors")
    layout = (entry.layout or default_layout) if a.ndim == 4 else None
    if entry.scale is not None:
        values = _dequantize(a, entry, name)
    else:
        values = _as_float(a)
    return Loaded(values, layout, entry.file, entry.node)


def _load_raw(entry: LayerEntry, path: Path, name: str) -> np.ndarray:
    dtype = np.dtype(entry.dtype).newbyteorder("<")
    need = math.prod(entry.shape) * dtype.itemsize
    size = path.stat().st_size
    if need > MAX_NPZ_BYTES:
        raise NumericsError(f"{name}: shape {tuple(entry.shape)} of {entry.dtype} is {need} "
                            f"bytes, more than the {MAX_NPZ_BYTES >> 30} GiB npusim reads")
    if size != need:
        raise NumericsError(f"raw file '{path.name}' holds {size} bytes but {entry.dtype} x "
                            f"{tuple(entry.shape)} needs {need} ({name})")
    return np.fromfile(path, dtype=dtype).reshape(entry.shape).astype(dtype.newbyteorder("="))


def _dequantize(a: np.ndarray, entry: LayerEntry, name: str) -> np.ndarray:
    if a.dtype.kind not in "iu":
        raise NumericsError(f"{name}: scale given for a {a.dtype} tensor; dequantization "
                            "applies to integer dumps")
    scale = np.asarray(entry.scale, np.float64)
    zero = np.asarray(entry.zero_point, np.float64)
    if scale.ndim or zero.ndim:
        axis = entry.axis
        if not -a.ndim <= axis < a.ndim:
            raise NumericsError(f"{name}: axis {axis} is out of range for shape {a.shape}")
        n = a.shape[axis]
        for what, v in (("scales", scale), ("zero points", zero)):
            if v.ndim and v.size not in (1, n):
                raise NumericsError(f"{name}: {v.size} {what} for {n} channels on axis {axis}")
        bshape = [1] * a.ndim
        bshape[axis] = -1
        scale = scale.reshape(bshape) if scale.ndim else scale
        zero = zero.reshape(bshape) if zero.ndim else zero
    return (a.astype(np.float64) - zero) * scale


def _as_float(a: np.ndarray) -> np.ndarray:
    if a.dtype in (np.float32, np.float64):
        return a
    return a.astype(np.float64 if a.dtype.kind in "iub" else np.float32)
