"""Pareto fronts against a brute-force oracle, and the plot files."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from npusim.errors import NpusimError
from npusim.sweep import SweepResult, pareto_front, plot_pareto

COLUMNS = ("model", "fusion", "precision", "sram", "latency_ms", "throughput_fps", "ddr_bytes_per_frame",
           "estimated")


def _rows(points, model="a"):
    return [{"model": model, "fusion": "dp", "precision": "int8", "sram": x, "latency_ms": y,
             "throughput_fps": 1e3 / y, "ddr_bytes_per_frame": 0, "estimated": False} for x, y in points]


def _dominated(r, rows):
    return any(o["sram"] <= r["sram"] and o["latency_ms"] <= r["latency_ms"]
               and (o["sram"], o["latency_ms"]) != (r["sram"], r["latency_ms"]) for o in rows)


def test_front_by_hand():
    rows = _rows([(1, 5.0), (2, 3.0), (2, 4.0), (4, 3.0), (4, 1.0), (8, 1.0), (1, 6.0), (2, 3.0)])
    front = pareto_front(rows, "sram", "latency_ms", ())
    # (2, 3.0) twice: a tie is not beaten; (4, 3.0) loses to (2, 3.0); (8, 1.0) to (4, 1.0)
    assert [(r["sram"], r["latency_ms"]) for r in front] == [(1, 5.0), (2, 3.0), (4, 1.0),
                                                             (2, 3.0)]


def test_front_is_per_group():
    rows = _rows([(1, 2.0), (2, 1.0)], "a") + _rows([(1, 9.0), (2, 10.0)], "b")
    front = pareto_front(rows, "sram", "latency_ms")
    assert [(r["model"], r["sram"]) for r in front] == [("a", 1), ("a", 2), ("b", 1)]
    assert len(pareto_front(rows, "sram", "latency_ms", ())) == 2


@given(st.lists(st.tuples(st.integers(0, 6), st.integers(1, 6)), max_size=30))
def test_front_is_exactly_the_undominated_rows(points):
    rows = _rows([(x, float(y)) for x, y in points])
    front = pareto_front(rows, "sram", "latency_ms")
    assert list(front) == [r for r in rows if not _dominated(r, rows)]


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_plot_writes_png_and_svg(tmp_path, suffix, magic):
    rows = _rows([(2**20, 2.0), (2**22, 1.0), (2**24, 1.0)]) + _rows([(2**20, 3.0)], "b")
    result = SweepResult(COLUMNS, tuple(rows))
    path = plot_pareto(result, tmp_path / f"front{suffix}", x="sram")
    assert path.read_bytes().startswith(magic)
    with pytest.raises(NpusimError, match="use a .png, .svg, .pdf file"):
        plot_pareto(result, tmp_path / "front.jpg", x="sram")
