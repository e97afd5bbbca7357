"""Weights as `Deferred` values: memory maps of the model or its external data files.

Costing reads only each weight's dtype and dims; the bytes are mapped (never copied) when
numerics asks. External data must lie inside the model's folder, within its file.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from npusim.errors import ModelLoadError
from npusim.ir.deferred import Deferred

_MAPPABLE = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE,
             onnx.TensorProto.INT8, onnx.TensorProto.UINT8, onnx.TensorProto.INT16,
             onnx.TensorProto.UINT16, onnx.TensorProto.INT32, onnx.TensorProto.UINT32,
             onnx.TensorProto.INT64, onnx.TensorProto.UINT64, onnx.TensorProto.BOOL}


def expected_bytes(t: onnx.TensorProto) -> int:
    """Bytes of raw data the tensor's dims and type call for (4-bit types packed 2 a byte)."""
    bits = _bits(t)
    return math.ceil(math.prod(t.dims) * bits / 8)


def np_dtype(t: onnx.TensorProto) -> np.dtype:
    return onnx.helper.tensor_dtype_to_np_dtype(t.data_type)


def mapped(t: onnx.TensorProto, path: Path, offset: int, length: int) -> Deferred:
    """A weight whose raw bytes lie at [offset, offset + length) of `path`."""
    shape, name = tuple(t.dims), t.name
    header = onnx.TensorProto()
    header.CopyFrom(t)
    header.ClearField("external_data")
    header.data_location = onnx.TensorProto.DEFAULT

    def read() -> np.ndarray:
        if not path.is_file():
            raise ModelLoadError(f"weights of '{name}' are in '{path.name}', which is absent: "
                                 "npusim can price this model (shapes only) but not run it")
        if t.data_type in _MAPPABLE and length:
            return np.memmap(path, dtype=np_dtype(t), mode="r", offset=offset, shape=shape)
        with open(path, "rb") as f:
            f.seek(offset)
            header.raw_data = f.read(length)
        return numpy_helper.to_array(header)

    return Deferred(shape, np_dtype(t), read)


def in_memory(t: onnx.TensorProto) -> Deferred:
    """A weight already in a ModelProto, converted to numpy only when asked."""
    return Deferred(tuple(t.dims), np_dtype(t), lambda: numpy_helper.to_array(t))


def external(t: onnx.TensorProto, model_dir: Path) -> tuple[Deferred, str | None]:
    """A weight stored in an external data file, checked to stay inside `model_dir`; the
    second value is a note when the file is absent (the model still prices)."""
    info = {e.key: e.value for e in t.external_data}
    location = info.get("location", "")
    where = f"external data of initializer '{t.name}'"
    path = confined(location, model_dir, where)
    offset = _int_field(info, "offset", 0, where)
    need = expected_bytes(t)
    length = _int_field(info, "length", need, where)
    if length != need:
        raise ModelLoadError(f"{where}: length {length} bytes, but dims {list(t.dims)} of "
                             f"{onnx.TensorProto.DataType.Name(t.data_type)} need {need}")
    if not path.is_file():
        return mapped(t, path, offset, length), (
            f"external data file '{location}' is absent: priced from shapes only")
    size = path.stat().st_size
    if offset + length > size:
        raise ModelLoadError(f"{where}: bytes [{offset}, {offset + length}) lie past the end "
                             f"of '{location}' ({size} bytes)")
    return mapped(t, path, offset, length), None


def confined(location: str, model_dir: Path, where: str) -> Path:
    """`model_dir / location`, refused if it is absolute, climbs with '..' or resolves
    (symlinks followed) outside the model's folder."""
    if not location:
        raise ModelLoadError(f"{where} names no file (empty 'location')")
    rel = Path(location)
    if rel.is_absolute() or location.startswith(("/", "\\")) or os.path.splitdrive(location)[0]:
        raise ModelLoadError(f"{where}: location '{location}' is an absolute path; external "
                             "data must lie in the model's folder")
    if ".." in rel.parts or ".." in location.replace("\\", "/").split("/"):
        raise ModelLoadError(f"{where}: location '{location}' climbs out of the model's folder")
    root = model_dir.resolve()
    path = (model_dir / rel)
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        raise ModelLoadError(f"{where}: location '{location}' resolves outside the model's "
                             "folder (a symlink?)")
    return resolved


def _int_field(info: dict[str, str], key: str, default: int, where: str) -> int:
    if key not in info:
        return default
    try:
        value = int(info[key])
    except ValueError:
        raise ModelLoadError(f"{where}: {key} '{info[key]}' is not an integer") from None
    if value < 0:
        raise ModelLoadError(f"{where}: {key} {value} is negative")
    return value


def _bits(t: onnx.TensorProto) -> int:
    if t.data_type in (onnx.TensorProto.INT4, onnx.TensorProto.UINT4):
        return 4
    return np.dtype(np_dtype(t)).itemsize * 8
