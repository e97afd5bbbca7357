"""The mechanisms around the kernels, each on a toy chip checked by hand: TF32 for fp32
builds, int8 builds keeping ops in fp16 with reformat kernels, concat in place, a thread
block's fixed cycles, the NPU's channel-wise mode and array efficiency, and the runtime on the
timeline (per-inference work, kernel enqueue, nv12 conversion, host copies)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from npusim import api
from npusim.frontend import load_graph
from npusim.hw import load_chip
from npusim.ir import Precision
from tests.conftest import make_model, vi

# 1 SM at 1 GHz; one 16x16x16 tile; L2 never limiting; DRAM 1 GB/s (1 byte per ns).
GPU = """
name: toy-gpu
description: hand-checkable GPU with a TensorRT-like builder
compute_units:
  - name: gpu
    kind: gpu
    count: {value: 1, source: t}
    clock_MHz: {value: 1000, source: t}
    macs_per_cycle: {int8: {value: 256, source: t}, fp16: {value: 128, source: t},
                     tf32: {value: 64, source: t}, fp32: {value: 8, source: t}}
    vector_ops_per_cycle: {int8: {value: 16, source: t}, fp16: {value: 16, source: t},
                           tf32: {value: 16, source: t}, fp32: {value: 16, source: t}}
    op_overhead_us: {value: 2, source: t}
    gpu:
      l2: l2
      tile_overhead_cycles: {value: TILE, source: t}
      tiles:
        int8: {shapes: [[16, 16, 16]], source: t}
        fp16: {shapes: [[16, 16, 16]], source: t}
        tf32: {shapes: [[16, 16, 16]], source: t}
        fp32: {shapes: [[16, 16, 16]], source: t}
      mma_efficiency: {int8: {value: 1, source: t}, fp16: {value: 1, source: t},
                       tf32: {value: 1, source: t}, fp32: {value: 1, source: t}}
    build:
      fp32_math: tf32
      int8_fallback: [Softmax]
      in_place: [Concat]
      reformat: true
memory:
  - {name: l2, kind: cache, scope: chip, capacity_bytes: {value: 1.0e9, source: t},
     bandwidth_GBps: {value: 1.0e6, source: t}, alignment_bytes: {value: 128, source: t}}
  - {name: dram, kind: dram, scope: chip, capacity_bytes: {value: 1.0e9, source: t},
     bandwidth_GBps: {value: 1, source: t}, alignment_bytes: {value: 256, source: t}}
