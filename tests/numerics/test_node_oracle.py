"""Bit-exactness of scheme `ort` against onnxruntime on every ONNX backend quantization node
test that onnxruntime itself runs and passes."""

from __future__ import annotations

import re
import warnings

import numpy as np
import onnx
import pytest

from npusim.numerics.executor import execute
from npusim.numerics.fusion import fuse
from npusim.numerics.load import load_model
from npusim.numerics.ops.context import Context
from numerics_oracle import as_array, ort_session

_QUANT = re.compile(r"quantize|qlinear|integer")


def _cases():
    from onnx.backend.test.loader import load_model_tests
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {t.name: t for t in load_model_tests(kind="node") if _QUANT.search(t.name)}


CASES = _cases()


def _ort_outputs(case):
    """onnxruntime's outputs, or None where it cannot run the case (opset > its maximum is
    lowered to 23; inputs of fp8 / int4 type go in as OrtValues)."""
    ort = pytest.importorskip("onnxruntime")
    m = onnx.ModelProto()
    m.CopyFrom(case.model)
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx") and o.version > 23:
            o.version = 23
    try:
        sess = ort_session(m)
    except Exception:
        return None
    ins, _ = case.data_sets[0]
    feeds = {}
    for vi, x in zip(m.graph.input, ins):
        x = as_array(x)
        if x.dtype.kind not in "biuf" or x.dtype.name.startswith(("float8", "int4", "uint4")):
            if x.dtype.itemsize != 1 or "4" in x.dtype.name:
                return None
            x = ort.OrtValue.ortvalue_from_numpy_with_onnx_type(
                x.view(np.uint8), vi.type.tensor_type.elem_type)
        feeds[vi.name] = x
    try:
        return sess.run(None, feeds)
    except Exception:
        return None


def _ours(case):
    g, cores = load_model(case.model)
    g = fuse(g, required=cores)
    ins, _ = case.data_sets[0]
    feeds = {vi.name: as_array(x) for vi, x in zip(case.model.graph.input, ins)
             if vi.name in g.inputs}
    values = execute(g, feeds, Context())
    return [values[o] for o in g.outputs]


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("name", sorted(CASES))
def test_bit_exact_against_onnxruntime(name):
    case = CASES[name]
    theirs = _ort_outputs(case)
    expected = [as_array(o) for o in case.data_sets[0][1]]
    if theirs is None or not all(_same(t, e) for t, e in zip(theirs, expected)):
        pytest.skip("onnxruntime cannot run this case or does not pass it")
    ours = _ours(case)
    for o, t in zip(ours, theirs):
        assert o.dtype.itemsize == t.dtype.itemsize
        assert _same(o.view(t.dtype) if o.dtype != t.dtype else o, t), name


def test_most_quantization_node_tests_are_covered():
    """Guard against silently skipping everything: onnxruntime passes 29 of the 45."""
    passed = 0
    for case in CASES.values():
        theirs = _ort_outputs(case)
        expected = [as_array(o) for o in case.data_sets[0][1]]
        if theirs is not None and all(_same(t, e) for t, e in zip(theirs, expected)):
            passed += 1
    assert len(CASES) == 45
    assert passed >= 29
