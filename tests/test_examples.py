"""Every script in examples/ runs as a user would run it (a subprocess, from another working
directory) and prints its key line; each takes a few seconds."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# script -> a regular expression its output must match (the line the example exists for)
KEY_LINES = {
    "predict_j5_vs_orin.py": r"fastest: (j5|orin-agx-gpu|orin-agx-dla) \(\d+\.\d+ ms\)",
    "compare_fusion.py": r"dp vs none: \d+\.\d+x faster, \d+% less DDR traffic",
    "memory_layout_queries.py":
        r"input: \(1, 3, 200, 200\) -> NHWC .*'W': 224.*padding 14400 bytes",
    "find_int8_breakers.py": r"int8 breaker: conv2 .*\nsuggestion: keep conv2 in fp16: .*\(reaches",
    "sweep_sram.py": r"32 points[\s\S]*Pareto: zoo:resnet18 dp SRAM \d+ MiB",
}


def test_every_example_is_run():
    assert set(KEY_LINES) == {p.name for p in EXAMPLES.glob("*.py")}


@pytest.mark.parametrize("script", sorted(KEY_LINES))
def test_example_runs(script, tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert re.search(KEY_LINES[script], proc.stdout), proc.stdout


def test_examples_say_what_they_show():
    for path in (EXAMPLES / name for name in sorted(KEY_LINES)):
        tree = ast.parse(path.read_text())
        doc = ast.get_docstring(tree)
        assert doc and len(doc.splitlines()[0]) > 20, path.name
        assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body), \
            path.name
