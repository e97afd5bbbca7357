"""--search: the bindings tried for `auto` entries and the Pareto front."""

from __future__ import annotations

import textwrap

from npusim.pipeline.search import _front, search


def test_front_keeps_points_no_other_beats_on_latency_and_throughput():
    rows = [{"end_to_end_ms_p50": lat, "throughput_fps": fps}
            for lat, fps in [(1, 10), (2, 20), (3, 5), (2, 10), (1, 10)]]
    assert _front(rows) == {0, 1, 4}


def test_auto_unit_tries_each_candidate_and_auto_batch_the_divisors(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(textwrap.dedent("""
        chip: j5
        frames: 2
        models:
          - name: cam
            model: zoo:resnet18
            zoo_options: {size: 32}
            unit: auto
            streams: 2
            batch: auto
    """))
    points = search(spec)
    tried = sorted((p.bindings[0][1], p.bindings[0][2]) for p in points)
    assert tried == [(("bpu0",), 1), (("bpu0",), 2), (("bpu1",), 1), (("bpu1",), 2),
                     (("cpu",), 1), (("cpu",), 2)]
    best = min(points, key=lambda p: p.end_to_end_ms_p50)
    assert best.pareto and best.bindings[0][1] != ("cpu",)


def test_search_runs_on_the_sweep_backends_and_names_a_missing_scheduler(tmp_path):
    import pytest

    from npusim.errors import NpusimError
    spec = tmp_path / "s.yaml"
    spec.write_text(textwrap.dedent("""
        chip: j5
        frames: 1
        models:
          - name: cam
            model: zoo:resnet18
            zoo_options: {size: 32}
            unit: auto
    """))
    local = search(spec, n_jobs=2)   # two loky workers give the points of one process
    assert [p.to_dict() for p in local] == [p.to_dict() for p in search(spec)]
    with pytest.raises(NpusimError, match="--scheduler"):
        search(spec, backend="dask")
