"""The contract every bad input must meet: exit 2, one `npusim: error:` line (at most 3),
no traceback, and no file created, changed or removed in the folder it ran in."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from npusim import cli


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` (hidden ones too) with its size and modification time."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            p = Path(root, name)
            st = p.lstat()
            out[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return out


def check_error_text(err: str) -> None:
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    assert 1 <= len(lines) <= 3, err
    assert lines[0].startswith("npusim: error: "), err


def run_in_process(argv: list[str], folder: Path, capsys) -> str:
    """Run the CLI on argv in this process; the contract checked, the stderr returned."""
    before = snapshot(folder)
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert code == 2, (code, captured.out[-2000:], captured.err)
    check_error_text(captured.err)
    assert "Traceback" not in captured.out
    assert snapshot(folder) == before, "a failed command created or changed a file"
    return captured.err


def run_subprocess(argv: list[str], folder: Path) -> str:
    """The same contract through a real `python -m npusim.cli` process."""
    before = snapshot(folder)
    proc = subprocess.run([sys.executable, "-m", "npusim.cli", *argv], cwd=folder,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr)
    check_error_text(proc.stderr)
    assert snapshot(folder) == before, "a failed command created or changed a file"
    return proc.stderr


class Hung(Exception):
    """The command ran past its time limit: for a bad input, a hang is a bug too."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block (pure-Python loops included) after `seconds`, raising Hung."""
    def interrupt(signum, frame):
        raise Hung(f"still running after {seconds} s")
    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
