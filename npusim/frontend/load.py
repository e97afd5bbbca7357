"""Read an ONNX model with its weights left on disk, check it, and bring it to one opset.

`open_model` gives a skeleton (large weights as typed graph inputs, cheap to check, convert
and infer) plus the weights as memory-mapped `Deferred` values; `read_model` keeps them all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from npusim.errors import ModelLoadError, UnsupportedOpError
from npusim.frontend import weights as w
from npusim.frontend.checks import check_graph, check_initializer
from npusim.frontend.protoscan import WireError, read_lean
from npusim.ir.deferred import Deferred

TARGET_OPSET = 21
"""Every model is converted to this default-domain opset before anything else reads it."""

LARGE_BYTES = 16 * 1024
"""Weights of at least this many bytes stay on disk (memory-mapped when numerics reads them)."""


@dataclass(frozen=True, slots=True)
class OpenedModel:
    proto: onnx.ModelProto          # skeleton: large weights are typed graph inputs
    weights: dict[str, Deferred]    # those weights, read on demand
    notes: tuple[str, ...]
    where: str


def open_model(model: str | os.PathLike | onnx.ModelProto) -> OpenedModel:
    """Parse, validate against hostile input, check, inline functions, convert the opset."""
    if isinstance(model, onnx.ModelProto):
        where = f"model '{model.graph.name or '<in memory>'}'"
        opened = _skeleton(model, {}, None, where, own=False)
    else:
        path, where = _existing(model)
        proto, spans = _parse_lean(path, where)
        opened = _skeleton(proto, spans, path, where, own=True)
    proto = opened.proto
    _check(proto, where)
    if proto.functions:
        proto = onnx.inliner.inline_local_functions(proto)
    return OpenedModel(convert_opset(proto), opened.weights, opened.notes, where)


def read_model(model: str | os.PathLike | onnx.ModelProto) -> onnx.ModelProto:
    """The whole model (external data loaded), validated and checked, functions inlined."""
    opened = open_model(model)
    if isinstance(model, onnx.ModelProto):
        proto = model
    else:
        if opened.notes:
            raise ModelLoadError(f"{opened.where}: {opened.notes[0]}")
        proto = onnx.load(str(model), load_external_data=True)
    if proto.functions:
        proto = onnx.inliner.inline_local_functions(proto)
    return proto


def read_structure(model: str | os.PathLike) -> onnx.ModelProto:
    """The graph of an ONNX file without its large weights, read with the same hostile-input
    checks as `open_model` but not converted: for tools that only need node and tensor
    names (e.g. `npusim compare --model`), whatever the ops' domains."""
    path, where = _existing(model)
    return _parse_lean(path, where)[0]


def convert_opset(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Convert the default domain to TARGET_OPSET; other domains are reported by op name.
    Large weights do not go through the converter: it sees them as typed inputs."""
    for node in proto.graph.node:
        if node.domain not in ("", "ai.onnx"):
            raise UnsupportedOpError(f"unsupported op '{node.op_type}' (domain '{node.domain}')"
                                     f" at node '{node.name}': only standard ONNX ops are "
                                     "supported")
    version = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if version == TARGET_OPSET:
        return proto
    large = [t for t in proto.graph.initializer if _is_large(t)]
    skeleton = _without(proto, {t.name for t in large}) if large else proto
    from onnx import version_converter
    try:
        converted = version_converter.convert_version(skeleton, TARGET_OPSET)
    except Exception as e:  # the converter raises bare RuntimeError/IndexError
        raise ModelLoadError(f"onnx.version_converter could not convert model from opset "
                             f"{version} to {TARGET_OPSET}: {_first_line(e)}") from None
    if large:
        names = {t.name for t in large}
        declared = [vi for vi in proto.graph.input if vi.name in names]
        kept = [vi for vi in converted.graph.input if vi.name not in names]
        del converted.graph.input[:]
        converted.graph.input.extend(kept)
        converted.graph.input.extend(declared)  # IR < 4 lists weights among the inputs
        converted.graph.initializer.extend(large)
    return converted


def full_model(model: str | os.PathLike | onnx.ModelProto) -> onnx.ModelProto:
    """The model as onnx.load reads it, every weight in memory: the oracle lean loading is
    tested against (`load_graph(..., weights="eager")`)."""
    if isinstance(model, onnx.ModelProto):
        return read_model(model)
    path, where = _existing(model)
    _parse_lean(path, where)  # the same hostile-input checks first
    return read_model(onnx.load(str(path), load_external_data=True))


def _existing(model) -> tuple[Path, str]:
    path = Path(model)
    where = f"'{path}'"
    if not path.is_file():
        raise ModelLoadError(f"model file {where} does not exist")
    return path, where


def _parse_lean(path: Path, where: str):
    try:
        proto, spans = read_lean(path, LARGE_BYTES)
    except (WireError, DecodeError):
        raise ModelLoadError(f"{where} is not a valid ONNX file (truncated or corrupt "
                             "protobuf)") from None
    except OSError as e:
        raise ModelLoadError(f"{where} could not be read: {_first_line(e)}") from None
    if not proto.graph.node and not proto.graph.output:
        raise ModelLoadError(f"{where} holds no graph (empty or not an ONNX model)")
    return proto, spans


def _skeleton(proto: onnx.ModelProto, spans, path: Path | None, where: str, own: bool
              ) -> OpenedModel:
    """Move every large or external weight out of the proto into `Deferred` values."""
    weights: dict[str, Deferred] = {}
    notes: list[str] = []
    for t in proto.graph.initializer:
        span = spans.get(t.name)
        raw = span.length if span is not None else (len(t.raw_data) if t.HasField("raw_data")
                                                   else None)
        check_initializer(t, raw, where)
        if span is not None:
            weights[t.name] = w.mapped(t, path, span.offset, span.length)
        elif t.data_location == onnx.TensorProto.EXTERNAL:
            if path is None:
                raise ModelLoadError(f"{where}: initializer '{t.name}' has external data; "
                                     "load the model from its file")
            weights[t.name], note = w.external(t, path.parent)
            if note and note not in notes:
                notes.append(note)
        elif _is_large(t):
            weights[t.name] = w.in_memory(t)
    skeleton = _without(proto, set(weights)) if weights or not own else proto
    return OpenedModel(skeleton, weights, tuple(notes), where)


def _without(proto: onnx.ModelProto, names: set[str]) -> onnx.ModelProto:
    """A copy of `proto` whose initializers in `names` are typed graph inputs instead."""
    out = onnx.ModelProto()
    _copy_fields(proto, out, skip="graph")
    _copy_fields(proto.graph, out.graph, skip="initializer")
    g = out.graph
    declared = {vi.name for vi in g.input}
    for t in proto.graph.initializer:
        if t.name not in names:
            g.initializer.append(t)
        elif t.name not in declared:
            g.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, t.dims))
    return out


def _copy_fields(src, dst, skip: str) -> None:
    for field, value in src.ListFields():
        if field.name == skip:
            continue
        if hasattr(value, "extend"):  # a repeated field
            getattr(dst, field.name).extend(value)
        elif hasattr(value, "CopyFrom"):
            getattr(dst, field.name).CopyFrom(value)
        else:
            setattr(dst, field.name, value)


def _is_large(t: onnx.TensorProto) -> bool:
    return t.data_location == onnx.TensorProto.EXTERNAL or w.expected_bytes(t) >= LARGE_BYTES


def _check(proto: onnx.ModelProto, where: str) -> None:
    check_graph(proto.graph, where)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as e:
        raise ModelLoadError(f"{where} fails onnx.checker: {_first_line(e)}") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