RUNTIME
"""


def _chip(tmp_path, tile=0, runtime=""):
    path = tmp_path / "gpu.yaml"
    path.write_text(GPU.replace("TILE", str(tile)).replace("RUNTIME", runtime))
    return load_chip(path)


def _matmul(m=16, n=16, k=16):
    b = numpy_helper.from_array(np.ones((k, n), np.float32), "b")
    return load_graph(make_model([helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")],
                                 [vi("a", [m, k])], [vi("y", [m, n])], [b]))


def test_fp32_builds_run_matmuls_on_tf32(tmp_path):
    problem = api.prepare(_matmul(), _chip(tmp_path), precision="fp32")
    # 16x16x16 = 4096 MACs, one tile: 4096 / 64 TF32 MACs per cycle = 64 ns (fp32: 512 ns)
    assert problem.compute[0].mac_s == pytest.approx(64e-9)
    # bytes stay fp32: a 16x16 tensor is 1024 bytes
    assert problem.stored_bytes("y") == 1024


def test_a_thread_block_pays_its_fixed_cycles(tmp_path):
    plain = api.prepare(_matmul(), _chip(tmp_path), precision="int8")
    slow = api.prepare(_matmul(), _chip(tmp_path, tile=100), precision="int8")
    # one block: 4096 / 256 = 16 cycles of MMA, + 100 fixed cycles
    assert plain.compute[0].mac_s == pytest.approx(16e-9)
    assert slow.compute[0].mac_s == pytest.approx(116e-9)


def _softmax_between_matmuls():
    b = numpy_helper.from_array(np.ones((16, 16), np.float32), "b")
    nodes = [helper.make_node("MatMul", ["a", "b"], ["x"], name="mm1"),
             helper.make_node("Softmax", ["x"], ["s"], name="sm", axis=-1),
             helper.make_node("MatMul", ["s", "b"], ["y"], name="mm2")]
    return load_graph(make_model(nodes, [vi("a", [16, 16])], [vi("y", [16, 16])], [b]))


def test_int8_build_keeps_softmax_in_fp16_with_reformat_kernels(tmp_path):
    problem = api.prepare(_softmax_between_matmuls(), _chip(tmp_path), precision="int8")
    assert problem.precisions["sm"] is Precision.FP16
    assert problem.precisions["mm1"] is Precision.INT8
    plan = api.plan(problem, strategy="none")
    sm = plan.group_of("sm")
    # the softmax reads x: a reformat kernel reads it in int8 (256 B) and writes fp16
    # (512 B): 768 B at 1 GB/s = 0.768 us, plus one 2 us kernel launch
    assert sm.transition_ms == pytest.approx((0.768 + 2) / 1e3)
    # and mm2 reads s (fp16, 512 B) back into int8 (256 B): the same kernel the other way
    assert plan.group_of("mm2").transition_ms == pytest.approx((0.768 + 2) / 1e3)
    # the reformat kernels' bytes are DRAM traffic too
    loads = {t.tensor: t.bytes_moved for t in sm.loads}
    assert loads["x"] == 512 + 768


def _fastest_chip(tmp_path):
    path = tmp_path / "gpu-fastest.yaml"
    path.write_text(GPU.replace("TILE", "0").replace("RUNTIME", "").replace(
        "      reformat: true", "      reformat: true\n      int8_choice: fastest"))
    return load_chip(path)


def test_an_int8_build_keeps_islands_in_fp16_where_int8_and_its_reformats_are_slower(tmp_path):
    # each tiny matmul is an int8 island between fp16 softmax / graph edges: in int8 it saves
    # 16 ns of MMA and 768 B (0.768 us) of DRAM, but pays a 2.768 us reformat kernel at the
    # softmax; the builder (TensorRT) keeps both in fp16, which is what an fp16 build runs
    g = _softmax_between_matmuls()
    problem = api.prepare(g, _fastest_chip(tmp_path), precision="int8")
    assert problem.precisions["mm1"] is Precision.FP16
    assert problem.precisions["mm2"] is Precision.FP16
    assert set(problem.builder_choices) == {"mm1", "mm2"}
    int8 = api.simulate(problem).totals.latency_ms
    fp16 = api.simulate(g, _fastest_chip(tmp_path), precision="fp16").totals.latency_ms
    forced = api.simulate(g, _chip(tmp_path), precision="int8").totals.latency_ms
    assert int8 == pytest.approx(fp16) and forced > int8 + 2 * 0.002 - 2 * 0.000768 - 1e-9


def test_an_int8_build_keeps_int8_where_it_is_faster(tmp_path):
    # 256^3 MACs: int8 65.5 us of MMA and 196,608 B of DRAM, fp16 twice both: int8 stays
    problem = api.prepare(_matmul(256, 256, 256), _fastest_chip(tmp_path), precision="int8")
    assert problem.precisions["mm"] is Precision.INT8 and not problem.builder_choices


def test_a_layer_the_user_chose_is_never_changed_by_the_builder(tmp_path):
    g = _softmax_between_matmuls()
    problem = api.prepare(g, _fastest_chip(tmp_path), precision="int8",
                          precisions={"mm1": "int8"})
    assert problem.precisions["mm1"] is Precision.INT8
    assert "mm1" not in problem.builder_choices


def test_the_engine_binds_model_inputs_and_outputs_in_fp32(tmp_path):
    # two int8 relus on 1x8x4x4 (128 elements), each its own kernel: the first reads the
    # model input in fp32 (512 B) and writes 128 B, the second reads 128 B and writes the
    # model output in fp32 (512 B): 640 B at 1 GB/s + the 2 us launch, 2.64 us each; bound
    # at the layers' int8 they would move 256 B each (2.256 us)
    nodes = [helper.make_node("Relu", ["x"], ["m"], name="r1"),
             helper.make_node("Relu", ["m"], ["y"], name="r2")]
    g = load_graph(make_model(nodes, [vi("x", [1, 8, 4, 4])], [vi("y", [1, 8, 4, 4])]))
    io = tmp_path / "io"
    io.mkdir()
    path = io / "gpu.yaml"
    path.write_text(GPU.replace("TILE", "0").replace("RUNTIME", "").replace(
        "      reformat: true\n", "      reformat: true\n      io_precision: fp32\n"))
    bound = api.plan(api.prepare(g, load_chip(path), precision="int8"), strategy="none")
    assert [grp.latency_ms for grp in bound.groups] == pytest.approx([2.64e-3, 2.64e-3])
    plain = api.plan(api.prepare(g, _chip(tmp_path), precision="int8"), strategy="none")
    assert [grp.latency_ms for grp in plain.groups] == pytest.approx([2.256e-3, 2.256e-3])


def test_concat_runs_in_place(tmp_path):
    nodes = [helper.make_node("Relu", ["a"], ["r"], name="relu"),
             helper.make_node("Concat", ["r", "a"], ["y"], name="cat", axis=1)]
    g = load_graph(make_model(nodes, [vi("a", [1, 4, 8, 8])], [vi("y", [1, 8, 8, 8])]))
    problem = api.prepare(g, _chip(tmp_path), precision="fp16")
    assert problem.is_view[problem.index["cat"]]
    assert problem.unit[problem.index["cat"]] is None


RUNTIME = """
runtime:
  inference_overhead_us: {value: 10, source: t}
  kernel_enqueue_us: {value: 4, source: t}
