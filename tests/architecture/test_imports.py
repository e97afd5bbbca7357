"""The package layout is the pipeline: each stage imports only the stages before it (no
upward import, hence no import cycle), and no module grows past ~400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "npusim"
MAX_LINES = 420

# what each part of npusim may import (besides itself and npusim.errors)
ALLOWED = {
    "ir": set(),
    "hw": {"ir"},
    "frontend": {"ir"},
    "zoo": {"ir"},
    "numerics": {"ir", "frontend", "hw"},
    "cost": {"ir", "hw"},
    "fusion": {"ir", "hw", "cost"},
    "schedule": {"ir", "hw", "cost", "fusion"},
    "verify": {"ir", "hw", "cost", "fusion", "schedule"},
    "result": {"schedule"},
    "report": {"ir", "hw", "cost", "fusion", "schedule", "result", "api", "cli_args",
               "numerics", "zoo", "frontend", "precision"},
    "api": {"ir", "hw", "frontend", "cost", "fusion", "schedule", "result", "zoo"},
}


def _part(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n.split(".")[1] for n in names if n.startswith("npusim.") and n.count(".") >= 1}


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_upward_import(path):
    part = _part(path)
    if part not in ALLOWED:
        return  # the shells on top (cli, sweep, __init__) may use everything
    wrong = _imports(path) - ALLOWED[part] - {part, "errors", "outputs", "cli_types"}  # leaves
    assert not wrong, f"{path.relative_to(PACKAGE)} ({part}) imports {sorted(wrong)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_over_400_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)}: {lines} lines"
