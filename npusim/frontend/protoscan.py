"""Find where the weights of an ONNX file lie without parsing them into memory.

A walk over the protobuf wire format of ModelProto.graph.initializer: each large `raw_data`
field is cut out and its (offset, length) in the file kept, so it can be memory-mapped later.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path

import onnx

_MODEL_GRAPH = 7       # ModelProto.graph
_GRAPH_INITIALIZER = 5  # GraphProto.initializer
_TENSOR_RAW_DATA = 9   # TensorProto.raw_data


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


@dataclass(frozen=True, slots=True)
class Span:
    offset: int
    length: int


def read_lean(path: Path, min_bytes: int) -> tuple[onnx.ModelProto, dict[str, Span]]:
    """The model with every top-level `raw_data` of at least `min_bytes` left out, and where
    each lies in the file (tensor name -> span)."""
    with open(path, "rb") as f:
        if path.stat().st_size == 0:
            return onnx.ModelProto(), {}
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            view = memoryview(buf)
            try:
                return _split_model(view, min_bytes)
            finally:
                view.release()


def _split_model(buf: memoryview, min_bytes: int):
    head, tensors, spans = [], [], {}
    for field, wire, start, end, body in _fields(buf, 0, len(buf)):
        if field == _MODEL_GRAPH and wire == 2:
            head.append(_graph_without_initializers(buf, body, end, tensors, min_bytes))
        else:
            head.append(bytes(buf[start:end]))
    model = onnx.ModelProto.FromString(b"".join(head))
    for tensor_bytes, span in tensors:
        t = model.graph.initializer.add()
        t.ParseFromString(tensor_bytes)
        if span is not None:
            spans[t.name] = span
    return model, spans


def _graph_without_initializers(buf, start, end, tensors, min_bytes) -> bytes:
    kept = []
    for field, wire, f_start, f_end, body in _fields(buf, start, end):
        if field == _GRAPH_INITIALIZER and wire == 2:
            tensors.append(_tensor_without_raw(buf, body, f_end, min_bytes))
        else:
            kept.append(bytes(buf[f_start:f_end]))
    inner = b"".join(kept)
    return _key(_MODEL_GRAPH, 2) + _varint(len(inner)) + inner


def _tensor_without_raw(buf, start, end, min_bytes) -> tuple[bytes, Span | None]:
    kept, span = [], None
    for field, wire, f_start, f_end, body in _fields(buf, start, end):
        if field == _TENSOR_RAW_DATA and wire == 2 and f_end - body >= min_bytes:
            span = Span(body, f_end - body)
        else:
            kept.append(bytes(buf[f_start:f_end]))
    return b"".join(kept), span


def _fields(buf: memoryview, pos: int, end: int):
    """(field number, wire type, field start, field end, payload start) of each field."""
    while pos < end:
        start = pos
        key, pos = _read_varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _read_varint(buf, pos, end)
            body = pos
        elif wire == 1:
            body, pos = pos, pos + 8
        elif wire == 5:
            body, pos = pos, pos + 4
        elif wire == 2:
            length, body = _read_varint(buf, pos, end)
            pos = body + length
        else:
            raise WireError(f"unsupported wire type {wire} at byte {start}")
        if field == 0 or pos > end:
            raise WireError(f"field at byte {start} runs past its message")
        yield field, wire, start, pos, body


def _read_varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise WireError(f"bad varint at byte {pos}")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)
