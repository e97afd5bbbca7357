"""Requantization schemes against hand-computed vectors from NUMERICS.md."""

from __future__ import annotations

import numpy as np

from npusim.numerics.requant import (INT32_MAX, INT32_MIN, quantize_multiplier, rdbpot,
                                     requantize, round_shift, shift_multiplier, srdhm)


def _rq(acc, e, scheme, **kw):
    return requantize(np.asarray(acc, np.int64), np.float32(e), np.float32(1.0),
                      np.float32(1.0), np.int8(0), np.dtype(np.int8), channel_axis=0,
                      scheme=scheme, **kw).values


def test_ort_and_onnx_ref_differ_at_a_near_tie():
    # acc = 5, M = f32(0.1): f32(5 * M) = 0.5 exactly -> 0; in float64 0.50000000745 -> 1
    assert _rq([5], 0.1, "ort")[0] == 0
    assert _rq([5], 0.1, "onnx-ref")[0] == 1


def test_quantize_multiplier_vectors():
    m, s = quantize_multiplier(np.array([0.5, 1.0, 0.75, 2.0**-40]))
    assert m.tolist() == [2**30, 2**30, 3 * 2**29, 0]
    assert s.tolist() == [0, 1, 0, 0]  # shift < -31 gives m = 0, shift = 0
    m, s = quantize_multiplier(np.array([(1 - 2.0**-40) * 0.25]))
    assert m.tolist() == [2**30] and s.tolist() == [-1]  # m == 2^31 halves, shift + 1


def test_srdhm_ties_and_int32_min():
    a = np.array([3, -3, 5, -5, INT32_MIN])
    b = np.array([2**30, 2**30, 2**30, 2**30, INT32_MIN])
    # 1.5 -> 2, -1.5 -> -1, 2.5 -> 3, -2.5 -> -2 (nudge then truncate), MIN*MIN saturates
    assert srdhm(a, b).tolist() == [2, -1, 3, -2, INT32_MAX]


def test_rdbpot_rounds_half_away_from_zero():
    x = np.array([5, -5, 6, -6, 5, -5])
    e = np.array([1, 1, 2, 2, 2, 2])
    assert rdbpot(x, e).tolist() == [3, -3, 2, -2, 1, -1]


def test_tflite_requantize_end_to_end():
    # e = 0.5 -> m = 2^30, shift 0: SRDHM(acc, 2^30) then no shift
    assert _rq([5, -5, 7, -7], 0.5, "tflite").tolist() == [3, -2, 4, -3]
    # e = 0.25 -> m = 2^30, shift -1: SRDHM gives 5 / -5, RDBPOT by 1: 2.5 -> 3, -2.5 -> -3
    assert _rq([10, -10], 0.25, "tflite").tolist() == [3, -3]


def test_npu_shift_rounding_modes():
    x = np.array([5, -5, 6, -6])
    assert round_shift(x, 1, "half_up").tolist() == [3, -2, 3, -3]
    assert round_shift(x, 1, "half_away").tolist() == [3, -3, 3, -3]
    assert round_shift(x, 1, "half_even").tolist() == [2, -2, 3, -3]
    assert round_shift(x, 1, "trunc").tolist() == [2, -3, 3, -3]


def test_npu_shift_power_of_two_is_a_pure_shift():
    m, n = shift_multiplier(np.array([2.0**-5, 0.3]), 16)
    assert m[0] == 1 and n[0] == 5
    assert 2**15 <= m[1] < 2**16 and abs(m[1] / 2.0 ** n[1] - 0.3) < 2**-16
    from npusim.numerics.requant import NpuShift
    y = _rq([96, -96, 80], 2.0**-5, "npu-shift", npu=NpuShift(rounding="half_even"))
    assert y.tolist() == [3, -3, 2]  # 3.0, -3.0, 2.5 -> 2
