"""Read an ONNX model from disk or memory, check it, and bring it to one opset."""

from __future__ import annotations

import os
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx import version_converter

from npusim.errors import ModelLoadError, UnsupportedOpError

TARGET_OPSET = 21
"""Every model is converted to this default-domain opset before anything else reads it."""


def read_model(model: str | os.PathLike | onnx.ModelProto) -> onnx.ModelProto:
    """Load a model (external data included), run onnx.checker, inline local functions."""
    if isinstance(model, onnx.ModelProto):
        proto, where = model, f"model '{model.graph.name or '<in memory>'}'"
    else:
        path = Path(model)
        where = f"'{path}'"
        if not path.is_file():
            raise ModelLoadError(f"model file {where} does not exist")
        try:
            proto = onnx.load(str(path), load_external_data=True)
        except DecodeError:
            raise ModelLoadError(f"{where} is not a valid ONNX file (truncated or corrupt "
                                 "protobuf)") from None
        except (OSError, ValueError, onnx.checker.ValidationError) as e:
            raise ModelLoadError(f"{where} could not be read: {_first_line(e)}") from None
        if not proto.graph.node and not proto.graph.output:
            raise ModelLoadError(f"{where} holds no graph (empty or not an ONNX model)")
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as e:
        raise ModelLoadError(f"{where} fails onnx.checker: {_first_line(e)}") from None
    if proto.functions:
        proto = onnx.inliner.inline_local_functions(proto)
    return proto


def convert_opset(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Convert the default domain to TARGET_OPSET; other domains are reported by op name."""
    for node in proto.graph.node:
        if node.domain not in ("", "ai.onnx"):
            raise UnsupportedOpError(f"unsupported op '{node.op_type}' (domain '{node.domain}')"
                                     f" at node '{node.name}': only standard ONNX ops are "
                                     "supported")
    version = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if version == TARGET_OPSET:
        return proto
    try:
        return version_converter.convert_version(proto, TARGET_OPSET)
    except Exception as e:  # the converter raises bare RuntimeError/IndexError
        raise ModelLoadError(f"onnx.version_converter could not convert model from opset "
                             f"{version} to {TARGET_OPSET}: {_first_line(e)}") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
