"""One writer for every output file: paths checked before the work starts, then written
atomically (a temporary file in the same folder, then os.replace), so no failure leaves half a file.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from npusim.errors import NpusimError


def json_number(v):
    """A number as JSON can hold it: JSON has no infinity or NaN (an SQNR is infinite where
    a run is exact), so those are written as the strings "inf", "-inf" and "nan"."""
    if isinstance(v, float) and not math.isfinite(v):
        return "inf" if v > 0 else ("-inf" if v < 0 else "nan")
    return v


def check_outputs(*paths: str | os.PathLike | None,
                  inputs: Iterable[str | os.PathLike | None] = ()) -> None:
    """Each given output path can be written, none is named twice and none is an input:
    checked before any work, so a mistake costs nothing. `None` entries are skipped."""
    given = [str(p) for p in paths if p is not None and str(p) != ""]
    seen: dict[str, str] = {}
    protected = {_key(p) for p in inputs if p is not None and Path(str(p)).exists()}
    for path in given:
        key = _key(path)
        if key in seen:
            raise NpusimError(f"output '{path}' is named twice (also as '{seen[key]}')")
        seen[key] = path
        if key in protected:
            raise NpusimError(f"cannot write '{path}': it is an input of this command and "
                              "would be overwritten")
        check_output(path)


def check_output(path: str | os.PathLike) -> Path:
    """The path, once it is known a file can be created or replaced there."""
    p = Path(path)
    if str(path) == "" or p.name in ("", ".", ".."):
        raise NpusimError(f"cannot write '{path}': give a file name")
    if "\0" in str(path):
        raise NpusimError(f"cannot write {str(path)!r}: the name holds a NUL character")
    limit = _name_max(p.parent)
    if len(os.fsencode(p.name)) > limit:
        raise NpusimError(f"cannot write '{path}': the file name is longer than this file "
                          f"system allows ({limit} bytes)")
    if p.is_dir():
        raise NpusimError(f"cannot write '{path}': it is a directory; give a file name")
    if p.exists() and not _is_regular(p):
        return p   # a device or pipe (/dev/stdout, /dev/null) is written in place
    folder = _folder(p)
    if not folder.exists():
        raise NpusimError(f"cannot write '{path}': folder '{folder}' does not exist")
    if not folder.is_dir():
        raise NpusimError(f"cannot write '{path}': '{folder}' is not a folder")
    if p.exists() and not os.access(p, os.W_OK):
        raise NpusimError(f"cannot write '{path}': the file is read-only")
    _probe(folder, path)
    return p


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 text to `path` atomically; an OS failure is one NpusimError line."""
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` (same suffix) for a writer that wants a file name;
    it replaces `path` only when the block ends without error, and is removed otherwise."""
    p = check_output(path)
    if p.exists() and not _is_regular(p):
        with _os_errors(path):
            yield p
        return
    target = Path(os.path.realpath(p))   # a symlinked output replaces its target, not the link
    with _os_errors(path):
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=".npusim-",
                                    suffix=f".tmp{target.suffix[:16]}")
        os.close(fd)
    tmp = Path(name)
    try:
        with _os_errors(path):
            yield tmp
            _keep_mode(target, tmp)
            os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


@contextlib.contextmanager
def _os_errors(path: str | os.PathLike) -> Iterator[None]:
    try:
        yield
    except OSError as e:
        raise NpusimError(f"cannot write '{path}': {_reason(e)}") from None


def _reason(e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return "no space left on the device"
    return e.strerror or str(e)


def _probe(folder: Path, path: str | os.PathLike) -> None:
    # os.access is not enough: root passes it on read-only mounts and on /proc.
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".npusim-probe-")
    except OSError as e:
        raise NpusimError(f"cannot write '{path}': no file can be created in '{folder}' "
                          f"({_reason(e)})") from None
    os.close(fd)
    os.unlink(name)


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):   # no pathconf (Windows) or no limit known
        return 255


def _folder(p: Path) -> Path:
    return Path(os.path.realpath(p)).parent if p.is_symlink() else (p.parent or Path("."))


def _is_regular(p: Path) -> bool:
    return stat.S_ISREG(p.stat().st_mode)


def _keep_mode(target: Path, tmp: Path) -> None:
    # mkstemp creates 0600; give the file the mode a plain open() would (or the old file's)
    if target.exists():
        mode = stat.S_IMODE(target.stat().st_mode)
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp, mode)


def _key(path: str | os.PathLike) -> str:
    return os.path.realpath(os.path.abspath(str(path)))