"""


def test_runtime_rows_and_launch_bound_kernels(tmp_path):
    chip = _chip(tmp_path, runtime=RUNTIME)
    # three tiny relus: each 2 us of launch on the GPU, but the CPU needs 4 us to enqueue
    # each, so from the second on they wait for the CPU (launch-bound)
    nodes = [helper.make_node("Relu", [a], [b], name=f"r{i}")
             for i, (a, b) in enumerate([("x", "y0"), ("y0", "y1"), ("y1", "y2")])]
    g = load_graph(make_model(nodes, [vi("x", [1, 4])], [vi("y2", [1, 4])]))
    report = api.simulate(g, chip, precision="fp16", fusion="none")
    first = report.layers[0]
    assert first.name == "(runtime) inference overhead" and first.latency_ms == 0.010
    # host: overhead to 10 us, enqueues end at 14, 18, 22 us; each relu runs 2 us + memory
    starts = [e.start_ms for e in report.timeline.events if e.kind == "compute"]
    assert starts == pytest.approx([0.014, 0.018, 0.022])
    assert [r.bound_by for r in report.layers[1:]] == ["launch"] * 3
    assert report.totals.launch_bound_layers == 3
    # the kernels alone (first start to last end) exclude the runtime around them
    assert report.totals.kernels_ms == pytest.approx(report.totals.latency_ms - 0.014)


COPIES = """
runtime:
  host_to_device_GBps: {value: 2, source: t}
  device_to_host_GBps: {value: 1, source: t}
"""


def test_host_copies_before_the_first_and_after_the_last_kernel(tmp_path):
    chip = _chip(tmp_path, runtime=COPIES)
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="r")]
    g = load_graph(make_model(nodes, [vi("x", [1, 1000])], [vi("y", [1, 1000])]))
    report = api.simulate(g, chip, precision="fp16", fusion="none")
    names = [r.name for r in report.layers]
    assert names == ["(runtime) input copy (H2D)", "r", "(runtime) output copy (D2H)"]
    # the bindings are fp32 whatever the build: 4000 B in at 2 GB/s = 2 us, the relu waits
    # for it; 4000 B out at 1 GB/s = 4 us after the relu's end
    h2d, relu, d2h = report.layers
    assert h2d.latency_ms == pytest.approx(0.002) and h2d.bytes_loaded == 4000
    kernel = next(e for e in report.timeline.events if e.kind == "compute")
    assert kernel.start_ms >= 0.002
    assert d2h.start_ms == pytest.approx(relu.end_ms) and d2h.latency_ms == pytest.approx(0.004)
    assert report.totals.latency_ms == pytest.approx(d2h.end_ms)
    assert sum(r.latency_ms for r in report.layers) == pytest.approx(report.totals.latency_ms)
    # the kernels alone exclude both copies
    assert report.totals.kernels_ms == pytest.approx(kernel.end_ms - kernel.start_ms)


NPU = """
name: toy-npu
description: hand-checkable NPU with a channel-wise mode
compute_units:
  - name: npu
    kind: npu
    count: {value: 1, source: t}
    clock_MHz: {value: 1000, source: t}
    macs_per_cycle: {int8: {value: 1024, source: t}}
    vector_ops_per_cycle: {int8: {value: 64, source: t}}
    op_overhead_us: {value: 0, source: t}
    array:
      input_channels: {value: 32, source: t}
      output_channels: {value: 32, source: t}
      EXTRA
