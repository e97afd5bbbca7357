"""Greedy-by-size placement: hand cases, and on random buffers no two live at once overlap."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from npusim.schedule import Request, greedy_by_size
from npusim.schedule.placement import peak_live_bytes


def test_best_fit_takes_the_smallest_gap():
    # sizes first: b 300 at 0, a 100 at 300, c 50 at 400; d (live with all) above them at 450
    reqs = [Request("a", 100, 0, 10), Request("b", 300, 0, 10), Request("c", 50, 0, 10),
            Request("d", 40, 5, 6)]
    arena = greedy_by_size(reqs)
    assert arena.offsets == {"b": 0, "a": 300, "c": 400, "d": 450}
    assert (arena.arena_bytes, arena.peak_bytes) == (490, 490)


def test_freed_space_is_reused_and_the_tighter_hole_wins():
    reqs = [Request("big", 1000, 0, 4), Request("small_late", 100, 5, 8),
            Request("keep", 300, 0, 8)]
    arena = greedy_by_size(reqs)
    # big at 0, keep [0,8) above it at 1000; small_late [5,8) overlaps only keep: gaps are
    # [0, 1000) (where big was) and above 1300; best fit is the 1000-byte hole
    assert arena.offsets == {"big": 0, "keep": 1000, "small_late": 0}
    # by size: l1 600 at 0, s1 500 at 600, l2 400 at 1100, s2 64 at 1500, l3 50 at 1564.
    # When s1 and s2 have died, x (40 B, placed last) sees holes of 500 and 64 bytes between
    # live buffers: best fit takes the 64-byte one.
    reqs = [Request("l1", 600, 0, 10), Request("s1", 500, 0, 2), Request("l2", 400, 0, 10),
            Request("s2", 64, 0, 2), Request("l3", 50, 0, 10), Request("x", 40, 5, 6)]
    arena = greedy_by_size(reqs)
    assert arena.offsets == {"l1": 0, "s1": 600, "l2": 1100, "s2": 1500, "l3": 1564,
                             "x": 1500}


def test_alignment_and_capacity():
    reqs = [Request("a", 10, 0, 2), Request("b", 10, 1, 3), Request("c", 10, 1, 3)]
    arena = greedy_by_size(reqs, alignment_bytes=64)
    assert sorted(arena.offsets.values()) == [0, 64, 128]
    arena = greedy_by_size(reqs, alignment_bytes=64, capacity_bytes=100)
    assert len(arena.offsets) == 2 and len(arena.unplaced) == 1


def test_half_open_intervals_share_at_the_boundary():
    arena = greedy_by_size([Request("a", 100, 0, 1), Request("b", 100, 1, 2)])
    assert arena.offsets == {"a": 0, "b": 0}
    assert peak_live_bytes([Request("a", 100, 0, 1), Request("b", 100, 1, 2)]) == (100, 0)


buffers = st.lists(st.tuples(st.integers(1, 5000), st.integers(0, 50), st.integers(1, 20)),
                   min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(buffers, st.sampled_from([1, 16, 64, 256]), st.one_of(st.none(), st.integers(1, 40000)))
def test_random_buffers_never_collide(spec, align, capacity):
    reqs = [Request(f"t{i}", size, start, start + length)
            for i, (size, start, length) in enumerate(spec)]
    arena = greedy_by_size(reqs, align, capacity)
    placed = [r for r in reqs if r.name in arena.offsets]
    assert len(placed) + len(arena.unplaced) == len(reqs)
    for i, a in enumerate(placed):
        lo_a = arena.offsets[a.name]
        assert lo_a % align == 0
        if capacity is not None:
            assert lo_a + a.size_bytes <= capacity
        for b in placed[i + 1:]:
            live = a.start_ms < b.end_ms and b.start_ms < a.end_ms
            lo_b = arena.offsets[b.name]
            disjoint = lo_a + a.size_bytes <= lo_b or lo_b + b.size_bytes <= lo_a
            assert not live or disjoint, (a, b)
    # brute-force peak over integer time points equals the sweep line, and bounds the arena
    brute = max((sum(r.size_bytes for r in placed if r.start_ms <= t < r.end_ms)
                 for t in range(0, 71)), default=0)
    assert arena.peak_bytes == brute <= arena.arena_bytes
    if capacity is None:
        assert not arena.unplaced
