"""What PyTorch's two exporters really emit goes through: the same module exported by the
TorchScript path and by the dynamo path gives the same graph arithmetic once folded."""

from __future__ import annotations

import pytest
from onnx import TensorProto, helper

import npusim
from npusim.errors import ShapeError
from npusim.hw import bundled_profiles
from tests.conftest import DATA, make_model

SHAPE_OPS = {"Shape", "ConstantOfShape", "Range", "Size"}
CASES = {"torch_det": "x:1x3x64x64", "torch_enc": "ids:1x16"}


@pytest.mark.parametrize("name", CASES)
def test_both_exporters_agree_on_the_work(name):
    ts = npusim.load(DATA / f"{name}_ts.onnx", CASES[name])
    dynamo_shapes = CASES[name] if name == "torch_enc" else None  # det dynamo is static
    dyn = npusim.load(DATA / f"{name}_dynamo.onnx", dynamo_shapes)
    for g in (ts, dyn):
        assert not SHAPE_OPS & {n.op_type for n in g.nodes}
    a = npusim.simulate(ts, "orin-agx-gpu", fusion="none")
    b = npusim.simulate(dyn, "orin-agx-gpu", fusion="none")
    assert a.totals.macs == b.totals.macs > 0


@pytest.mark.parametrize("path", sorted(DATA.glob("torch_*.onnx")), ids=lambda p: p.stem)
def test_real_exports_simulate_on_every_chip(path):
    name = path.stem.rsplit("_", 1)[0]
    shapes = CASES[name] if "_ts" in path.stem or name == "torch_enc" else None
    graph = npusim.load(path, shapes)
    for chip in bundled_profiles():
        r = npusim.simulate(graph, chip)
        assert r.totals.latency_ms > 0


def test_a_sequence_past_the_position_table_is_named_with_the_shapes_that_clash(bert_path):
    # the shipped BERT has 256 positions: at 300 tokens the exported position-id slice gives
    # 256 ids that Expand cannot broadcast to 300; the message says so, not "data-dependent"
    assert npusim.simulate(bert_path, "orin-agx-gpu", "batch=1,sequence=256").totals.macs
    with pytest.raises(ShapeError) as e:
        npusim.load(bert_path, "batch=1,sequence=300")
    msg = str(e.value)
    assert "Expand node '/m/embeddings/Expand_1'" in msg and "1x256" in msg, msg
    assert "[1, 300]" in msg and "may not accept the bound input shapes" in msg, msg
    assert "depends on input data" not in msg


def test_inputs_that_do_not_broadcast_are_named_by_shape():
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 256, 8])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["n", 300, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", "s", 8])
    model = make_model([helper.make_node("Add", ["a", "b"], ["y"], name="add")], [a, b], [y])
    with pytest.raises(ShapeError, match=r"Add node 'add'.*'a' 1x256x8, 'b' 1x300x8"):
        npusim.load(model, "n=1")
