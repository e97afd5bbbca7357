"""A QDQ model priced as it is: nodes the quantizer left outside Q/DQ (float islands) run in
float on the unit that can run them (fp16 on the Orin GPU; on J5, whose BPU has no float,
on the CPU), so a model quantized with layers excluded costs more than the full one."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from npusim import api, zoo
from npusim.cli import main

EXCLUDED = ["/layer4/layer4.1/conv2/Conv", "/fc/Gemm"]


@pytest.fixture(scope="module")
def qdq_models(tmp_path_factory):
    quant = pytest.importorskip("onnxruntime.quantization")
    d = tmp_path_factory.mktemp("qdq")
    onnx.save(zoo.build("resnet18", size=32), d / "f.onnx")

    class Reader(quant.CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.it = iter([{"input": rng.normal(size=(1, 3, 32, 32)).astype(np.float32)}])

        def get_next(self):
            return next(self.it, None)
    paths = {}
    for name, exclude in (("full", []), ("partial", EXCLUDED)):
        paths[name] = d / f"{name}.onnx"
        quant.quantize_static(str(d / "f.onnx"), str(paths[name]), Reader(),
                              quant_format=quant.QuantFormat.QDQ, per_channel=True,
                              activation_type=quant.QuantType.QUInt8,
                              weight_type=quant.QuantType.QInt8, nodes_to_exclude=exclude)
    return paths


@pytest.mark.parametrize("chip,unit", [("orin-agx-gpu", "gpu"), ("j5", "cpu")])
def test_excluded_layers_run_in_float_and_cost_more(qdq_models, chip, unit):
    full = api.prepare(qdq_models["full"], chip)
    partial = api.prepare(qdq_models["partial"], chip)
    assert full.float_islands == ()
    assert set(partial.float_islands) == set(EXCLUDED)
    rf, rp = api.simulate(full, fusion="greedy"), api.simulate(partial, fusion="greedy")
    assert rp.totals.latency_ms > rf.totals.latency_ms
    for name in EXCLUDED:
        row = next(r for r in rp.layers if name in r.members)
        assert (row.unit, row.precision) == (unit, "fp16")
    # every other compute layer still runs int8 on the first unit
    assert {(r.unit, r.precision) for r in rp.layers if r.bound_by not in ("view", "runtime")
            and not set(r.members) & set(EXCLUDED)} == {(full.chip.ordered_units[0].name,
                                                          "int8")}


def test_table_names_the_float_layers(qdq_models, capsys):
    args = ["simulate", str(qdq_models["partial"]), "--chip", "j5", "--fusion", "greedy"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2 layer(s) not int8: fp16 on cpu 2" in out
    assert "2 node(s) of this QDQ model sit outside Q/DQ and run in float" in out
    for name in EXCLUDED:
        assert name in out.split("sit outside Q/DQ")[1]


def test_int16_qdq_layer_is_priced_at_int16():
    # A conv between int16 Q/DQ (64 -> 64 channels, 3x3, 56 x 56): on J5 the BPU's int16
    # rate, 115,605,504 MACs / (2 cores x 8192 x 1 GHz) = 7.056 us, and on the Orin GPU,
    # which has no int16 MACs, the default int8.
    from npusim.ir.passes import canonicalize
    from npusim.numerics.mixed import quantize_mixed, to_onnx
    from npusim.numerics.quantizer import config_for
    from tests.precision.test_cost import _conv
    g = canonicalize(_conv())
    x = {"x": np.random.default_rng(0).standard_normal((1, 64, 56, 56)).astype(np.float32)}
    model = to_onnx(quantize_mixed(g, [x], config_for("ort", "int16"), None))
    j5 = api.simulate(model, "j5", fusion="none")
    conv = next(r for r in j5.layers if "conv" in r.members)
    assert (conv.unit, conv.precision) == ("bpu", "int16")
    assert conv.compute_ms == pytest.approx(7.056e-3, rel=1e-9)
    orin = api.simulate(model, "orin-agx-gpu", fusion="none")
    assert next(r for r in orin.layers if "conv" in r.members).precision == "int8"


@pytest.fixture(scope="module")
def qat_like(tmp_path_factory):
    """ResNet-18 (32 px) through onnxruntime's own flow: quant_pre_process (BN folded), then
    quantize_static. The quantizer drops every Relu before a uint8 Q with zero point 0 (the Q
    clamps at zero): the model a user brings, with its own Q/DQ parameters."""
    quant = pytest.importorskip("onnxruntime.quantization")
    from onnxruntime.quantization.shape_inference import quant_pre_process
    d = tmp_path_factory.mktemp("qat")
    onnx.save(zoo.build("resnet18", size=32), d / "f.onnx")
    quant_pre_process(str(d / "f.onnx"), str(d / "p.onnx"))
    rng = np.random.default_rng(0)
    calib = [{"input": rng.normal(size=(1, 3, 32, 32)).astype(np.float32)} for _ in range(2)]

    class Reader(quant.CalibrationDataReader):
        def __init__(self):
            self.it = iter(calib)

        def get_next(self):
            return next(self.it, None)
    quant.quantize_static(str(d / "p.onnx"), str(d / "q.onnx"), Reader(),
                          quant_format=quant.QuantFormat.QDQ, per_channel=True,
                          activation_type=quant.QuantType.QUInt8,
                          weight_type=quant.QuantType.QInt8)
    x = {"input": np.random.default_rng(1).normal(size=(1, 3, 32, 32)).astype(np.float32)}
    return d / "p.onnx", d / "q.onnx", x


def test_float_reference_of_a_quantized_model_keeps_the_dropped_relus(qat_like):
    from npusim.numerics.metrics import sqnr_db
    from tests.numerics.numerics_oracle import ort_session, run_numerics
    float_model, qdq, x = qat_like
    assert not any(n.op_type == "Relu" for n in onnx.load(qdq).graph.node)
    r = run_numerics(qdq, x)
    theirs_float = ort_session(onnx.load(float_model)).run(None, x)[0]
    theirs_q = ort_session(onnx.load(qdq)).run(None, x)[0]
    assert r.outputs["logits"].tobytes() == theirs_q.tobytes()
    # the reference is the float model up to its weights' int8 rounding (it was the model
    # without its Relus, -13 dB from it, when a zero-start Q was stripped to an Identity)
    assert sqnr_db(theirs_float, r.reference_outputs["logits"]) > 35
    assert r.output_sqnr_db["logits"] == pytest.approx(sqnr_db(theirs_float, theirs_q), abs=3)


@pytest.mark.parametrize("chip", ["orin-agx-gpu", "j5"])
def test_search_starts_from_the_model_as_quantized(qat_like, chip):
    # a QAT / QDQ model keeps its own Q/DQ; the worst layers leave them for fp16 (on J5 on
    # the CPU: there are no int16 parameters in the model), one more each point
    from npusim.precision.search import search
    _, qdq, x = qat_like
    s = search(qdq, chip, x, max_moves=3, fusion="greedy")
    assert s.high == "fp16" and s.points[0].label == "as quantized"
    front = sorted(s.pareto, key=lambda p: (p.latency_ms, p.output_sqnr_db))
    assert len(front) >= 3
    for a, b in zip(front, front[1:]):
        assert a.latency_ms <= b.latency_ms and a.output_sqnr_db < b.output_sqnr_db
    assert s.points[-1].output_sqnr_db > s.points[0].output_sqnr_db + 20
    if chip == "j5":
        problem = api.prepare(qdq, chip, precisions=dict(s.points[1].precisions))
        assert problem.unit[problem.index[s.points[1].moved[0]]].name == "cpu"


@pytest.mark.skipif(__import__("npusim.numerics.kernels.sgemm", fromlist=["BLOCK"]).BLOCK is None,
                    reason="MLAS's GEMM order is reproduced on AVX-512F and FMA3 hosts only")
@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_a_map_on_a_quantized_model_is_bit_exact_with_onnxruntime(qat_like, precision):
    # layers of the model's own QDQ graph taken out of Q/DQ (their producers then run as
    # float convs on dequantized weights, which onnxruntime folds and runs NCHWc): the same
    # graph through onnxruntime (`to_onnx`) gives the same bytes, and nothing is mismatched
    from npusim.numerics.load import load_model
    from npusim.numerics.mixed import keep_float_layers, to_onnx
    from tests.numerics.numerics_oracle import ort_session, run_numerics
    _, qdq, x = qat_like
    graph, _ = load_model(qdq, None)
    moved = {"/layer2/layer2.0/conv2/Conv": precision, "/layer3/layer3.0/Add": precision,
             "/fc/Gemm": precision}
    session = ort_session(to_onnx(keep_float_layers(graph, moved)),
                          disabled_optimizers=["WeightBiasQuantization"])
    rng = np.random.default_rng(2)
    for feed in (x, {"input": rng.integers(0, 256, (1, 3, 32, 32)).astype(np.float32)}):
        ours = run_numerics(qdq, feed, precisions=moved, layerwise=False)
        assert ours.outputs["logits"].tobytes() == session.run(None, feed)[0].tobytes()
        assert not any(d.mismatched for d in ours.divergence)


def test_npusim_quantized_reference_is_the_float_model_itself():
    # npusim's quantizer keeps its Relus: a Q whose calibrated range starts at zero (here an
    # Add of +10 calibrated on non-negative inputs) is not a Relu in its float reference, so
    # an input that drives the Add negative keeps its float value there
    from onnx import helper, numpy_helper

    from npusim.numerics import run_numerics
    from tests.conftest import make_model, vi
    nodes = [helper.make_node("Add", ["x", "ten"], ["y"], name="add")]
    model = make_model(nodes, [vi("x", [1, 8])], [vi("y", [1, 8])],
                       [numpy_helper.from_array(np.full((1, 8), 10, np.float32), "ten")])
    calib = [{"x": np.linspace(0, 5, 8, dtype=np.float32).reshape(1, 8)}]
    x = {"x": np.full((1, 8), -20, np.float32)}
    r = run_numerics(model, x, calibration=calib)
    assert np.array_equal(r.reference_outputs["y"], np.full((1, 8), -10, np.float32))
