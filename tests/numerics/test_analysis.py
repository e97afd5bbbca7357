"""Error analysis: a deliberately sensitive layer is ranked worst and the mixed-precision
suggestion keeps exactly it; results serialize deterministically."""

from __future__ import annotations

import json

import numpy as np
import pytest
from npusim.numerics import run_numerics
from npusim.numerics.calibrate import calibrate_range
from npusim.numerics.metrics import sqnr_db
from numerics_oracle import sensitive_model as _sensitive_model


def _inputs(seed):
    return {"x": np.random.default_rng(seed).standard_normal((1, 4, 8, 8)).astype(np.float32)}


def test_sensitive_layer_ranked_worst_and_kept():
    cal = [_inputs(s) for s in range(3)]
    r = run_numerics(_sensitive_model(), _inputs(9), calibration=cal, target_sqnr_db=20.0)
    assert r.worst_layers[0] == "conv2"
    mp = r.mixed_precision
    assert mp.baseline_sqnr_db < 20.0
    assert mp.keep == ("conv2",) and mp.reached and mp.predicted_sqnr_db >= 20.0
    row = r.layer("conv2")
    assert row.layerwise_output_sqnr_db < r.layer("conv1").layerwise_output_sqnr_db


def test_to_dict_is_deterministic():
    cal = [_inputs(s) for s in range(2)]
    a = run_numerics(_sensitive_model(), _inputs(5), calibration=cal)
    b = run_numerics(_sensitive_model(), _inputs(5), calibration=cal)
    assert json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)


def test_calibration_methods_clip_outliers():
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.standard_normal(100_000), [50.0]])
    lo, hi = calibrate_range(v, "minmax")
    assert hi == 50.0
    for method in ("percentile", "entropy", "mse"):
        lo2, hi2 = calibrate_range(v, method)
        assert 2.0 < hi2 < 50.0, method


def test_metrics_hand_values():
    ref = np.array([1.0, -1.0, 2.0, 0.0])
    assert sqnr_db(ref, ref) == float("inf")
    assert abs(sqnr_db(ref, ref + np.array([0.1, 0, 0, 0])) - 10 * np.log10(6 / 0.01)) < 1e-9


def test_own_quantizer_every_scheme_runs():
    for scheme in ("ort", "onnx-ref", "tflite", "npu-shift"):
        r = run_numerics(_sensitive_model(), _inputs(1), scheme=scheme, layerwise=False)
        assert np.isfinite(r.output_sqnr_db["y"]) and r.layers


def test_metrics_treat_equal_non_finite_values_as_exact():
    # a padded attention mask is -inf (or -3.4e38, which dequantizes past float32) on both
    # sides: no error there; a non-finite value on one side only is an infinite error
    from npusim.numerics.metrics import errors
    ref = np.array([1.0, -np.inf, 2.0, np.nan], np.float32)
    assert errors(ref, ref.copy()) == (np.inf, pytest.approx(1.0), 0.0)
    sqnr, _, big = errors(ref, np.array([1.0, -np.inf, 2.5, np.nan], np.float32))
    assert sqnr == pytest.approx(10 * np.log10(5 / 0.25)) and big == 0.5
    sqnr, _, big = errors(ref, np.array([1.0, 3.0, 2.0, np.nan], np.float32))
    assert sqnr == -np.inf and big == np.inf


def test_padded_bert_runs_the_precision_search_on_j5():
    # the bundled BERT with a padded mask: its -inf mask tensors stay float, and the layer
    # rows and output SQNR stay finite numbers
    from pathlib import Path

    from npusim.precision.search import search
    bert = Path(__file__).resolve().parents[1] / "data" / "bert_tiny_hf.onnx"
    mask = np.ones((1, 16), np.int64)
    mask[0, 10:] = 0
    inputs = {"input_ids": np.random.default_rng(0).integers(0, 1000, (1, 16)).astype(np.int64),
              "attention_mask": mask}
    s = search(bert, "j5", inputs, shapes="batch=1,sequence=16", max_moves=1, fusion="greedy")
    assert all(np.isfinite(p.output_sqnr_db) for p in s.points)
