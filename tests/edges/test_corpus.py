"""Every case of the hostile-input corpus ends in one clear line and exit 2, nothing written:
in-process for speed, a representative subset through real subprocesses end to end."""

from __future__ import annotations

import pytest

from tests.edges.contract import run_in_process, run_subprocess
from tests.edges.corpus import CASES

# one or two per kind of input: each costs a Python start and npusim's imports (1-3 s)
SUBPROCESS_CASES = ("profile-clock-zero", "profile-billion-laughs", "model-truncated",
                    "out-simulate-json-dir", "out-memory-json-missing-folder",
                    "out-simulate-trace-dir", "npz-object-array", "sweep-billion-points")


def test_the_corpus_is_large_and_its_names_unique():
    ids = [c.id for c in CASES]
    assert len(CASES) >= 60
    assert len(set(ids)) == len(ids)
    assert set(SUBPROCESS_CASES) <= set(ids)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_gives_one_line(case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = case.make(tmp_path)
    err = run_in_process(argv, tmp_path, capsys)
    assert case.says in err


@pytest.mark.parametrize("case", [c for c in CASES if c.id in SUBPROCESS_CASES],
                         ids=lambda c: c.id)
def test_bad_input_gives_one_line_in_a_real_process(case, tmp_path):
    argv = case.make(tmp_path)
    assert case.says in run_subprocess(argv, tmp_path)

