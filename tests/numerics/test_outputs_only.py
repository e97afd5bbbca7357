"""`run_numerics(reference=False)`: the same quantized outputs without the float reference, and
a model file rewritten in place is read again (the per-path graph cache keys on mtime)."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from npusim.errors import NumericsError

from numerics_oracle import ort_session, sensitive_model, run_numerics


def _qdq(tmp_path, model, name):
    pytest.importorskip("onnxruntime")
    from onnxruntime.quantization import CalibrationDataReader, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"x": np.random.default_rng(0).standard_normal(
                (1, 4, 8, 8)).astype(np.float32)}])

        def get_next(self):
            return next(self.it, None)
    onnx.save(model, tmp_path / f"{name}_f.onnx")
    quantize_static(str(tmp_path / f"{name}_f.onnx"), str(tmp_path / f"{name}.onnx"), Reader(),
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)
    return tmp_path / f"{name}.onnx"


def test_outputs_only_equal_full_run(tmp_path):
    path = _qdq(tmp_path, sensitive_model(), "m")
    x = {"x": np.random.default_rng(1).standard_normal((1, 4, 8, 8)).astype(np.float32)}
    fast = run_numerics(path, x, reference=False)
    full = run_numerics(path, x, layerwise=False)
    theirs = ort_session(onnx.load(path)).run(None, x)[0]
    assert fast.outputs["y"].tobytes() == full.outputs["y"].tobytes() == theirs.tobytes()
    assert fast.layers == () and dict(fast.reference_outputs) == {} and full.layers
    with pytest.raises(NumericsError, match="reference"):
        run_numerics(path, x, reference=False, target_sqnr_db=30.0)


def test_rewritten_model_file_is_reloaded(tmp_path):
    path = _qdq(tmp_path, sensitive_model(), "m")
    x = {"x": np.random.default_rng(1).standard_normal((1, 4, 8, 8)).astype(np.float32)}
    first = run_numerics(path, x, reference=False).outputs["y"]
    m = onnx.load(path)
    for init in m.graph.initializer:   # same size, other weights
        if init.data_type == onnx.TensorProto.INT8 and len(init.dims) == 4:
            w = numpy_helper.to_array(init)
            init.CopyFrom(numpy_helper.from_array((-w.astype(np.int16)).clip(-127, 127).astype(
                np.int8), init.name))
    onnx.save(m, path)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    second = run_numerics(path, x, reference=False).outputs["y"]
    theirs = ort_session(onnx.load(path)).run(None, x)[0]
    assert second.tobytes() == theirs.tobytes() and second.tobytes() != first.tobytes()
