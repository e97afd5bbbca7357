"""Locate the layers that break an int8 model and get a mixed-precision suggestion: a small
float CNN built with onnx.helper in which one layer's activation has a few huge values.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import npusim

TARGET_SQNR_DB = 30.0


def build_model(seed: int = 0) -> onnx.ModelProto:
    """input -> conv1 -> relu -> bias_spike (adds 1000 at one pixel of four channels: the
    wide-range activation) -> conv2 -> ReLU6 -> conv3 -> output, 1x8x16x16 in, float32.
    Min-max calibration stretches the int8 range of conv2's input to the spikes, so the
    ordinary values (0..3) fall on a step of ~8 and are lost; ReLU6 then cuts the spikes off,
    leaving the output to the values int8 could not represent."""
    rng = np.random.default_rng(seed)

    def weight(name: str, shape: tuple[int, ...]) -> onnx.TensorProto:
        fan_in = int(np.prod(shape[1:]))
        return numpy_helper.from_array(
            (rng.normal(size=shape) * np.sqrt(2.0 / fan_in)).astype(np.float32), name)

    spike = np.zeros((1, 16, 16, 16), np.float32)
    spike[0, :4, 8, 8] = 1000.0   # e.g. an un-normalized positional feature
    inits = [weight("w1", (16, 8, 3, 3)), weight("w2", (16, 16, 1, 1)),
             weight("w3", (8, 16, 3, 3)), numpy_helper.from_array(spike, "spike"),
             numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
             numpy_helper.from_array(np.array(6.0, np.float32), "six")]
    nodes = [
        helper.make_node("Conv", ["input", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Add", ["r1", "spike"], ["a1"], name="bias_spike"),
        helper.make_node("Conv", ["a1", "w2"], ["c2"], name="conv2"),
        helper.make_node("Clip", ["c2", "zero", "six"], ["r2"], name="relu6"),
        helper.make_node("Conv", ["r2", "w3"], ["output"], name="conv3", pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(
        nodes, "wide_range_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 8, 16, 16])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 8, 16, 16])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main() -> int:
    model = build_model()
    x = np.random.default_rng(1).normal(size=(1, 8, 16, 16)).astype(np.float32)
    # npusim quantizes the float model itself (min-max, per-channel weights, calibrated on x),
    # runs it bit-accurately as onnxruntime would, and compares every layer with float.
    result = npusim.run_numerics(model, {"input": x}, scheme="ort", precision="int8",
                                 target_sqnr_db=TARGET_SQNR_DB)
    print(f"{result.model}: int8, scheme {result.scheme}; output SQNR "
          + ", ".join(f"{k} {v:.2f} dB" for k, v in result.output_sqnr_db.items()))
    print(f"{'rank':>4}  {'layer':10} {'op':12} {'graphwise SQNR dB':>18} "
          f"{'layerwise out SQNR dB':>22} {'sat %':>6}")
    for rank, name in enumerate(result.worst_layers, 1):
        row = result.layer(name)
        lw = row.layerwise_output_sqnr_db
        print(f"{rank:>4}  {name:10} {row.op_type:12} {row.sqnr_db:>18.2f} "
              f"{lw if lw is not None else float('nan'):>22.2f} {100 * row.saturation_rate:>6.2f}")
    print(f"int8 breaker: {result.worst_layers[0]} (the layerwise view quantizes only that "
          "layer, so its error is its own)")
    mp = result.mixed_precision
    verdict = "reaches" if mp.reached else "does not reach"
    print(f"suggestion: keep {', '.join(mp.keep) or 'nothing'} in {mp.keep_precision}: output "
          f"SQNR {mp.baseline_sqnr_db:.2f} -> {mp.predicted_sqnr_db:.2f} dB ({verdict} the "
          f"{mp.target_sqnr_db:g} dB target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