memory:
  - {name: dram, kind: dram, scope: chip, capacity_bytes: {value: 1.0e9, source: t},
     bandwidth_GBps: {value: 1000, source: t}, alignment_bytes: {value: 64, source: t}}
RUNTIME
"""


def _npu(tmp_path, extra="", runtime=""):
    path = tmp_path / "npu.yaml"
    path.write_text(NPU.replace("EXTRA", extra).replace("RUNTIME", runtime))
    return load_chip(path)


def _depthwise():
    w = numpy_helper.from_array(np.ones((64, 1, 3, 3), np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="dw", group=64, pads=[1] * 4)
    return load_graph(make_model([node], [vi("x", [1, 64, 8, 8])], [vi("y", [1, 64, 8, 8])],
                                 [w]))


def test_depthwise_uses_the_channel_wise_mode(tmp_path):
    dense = api.prepare(_depthwise(), _npu(tmp_path))
    # dense array (32 x 32, one pixel a cycle), one channel per pass: 64 groups x 8 rows x
    # 8 width steps x 9 taps = 36864 cycles, one MAC of 1024 lanes each
    assert dense.compute[0].mac_s == pytest.approx(64 * 8 * 8 * 9 / 1e9)
    mode = api.prepare(_depthwise(), _npu(tmp_path, "depthwise_macs_per_cycle: "
                                          "{value: 288, source: t}"))
    # channel-wise: 64 x 8 x 8 x 9 = 36864 MACs / 288 per cycle = 128 cycles
    assert mode.compute[0].mac_s == pytest.approx(128 / 1e9)


def test_array_efficiency_stretches_every_mapping(tmp_path):
    full = api.prepare(_depthwise(), _npu(tmp_path))
    half = api.prepare(_depthwise(), _npu(tmp_path, "efficiency: {value: 0.5, source: t}"))
    assert half.compute[0].mac_s == pytest.approx(2 * full.compute[0].mac_s)


def test_nv12_conversion_runs_before_the_first_layer(tmp_path):
    chip = _npu(tmp_path, runtime="runtime:\n  input_conversion_ns_per_pixel: "
                                  "{value: 2, source: t}\n")
    report = api.simulate(_depthwise(), chip)
    first = report.layers[0]
    # 1 x 8 x 8 pixels at 2 ns = 128 ns on the NPU, before any layer starts
    assert first.name == "(runtime) nv12 input conversion"
    assert first.latency_ms == pytest.approx(128e-6)
    compute = [e for e in report.timeline.events if e.kind == "compute"]
    assert min(e.start_ms for e in compute) >= 128e-6 - 1e-12


MIXED_FUSION = """    fusion:
      sram: l1
      max_ops: {value: 8, source: t}
      max_mac_ops: {value: 1, source: t}
      kinds: [conv-like, matmul-like, elementwise, reduction, shape-only]
      mixed_precision: MIXED
      weight_block_channels: {value: 16, source: t}
    gpu:"""
L1 = """memory:
  - {name: l1, kind: sram, scope: per_instance, unit: gpu, capacity_bytes: {value: 1.0e6, source: t},
     bandwidth_GBps: {value: 1.0e6, source: t}, alignment_bytes: {value: 128, source: t}}"""


def _fusing_chip(tmp_path, mixed: bool):
    path = tmp_path / f"gpu-fusing-{mixed}.yaml"
    path.write_text(GPU.replace("TILE", "0").replace("RUNTIME", "")
                    .replace("    gpu:", MIXED_FUSION.replace("MIXED", str(mixed).lower()), 1)
                    .replace("memory:", L1, 1))
    return load_chip(path)


def _matmul_softmax():
    b = numpy_helper.from_array(np.ones((16, 16), np.float32), "b")
    nodes = [helper.make_node("MatMul", ["a", "b"], ["x"], name="mm"),
             helper.make_node("Softmax", ["x"], ["y"], name="sm", axis=-1)]
    return load_graph(make_model(nodes, [vi("a", [16, 16])], [vi("y", [16, 16])], [b]))


def test_a_kernel_that_converts_in_registers_fuses_across_the_precision_boundary(tmp_path):
    # int8 matmul, fp16 softmax (an int8 build keeps it). Where kernels convert in registers
    # (TensorRT: an int8 GEMM writes float output), both run as one kernel: it loads a (int8,
    # 256 B) and b (int8, 256 B) and stores y (fp16, 512 B): 1024 B at 1 GB/s = 1.024 us,
    # + one 2 us launch, and no reformat kernel
    mixed = api.plan(api.prepare(_matmul_softmax(), _fusing_chip(tmp_path, True), precision="int8"))
    assert [g.members for g in mixed.groups] == [("mm", "sm")]
    g = mixed.groups[0]
    assert g.transition_ms == 0 and g.precision is Precision.INT8
    assert g.bytes_loaded + g.bytes_stored == 1024
    assert g.latency_ms == pytest.approx((1.024 + 2) / 1e3)
    # where a group runs at one precision, the softmax is its own kernel behind a reformat
    # kernel that reads x in int8 (256 B) and writes it in fp16 (512 B): 0.768 us + 2 us
    split = api.plan(api.prepare(_matmul_softmax(), _fusing_chip(tmp_path, False), precision="int8"))
    assert [g.members for g in split.groups] == [("mm",), ("sm",)]
    assert split.group_of("sm").transition_ms == pytest.approx((0.768 + 2) / 1e3)


def test_a_matmul_operand_at_another_precision_still_needs_a_reformat(tmp_path):
    # softmax (fp16) -> matmul (int8): the tensor cores read s from memory in int8, so the
    # fp16 tensor is reformatted first (512 B read + 256 B written = 0.768 us, + 2 us) even
    # where kernels convert in registers; an elementwise reader of it would not need one
    b = numpy_helper.from_array(np.ones((16, 16), np.float32), "b")
    nodes = [helper.make_node("Softmax", ["a"], ["s"], name="sm", axis=-1),
             helper.make_node("MatMul", ["s", "b"], ["y"], name="mm")]
    g = load_graph(make_model(nodes, [vi("a", [16, 16])], [vi("y", [16, 16])], [b]))
    plan = api.plan(api.prepare(g, _fusing_chip(tmp_path, True), precision="int8"),
                    strategy="none")
    assert plan.group_of("mm").transition_ms == pytest.approx((0.768 + 2) / 1e3)
    assert plan.group_of("sm").transition_ms == 0  # a graph input: nothing produced it


FORMATS = """
layouts:
  - {unit: gpu, precisions: [int8], format: NC/32HW32, estimated: t,
     padding: [{channels_at_most: 4, format: NC/4HW4}]}
  - {unit: gpu, precisions: [fp16], format: NHWC, channel_align: 8, estimated: t}
