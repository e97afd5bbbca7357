"""The shared-DRAM contention model against numbers worked out on paper."""

from __future__ import annotations

import pytest

from npusim.pipeline.contention import Job, Segment, execute, fair_share


@pytest.mark.parametrize("demands, capacity, expected", [
    ([80, 80], 100, [50, 50]),          # both squeezed to half
    ([90, 20], 100, [80, 20]),          # the small one keeps its demand, the rest goes on
    ([30, 30], 100, [30, 30]),          # within capacity: nobody slowed
    ([10, 60, 60], 100, [10, 45, 45]),
    ([0, 200], 100, [0, 100]),
])
def test_fair_share_is_max_min_water_filling(demands, capacity, expected):
    assert fair_share(demands, capacity) == pytest.approx(expected)


def _job(key, unit, ms, gb, ready=0.0, deps=()):
    return Job(key, (unit,), ready, deps, fixed=(Segment(ms, gb * 1e9),))


def test_two_units_at_80_GBps_on_a_100_GBps_dram_each_take_16_ms():
    # each must move 0.8 GB; together they get 50 GB/s each: 0.8 GB / 50 GB/s = 16 ms
    ran, bw = execute([_job(0, "a", 10, 0.8), _job(1, "b", 10, 0.8)], ["a", "b"], 100.0)
    assert [r.end_ms for r in ran] == pytest.approx([16.0, 16.0])
    assert [r.alone_ms for r in ran] == pytest.approx([10.0, 10.0])
    assert len(bw) == 1 and bw[0] == pytest.approx((0.0, 16.0, 100.0))


def test_a_light_unit_keeps_its_pace_and_the_heavy_one_finishes_after_it():
    # a needs 90 GB/s, b 20: b keeps 20, a gets 80 for 10 ms (0.8 of its 0.9 GB), then the
    # last 0.1 GB at its full 90 GB/s: 1/0.9 ms more -> 11.111 ms
    ran, bw = execute([_job(0, "a", 10, 0.9), _job(1, "b", 10, 0.2)], ["a", "b"], 100.0)
    assert ran[1].end_ms == pytest.approx(10.0)
    assert ran[0].end_ms == pytest.approx(10 + 0.1 / 90 * 1e3)
    assert bw[0] == pytest.approx((0.0, 10.0, 100.0))
    assert bw[1] == pytest.approx((10.0, 10 + 1 / 0.9, 90.0))


def test_no_contention_when_the_dma_windows_do_not_overlap():
    ran, _ = execute([_job(0, "a", 10, 0.8), _job(1, "b", 10, 0.8, ready=12.0)],
                     ["a", "b"], 100.0)
    assert [x for r in ran for x in (r.start_ms, r.end_ms)] == pytest.approx([0, 10, 12, 22])


def test_no_contention_when_summed_demand_fits():
    ran, _ = execute([_job(0, "a", 10, 0.5), _job(1, "b", 10, 0.5)], ["a", "b"], 100.0)
    assert [r.end_ms for r in ran] == pytest.approx([10.0, 10.0])


def test_a_consumer_starts_when_its_producer_ends_and_a_unit_runs_one_job_at_a_time():
    jobs = [_job(0, "a", 4, 0.0), _job(1, "a", 3, 0.0), _job(2, "b", 2, 0.0, deps=(1,))]
    ran, _ = execute(jobs, ["a", "b"], 100.0)
    assert [x for r in ran for x in (r.start_ms, r.end_ms)] == pytest.approx([0, 4, 4, 7, 7, 9])
    assert ran[2].ready_ms == pytest.approx(7.0)


def test_first_free_dispatch_sends_a_job_to_the_idle_unit():
    jobs = [Job(k, ("a", "b"), 0.0, fixed=(Segment(5, 0),)) for k in range(3)]
    ran, _ = execute(jobs, ["a", "b"], 100.0)
    assert [(r.unit, r.end_ms) for r in ran] == [("a", 5.0), ("b", 5.0), ("a", 10.0)]


def test_segments_change_demand_mid_run():
    # a: 5 ms at 100 GB/s then 5 ms idle DRAM; b: 10 ms at 50 GB/s; W 100.
    # 0..: shares: a 50 (demand 100), b 50 -> a at half speed: its first segment ends at 10 ms
    # (b, at full speed, also ends at 10); a's idle segment then runs alone to 15 ms
    a = Job(0, ("a",), 0.0, fixed=(Segment(5, 0.5e9), Segment(5, 0)))
    b = Job(1, ("b",), 0.0, fixed=(Segment(10, 0.5e9),))
    ran, _ = execute([a, b], ["a", "b"], 100.0)
    assert [r.end_ms for r in ran] == pytest.approx([15.0, 10.0])


def test_a_fallback_segment_time_slices_the_unit_it_borrows():
    # a: 2 ms on a, 3 ms on b (fallback), 2 ms on a; b1: its own 10 ms job on b from t=0.
    # From t=2 both compute on b at half speed: a's 3 ms take 6 (ends 8), b1 has done 2 + 3
    # of its 10 ms by then and ends at 13; a's last 2 ms end at 10; b2, ready at 11, waits
    # for b1 and runs 13..14.
    a = Job(0, ("a",), 0.0, fixed=(Segment(2, 0), Segment(3, 0, unit="b"), Segment(2, 0)))
    b1 = Job(1, ("b",), 0.0, fixed=(Segment(10, 0),))
    b2 = Job(2, ("b",), 11.0, fixed=(Segment(1, 0),))
    ran, _ = execute([a, b1, b2], ["a", "b"], 100.0)
    assert ran[0].end_ms == pytest.approx(10.0) and ran[1].end_ms == pytest.approx(13.0)
    assert len(ran[0].borrowed) == 1 and ran[0].borrowed[0][0] == "b"
    assert ran[0].borrowed[0][1:] == pytest.approx((2.0, 8.0))
    assert (ran[2].start_ms, ran[2].end_ms) == pytest.approx((13.0, 14.0))
