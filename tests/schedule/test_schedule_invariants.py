"""Every zoo model on every chip, and random graphs: the placement and timeline invariants
hold, checked by `placement_problems` / `timeline_problems` (no code shared with the
scheduler or allocator)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import npusim
from npusim.cost import prepare_problem
from npusim import zoo
from npusim.fusion import plan
from npusim.hw import bundled_profiles, load_chip
from npusim.ir import Precision
from npusim.schedule import place, schedule
from npusim.verify import placement_problems, timeline_problems
from tests.strategies import conv_dags

CHIPS = sorted(bundled_profiles())
# Smaller inputs for the big networks keep this matrix fast; full-size ResNet-50 is below.
SMALL = {"retinanet": {"size": 320}, "yolo": {"size": 320}, "unet": {"size": 128},
         "bert-large": {"layers": 4, "seq": 128}}


@pytest.fixture(scope="module")
def chips():
    return {name: load_chip(name) for name in CHIPS}


@pytest.fixture(scope="module")
def zoo_graphs():
    return {name: npusim.load(zoo.build(name, weights="light", **SMALL.get(name, {})))
            for name in zoo.names()}


def _check(graph, chip, strategy):
    p = plan(prepare_problem(graph, chip, Precision.INT8), strategy=strategy)
    tl = schedule(p)
    mm = place(tl)
    assert timeline_problems(tl) == []
    assert placement_problems(mm, chip) == []
    for lv in mm.levels:
        assert lv.peak_bytes <= lv.arena_bytes <= lv.capacity_bytes
    # every group of the plan that computes is on the timeline, in order, once
    computing = [g.name for g in p.groups if g.bound_by != "view"]
    assert [g.name for g in tl.groups] == computing
    # latency is the makespan; throughput comes from the busiest lane
    assert tl.latency_ms == pytest.approx(max(e.end_ms for e in tl.events))
    assert tl.period_ms <= tl.latency_ms + 1e-12
    return p, tl, mm


@pytest.mark.parametrize("chip_name", CHIPS)
@pytest.mark.parametrize("model", zoo.names())
def test_zoo_models_on_every_chip(zoo_graphs, chips, model, chip_name):
    p, tl, _ = _check(zoo_graphs[model], chips[chip_name], "greedy")
    assert_timeline_moves_what_was_priced(p, tl)


@pytest.mark.parametrize("chip_name", CHIPS)
def test_resnet50_dp_plan(chips, chip_name):
    graph = npusim.load("zoo:resnet50", zoo_weights="light")
    p, tl, mm = _check(graph, chips[chip_name], "dp")
    assert_timeline_moves_what_was_priced(p, tl)
    # every tensor the plan moves through DDR has a DDR home with an address
    dram = chips[chip_name].dram.name
    homes = {q.tensor for q in mm.placements if q.level == dram}
    assert {t.tensor for g in p.groups for t in g.traffic} <= homes


def assert_timeline_moves_what_was_priced(p, tl):
    """Per tensor, the timeline's DDR bytes are the plan's priced bytes in the layout the
    unit stores them in (DMA'd units move padded tensors; units that read DRAM themselves
    move the priced bytes), plus the traffic of buffers spilled to DDR, named as such."""
    chip, problem = p.chip, p.problem
    expected: dict[str, int] = {}
    for g in p.groups:
        unit = chip.unit(g.unit)
        staged = unit.dma_channels is not None and unit.fusion is not None and not g.is_view
        for t in g.traffic:
            expected[t.tensor] = expected.get(t.tensor, 0) + (
                problem.padded(t.tensor, t.bytes_moved) if staged else t.bytes_moved)
    spilled = {b.tensor for b in tl.buffers if b.spilled}
    moved = {t.tensor: t.loaded_bytes + t.stored_bytes for t in tl.ddr_traffic}
    for tensor, nbytes in expected.items():
        if tensor not in spilled:
            assert moved.get(tensor, 0) == pytest.approx(nbytes, abs=8), tensor
    assert tl.ddr_bytes == pytest.approx(sum(expected.values()) + tl.spill_bytes, abs=64)


def test_memory_map_is_frozen(chips):
    graph = npusim.load("zoo:resnet18", zoo_weights="light")
    _, tl, mm = _check(graph, chips["j5"], "greedy")
    with pytest.raises(dataclasses.FrozenInstanceError):
        mm.timeline = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        tl.latency_ms = 0.0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_dags(channels=(3, 5, 8, 64, 200), sizes=(8, 15, 32), min_ops=1, max_ops=8),
       st.sampled_from(CHIPS), st.sampled_from(["none", "greedy", "dp"]))
def test_random_graphs_keep_the_invariants(chips, graph, chip_name, strategy):
    _check(graph, chips[chip_name], strategy)
