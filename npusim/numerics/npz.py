"""Load .npz / .npy files someone handed us: never unpickled, headers checked against the bytes
present and a size limit before any array is allocated; every failure names the file."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from npusim.errors import NumericsError

MAX_NPZ_BYTES = 4 << 30   # decompressed; more is a zip bomb or the wrong file


def load_npz(path: str, what: str, finite: bool = True) -> dict[str, np.ndarray]:
    """Arrays of an .npz file by name, never unpickled; a missing, corrupt, pickled, oversized
    or non-numeric file is a user error naming the file and the array. `finite=False` lets NaN
    and infinities through (a board dump may hold them; finding them is the point)."""
    p = Path(path)
    if p.is_dir():
        raise NumericsError(f"{what} file '{p}' is a folder, not an .npz file")
    if not p.is_file():
        raise NumericsError(f"{what} file '{p}' does not exist")
    bad = f"{what} file '{p}'"
    try:
        z = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise NumericsError(f"{bad} is not a readable .npz: {_npz_reason(e)}") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise NumericsError(f"{bad} holds one bare array, not named arrays; save it with "
                            "numpy.savez(file, INPUT_NAME=array)")
    with z:
        try:
            _check_npz_members(z, bad)
            arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
            raise NumericsError(f"{bad} is not a readable .npz: {_npz_reason(e)}") from None
    for name, a in arrays.items():
        _check_numbers(a, f"{bad}: array '{name}'", finite)
    return arrays


def load_npy(path: str | Path, what: str, finite: bool = True,
             max_bytes: int = MAX_NPZ_BYTES) -> np.ndarray:
    """The one array of a .npy file, checked like an .npz member (header against the file
    size and `max_bytes`, no Python objects, numbers only)."""
    p = Path(path)
    bad = f"{what} '{p}'"
    if not p.is_file():
        raise NumericsError(f"{bad} does not exist or is not a file")
    size = p.stat().st_size
    try:
        with open(p, "rb") as f:
            shape, dtype = _read_header(f, bad)
            header = f.tell()
    except (OSError, ValueError, EOFError) as e:
        raise NumericsError(f"{bad} is not a readable .npy: {_npz_reason(e)}") from None
    need = math.prod(shape) * dtype.itemsize
    if need > max_bytes:
        raise NumericsError(f"{bad} declares {need} bytes, more than the {max_bytes >> 20} MiB "
                            "npusim reads from one dump file")
    if header + need != size:
        raise NumericsError(f"{bad} declares shape {tuple(shape)} of {dtype} ({need} bytes) but "
                            f"holds {size - header} bytes of data; the file is corrupt")
    try:
        a = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise NumericsError(f"{bad} is not a readable .npy: {_npz_reason(e)}") from None
    _check_numbers(a, bad, finite)
    return a


def _read_header(f, bad: str) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(f)
    reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
              else np.lib.format.read_array_header_2_0)
    shape, _, dtype = reader(f)
    if dtype.hasobject:
        raise NumericsError(f"{bad} holds Python objects, which npusim never loads")
    return tuple(shape), dtype


def _check_numbers(a, where: str, finite: bool) -> None:
    if not isinstance(a, np.ndarray):
        raise NumericsError(f"{where} is not a numpy array")
    if a.dtype.kind not in "biuf":
        raise NumericsError(f"{where} has dtype {a.dtype}; give numbers "
                            "(bool, int, uint or float)")
    if finite and a.dtype.kind == "f" and not np.isfinite(a).all():
        raise NumericsError(f"{where} holds {np.count_nonzero(~np.isfinite(a))}"
                            " NaN or infinite values")


def _check_npz_members(z, bad: str) -> None:
    """Every member's declared shape fits the bytes it has, and all fit MAX_NPZ_BYTES, checked
    from the headers before any array is allocated."""
    total = 0
    for info in z.zip.infolist():
        if not info.filename.endswith(".npy"):
            raise NumericsError(f"{bad}: member '{info.filename}' is not a .npy array")
        total += info.file_size
        if total > MAX_NPZ_BYTES:
            raise NumericsError(f"{bad} holds more than {MAX_NPZ_BYTES >> 30} GiB of arrays")
        with z.zip.open(info) as f:
            shape, dtype = _read_header(f, f"{bad}: array '{info.filename[:-4]}'")
        if math.prod(shape) * dtype.itemsize > info.file_size:
            raise NumericsError(f"{bad}: array '{info.filename[:-4]}' declares shape "
                                f"{tuple(shape)} but holds fewer bytes; the file is corrupt")


def _npz_reason(e: Exception) -> str:
    text = str(e)
    if "pickle" in text:
        return ("it is neither an .npz nor a .npy file (numpy would have to unpickle it, which "
                "npusim never does)")
    return text or type(e).__name__