"""


def test_a_gpu_kernel_moves_its_tensors_in_the_vectorized_format(tmp_path):
    # an int8 relu on 1x8x4x4 (128 B valid): in NC/32HW32 each tensor is 32 channels, 512 B;
    # read + write 1024 B at 1 GB/s = 1.024 us, + the 2 us launch. Linear it moves 256 B.
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="r")]
    g = load_graph(make_model(nodes, [vi("x", [1, 8, 4, 4])], [vi("y", [1, 8, 4, 4])]))
    linear = api.plan(api.prepare(g, _chip(tmp_path), precision="int8"), strategy="none")
    vectorized = api.plan(api.prepare(g, _chip(tmp_path, runtime=FORMATS), precision="int8"),
                          strategy="none")
    assert linear.groups[0].latency_ms == pytest.approx((0.256 + 2) / 1e3)
    r = vectorized.groups[0]
    assert r.latency_ms == pytest.approx((1.024 + 2) / 1e3)
    assert {t.tensor: (t.tensor_bytes, t.bytes_moved) for t in r.traffic} == {
        "x": (128, 512), "y": (128, 512)}
    # fp16 in NHWC8: 8 channels are already a multiple of 8, no padding (512 B in + out)
    fp16 = api.plan(api.prepare(g, _chip(tmp_path, runtime=FORMATS), precision="fp16"),
                    strategy="none")
    assert fp16.groups[0].latency_ms == pytest.approx((0.512 + 2) / 1e3)
    # a 3-channel image in int8 is NC/4HW4: 3 -> 4 channels
    p = api.prepare(load_graph(make_model(nodes, [vi("x", [1, 3, 4, 4])],
                                          [vi("y", [1, 3, 4, 4])])),
                    _chip(tmp_path, runtime=FORMATS), precision="int8")
    assert p.padded("x", 48) == 64 and p.layouts["x"].format == "NC/4HW4"
