"""Write a per-layer dump in the format `npusim compare` reads: one .npy per layer (float32,
NCHW as ONNX computes it) and a manifest.yaml listing the layers in execution order."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import yaml

from npusim import outputs
from npusim.errors import NumericsError
from npusim.ir import Graph
from npusim.numerics.dumps.manifest import MANIFEST_NAMES, find_manifest, read_manifest

MANIFEST = "manifest.yaml"
HEADER = "# per-layer tensors written by npusim numerics --dump\n"


def check_dump_folder(folder: str | os.PathLike) -> Path:
    """`folder` can receive a dump: it is new (its parent exists), empty, or an earlier
    npusim dump (which is replaced). Checked before any work."""
    p = Path(folder)
    if str(folder) == "":
        raise NumericsError("--dump: give a folder name")
    if p.exists() and not p.is_dir():
        raise NumericsError(f"cannot dump to '{p}': it is a file, not a folder")
    if not p.exists():
        if not p.resolve().parent.is_dir():
            raise NumericsError(f"cannot dump to '{p}': folder '{p.resolve().parent}' does "
                                "not exist")
        return p
    if any(not e.name.startswith(".") for e in p.iterdir()) and not _ours(p):
        raise NumericsError(f"cannot dump to '{p}': the folder holds files and is no earlier "
                            "npusim dump; give a new or empty folder")
    outputs.check_output(p / MANIFEST)
    return p


def write_dump(folder: str | os.PathLike,
               layers: Iterable[tuple[str, str | None, np.ndarray]]) -> Path:
    """One `NNNN_name.npy` per (tensor name, producing node or None, values), then the
    manifest; files an earlier dump in the folder listed and this one does not are removed."""
    p = check_dump_folder(folder)
    old = _old_files(p)
    try:
        p.mkdir(exist_ok=True)
    except OSError as e:
        raise NumericsError(f"cannot dump to '{p}': {e.strerror}") from None
    entries = []
    for i, (name, node, values) in enumerate(layers):
        a = np.ascontiguousarray(values)
        if a.dtype.kind == "f" and a.dtype != np.float64:
            a = a.astype(np.float32)
        file = f"{i:04d}_{_safe(name)}.npy"
        buf = io.BytesIO()
        np.save(buf, a, allow_pickle=False)
        outputs.write_bytes(p / file, buf.getvalue())
        entry = {"name": name, "file": file, "dtype": str(a.dtype),
                 "shape": [int(d) for d in a.shape]}
        entries.append(entry if node is None else {**entry, "node": node})
    if not entries:
        raise NumericsError(f"cannot dump to '{p}': the run produced no per-layer tensors")
    doc = {"format": "npusim-dump", "version": 1, "layout": "NCHW", "layers": entries}
    outputs.write_text(p / MANIFEST, HEADER + yaml.safe_dump(doc, sort_keys=False, width=100))
    for name in old - {e["file"] for e in entries} - set(MANIFEST_NAMES):
        stale = p / name
        if stale.is_file() and stale.resolve().parent == p.resolve():
            stale.unlink()
    return p


def _ours(p: Path) -> bool:
    """An earlier `--dump` (its manifest starts with our header): only such a folder is
    replaced, so a board's dump is never overwritten."""
    try:
        with open(p / MANIFEST, encoding="utf-8") as f:
            return f.read(len(HEADER)) == HEADER and find_manifest(p) == p / MANIFEST
    except (OSError, UnicodeDecodeError):
        return False


def _old_files(p: Path) -> set[str]:
    if not (p.is_dir() and _ours(p)):
        return set()
    try:
        return {e.file for e in read_manifest(p / MANIFEST).layers}
    except NumericsError:
        return set()


def _safe(name: str) -> str:
    """A layer name as a portable file name part (ONNX names hold '/', ':', '+')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:80] or "layer"


def quantized_layers(qgraph: Graph, qdq: Graph, values: Mapping[str, np.ndarray],
                     names: frozenset[str]) -> list[tuple[str, str, np.ndarray]]:
    """(tensor, node, values) of a quantized run: each integer layer's dequantized output under
    the model's name for that tensor (what a board or polygraphy dump calls it), and each
    float node's output whose tensor the model names; `node` is the numerics table's layer."""
    from npusim.numerics import analysis
    layers = {n.name for n in analysis.layers_of(qgraph)}
    out, seen = [], set()
    for node in qgraph.nodes:
        if node.name in layers:
            value = analysis.dequantized_output(node, qgraph, values, qdq)
            tensor = _model_tensor(node.outputs[0], qdq)
            label = analysis.layer_name(node, qgraph)[0]
        elif node.op_type not in ("QuantizeLinear", "DequantizeLinear") \
                and node.outputs[0] in names:
            value, tensor, label = values.get(node.outputs[0]), node.outputs[0], node.name
        else:
            continue
        if value is not None and np.asarray(value).dtype.kind == "f" and tensor not in seen:
            seen.add(tensor)
            out.append((tensor, label, np.asarray(value, np.float32)))
    return out


def _model_tensor(quantized: str, qdq: Graph) -> str:
    """The model's name of a quantized tensor: the output of the DequantizeLinear reading it."""
    for c in qdq.consumers(quantized):
        if c.op_type == "DequantizeLinear":
            return c.outputs[0]
    return quantized.removesuffix("__q")


def float_layers(graph: Graph, values: Mapping[str, np.ndarray]
                 ) -> list[tuple[str, str, np.ndarray]]:
    """(tensor, node, values) of every node's float output (fp32 / fp16 / bf16 / fp8 runs)."""
    out = []
    for node in graph.nodes:
        v = values.get(node.outputs[0])
        if v is not None and np.asarray(v).dtype.kind == "f":
            out.append((node.outputs[0], node.name, np.asarray(v, np.float32)))
    return out


def dump_run(folder: str | os.PathLike | None, graph: Graph, values: Mapping[str, np.ndarray],
             qdq: Graph | None = None, model: Graph | None = None) -> None:
    """Dump a run's per-tensor values when `folder` is given: of the fused quantized `graph`
    (built from `qdq`, named as in `model`) or, without `qdq`, of the float `graph`."""
    if folder is not None:
        write_dump(folder, float_layers(graph, values) if qdq is None else
                   quantized_layers(graph, qdq, values, frozenset(model.tensors)))
