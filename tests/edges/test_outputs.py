"""Output files: every command checks its paths before any work (the work is replaced by a
trap that fails the test if reached), writes atomically, and a full disk is one line."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import npusim.api
import npusim.zoo
from npusim import outputs
from npusim.errors import NpusimError
from npusim.numerics import cli as numerics_cli
from npusim.report.html import cli as html_cli
from npusim.sweep import cli as sweep_cli
from tests.edges.contract import run_in_process
from tests.edges.corpus import tiny

BAD = {"dir": "adir", "missing-folder": "no/such/out.json", "proc": "/proc/npusim-out",
       "read-only-file": "ro.json", "name-too-long": "n" * 300}


def _trap(*_, **__):
    raise AssertionError("the work started before the output path was checked")


@pytest.fixture
def work_is_trapped(monkeypatch):
    """Loading, planning, scheduling, reporting, numerics, sweeps and zoo builds all fail."""
    for owner, name in ((npusim.api, "prepare"), (npusim.api, "simulate"), (npusim.api, "plan"),
                        (npusim.api, "compare"), (npusim.api, "memory_layout"),
                        (html_cli, "write_report"), (numerics_cli, "run_numerics"),
                        (numerics_cli, "load_npz"), (sweep_cli, "run_points"),
                        (sweep_cli, "expand"), (npusim.zoo, "build")):
        monkeypatch.setattr(owner, name, _trap)


COMMANDS = {
    "simulate --json": ["simulate", "TINY", "--chip", "j5", "--json", "OUT"],
    "simulate --csv": ["simulate", "TINY", "--chip", "j5", "--csv", "OUT"],
    "simulate --trace": ["simulate", "TINY", "--chip", "j5", "--trace", "OUT"],
    "plan --json": ["plan", "TINY", "--chip", "j5", "--json", "OUT"],
    "plan --compare --json": ["plan", "TINY", "--chip", "j5", "--compare", "--json", "OUT"],
    "memory --json": ["memory", "TINY", "--chip", "j5", "--json", "OUT"],
    "memory --trace": ["memory", "TINY", "--chip", "j5", "--trace", "OUT"],
    "memory --plot": ["memory", "TINY", "--chip", "j5", "--plot", "OUT.png"],
    "report -o": ["report", "TINY", "--chip", "j5", "-o", "OUT"],
    "numerics --json": ["numerics", "TINY", "--inputs", "x.npz", "--json", "OUT"],
    "sweep -o": ["sweep", "SPEC", "-o", "OUT.csv"],
    "sweep --plot": ["sweep", "SPEC", "--plot", "OUT.png"],
    "chips schema -o": ["chips", "schema", "-o", "OUT"],
    "zoo export -o": ["zoo", "export", "resnet18", "-o", "OUT"],
}


def _argv(template: list[str], out: str, d: Path) -> list[str]:
    spec = d / "spec.yaml"
    spec.write_text("base_chip: j5\nmodels: [tiny.onnx]\n"
                    "overrides: {grid: {memory.sram.capacity_bytes: [1048576]}}\n")
    return [a.replace("TINY", tiny(d)).replace("SPEC", str(spec)).replace("OUT", out)
            for a in template]


@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_bad_output_path_fails_before_the_work(command, bad, tmp_path, monkeypatch, capsys,
                                               work_is_trapped):
    monkeypatch.chdir(tmp_path)
    for suffix in ("", ".png", ".csv"):
        (tmp_path / f"adir{suffix}").mkdir()
    if bad == "read-only-file":
        if os.geteuid() == 0:
            pytest.skip("root may write any file; the check cannot be seen as root")
        for suffix in ("", ".png", ".csv"):
            (tmp_path / f"ro.json{suffix}").write_text("keep")
            (tmp_path / f"ro.json{suffix}").chmod(0o444)
    argv = _argv(COMMANDS[command], BAD[bad], tmp_path)
    err = run_in_process(argv, tmp_path, capsys)
    assert "cannot write" in err


def test_read_only_folder_is_refused_before_the_work(tmp_path, monkeypatch, capsys,
                                                     work_is_trapped):
    if os.geteuid() == 0:
        pytest.skip("root may write into a read-only folder; the check cannot be seen as root")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    monkeypatch.chdir(tmp_path)
    err = run_in_process(["simulate", tiny(tmp_path), "--chip", "j5", "--json",
                          str(locked / "o.json")], tmp_path, capsys)
    assert "Permission denied" in err


def test_a_full_disk_is_one_line_and_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("the previous run")

    def full(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(NpusimError, match="no space left on the device"):
        outputs.write_text(target, "{}")
    assert target.read_text() == "the previous run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_a_real_full_device_is_one_line(tmp_path, monkeypatch, capsys):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    monkeypatch.chdir(tmp_path)
    err = run_in_process(["chips", "schema", "-o", "/dev/full"], tmp_path, capsys)
    assert "no space left on the device" in err


def test_a_writer_that_fails_half_way_leaves_nothing(tmp_path):
    target = tmp_path / "trace.json"
    with pytest.raises(RuntimeError):
        with outputs.atomic_path(target) as tmp:
            tmp.write_text('{"traceEvents": [')
            raise RuntimeError("the writer broke")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_the_file_and_keeps_the_suffix(tmp_path):
    target = tmp_path / "plot.svg"
    target.write_text("old")
    with outputs.atomic_path(target) as tmp:
        assert tmp.suffix == ".svg" and tmp.parent == tmp_path and tmp != target
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.svg"]


def test_a_symlinked_output_writes_through_the_link(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    outputs.write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_new_files_get_the_usual_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        outputs.write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644


def test_good_outputs_are_written_once_each(tmp_path, monkeypatch, capsys):
    from npusim import cli
    monkeypatch.chdir(tmp_path)
    model = tiny(tmp_path)
    code = cli.main(["simulate", model, "--chip", "j5", "-q", "--json", "o.json", "--csv",
                     "o.csv", "--trace", "t.json"])
    assert code == 0, capsys.readouterr().err
    import json
    assert json.loads((tmp_path / "o.json").read_text())["chip"] == "j5"
    assert (tmp_path / "o.csv").read_text().splitlines()[0].startswith("name")
    assert "traceEvents" in json.loads((tmp_path / "t.json").read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.csv", "o.json", "t.json",
                                                          "tiny.onnx"]


def test_a_name_with_nul_is_refused(tmp_path):
    with pytest.raises(NpusimError, match="NUL"):
        outputs.check_output(tmp_path / "a\0b.json")
