"""ONNX -> IR on real exports and on each way a model file can be wrong."""

from __future__ import annotations

import collections

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from npusim.errors import GraphError, ModelLoadError, ShapeError, UnsupportedOpError
from npusim.frontend import TARGET_OPSET, load_graph, parse_shapes
from npusim.ir.passes import canonicalize
from tests.conftest import light_models, make_model, vi

SHAPE_OPS = {"Shape", "ConstantOfShape", "Range", "Size", "Constant"}


@pytest.mark.parametrize("path", light_models(), ids=lambda p: p.stem)
def test_light_zoo_graphs_load_with_static_shapes(path):
    g = load_graph(path)
    assert g.opset == TARGET_OPSET
    assert not SHAPE_OPS & {n.op_type for n in g.nodes}
    assert all(all(isinstance(d, int) for d in t.shape) for t in g.tensors.values())


def test_hf_bert_export_folds_shape_subgraphs(bert_path):
    g = load_graph(bert_path, "input_ids:1x64,attention_mask:1x64")
    ops = collections.Counter(n.op_type for n in g.nodes)
    assert not SHAPE_OPS & set(ops)
    assert ops["MatMul"] == 16 and ops["Softmax"] == 2 and ops["LayerNormalization"] == 5
    assert g.shape(g.outputs[0]) == (1, 64, 128)


def test_hf_bert_binds_other_sequence_lengths(bert_path):
    g = load_graph(bert_path, {"input_ids": (2, 17), "attention_mask": (2, 17)})
    assert g.shape(g.outputs[0]) == (2, 17, 128)


def test_dynamo_export_loads(cnn_path):
    g = load_graph(cnn_path)
    assert [n.op_type for n in g.nodes] == ["Conv", "Relu", "Conv", "Conv", "HardSwish",
                                            "Resize", "ReduceMean", "Gemm"]


def test_unbound_dynamic_dims_name_the_inputs_and_the_flag(bert_path):
    with pytest.raises(ShapeError, match=r"'input_ids' \[batch, sequence\].*--shapes "
                                         r"input_ids:<batch>x<sequence>"):
        load_graph(bert_path)


def test_shapes_naming_a_missing_input(bert_path):
    with pytest.raises(ShapeError, match="'pixels', which is not a model input"):
        load_graph(bert_path, "pixels:1x3x8x8")


def test_shapes_conflicting_with_a_static_dim(cnn_path):
    with pytest.raises(ShapeError, match="fixes it to 64"):
        load_graph(cnn_path, "image:1x3x32x32")


@pytest.mark.parametrize("text, error", [("x:1xa", "integers"), ("x", "name:1x3x224x224")])
def test_bad_shapes_flag(text, error):
    with pytest.raises(ShapeError, match=error):
        parse_shapes(text)


def test_parse_shapes_trtexec_style():
    assert parse_shapes("a:1x3x224x224, b:1x64") == {"a": (1, 3, 224, 224), "b": (1, 64)}


def test_missing_file(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_graph(tmp_path / "nope.onnx")


def test_truncated_file(tmp_path, cnn_path):
    bad = tmp_path / "cut.onnx"
    bad.write_bytes(cnn_path.read_bytes()[:5000])
    with pytest.raises(ModelLoadError, match="cut.onnx"):
        load_graph(bad)


def test_garbage_file(tmp_path):
    bad = tmp_path / "junk.onnx"
    bad.write_bytes(b"\x00\xff not a protobuf at all \xff" * 10)
    with pytest.raises(ModelLoadError, match="junk.onnx"):
        load_graph(bad)


def test_cyclic_graph_is_rejected():
    nodes = [helper.make_node("Relu", ["x", ], ["a"], name="first"),
             helper.make_node("Add", ["a", "c"], ["b"], name="second"),
             helper.make_node("Relu", ["b"], ["c"], name="third")]
    model = make_model(nodes, [vi("x", [4])], [vi("c", [4])])
    with pytest.raises((ModelLoadError, GraphError), match="second|topologically"):
        load_graph(model)


def test_custom_domain_op_is_named():
    node = helper.make_node("FusedGelu", ["x"], ["y"], domain="com.microsoft", name="g")
    graph = helper.make_graph([node], "t", [vi("x", [4])], [vi("y", [4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    with pytest.raises(UnsupportedOpError, match="FusedGelu.*com.microsoft.*'g'"):
        load_graph(model)


def test_external_data_is_loaded(tmp_path):
    w = numpy_helper.from_array(np.arange(4096, dtype=np.float32).reshape(64, 64), "w")
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", [1, 64])],
                       [vi("y", [1, 64])], [w])
    path = tmp_path / "ext.onnx"
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.bin", size_threshold=0)
    assert (tmp_path / "ext.bin").exists()
    g = load_graph(path)
    np.testing.assert_array_equal(g.constant("w"), numpy_helper.to_array(w))


def test_batchnorm_folds_into_conv_and_keeps_values():
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for n, a in [
        ("w", rng.normal(size=(4, 3, 3, 3))), ("b", rng.normal(size=4)),
        ("g", rng.uniform(0.5, 1.5, 4)), ("beta", rng.normal(size=4)),
        ("m", rng.normal(size=4)), ("v", rng.uniform(0.5, 1.5, 4))]]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1] * 4),
             helper.make_node("BatchNormalization", ["c", "g", "beta", "m", "v"], ["y"],
                              name="bn"),
             helper.make_node("Identity", ["y"], ["z"], name="id")]
    model = make_model(nodes, [vi("x", [1, 3, 8, 8])], [vi("z", [1, 4, 8, 8])], inits)
    g = canonicalize(load_graph(model))
    assert [(n.name, n.op_type) for n in g.nodes] == [("conv+bn", "Conv")]
    assert g.outputs == ("z",)
    x = rng.normal(size=(1, 3, 8, 8)).astype(np.float32)
    expected = ReferenceEvaluator(model).run(None, {"x": x})[0]
    conv = g.nodes[0]
    folded = ReferenceEvaluator(helper.make_node("Conv", ["x", "w", "b"], ["y"],
                                                 pads=[1] * 4)).run(
        None, {"x": x, "w": g.constant(conv.inputs[1]), "b": g.constant(conv.inputs[2])})[0]
    np.testing.assert_allclose(folded, expected, rtol=1e-5, atol=1e-5)


def test_dropout_and_identity_are_removed(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="r"),
             helper.make_node("Dropout", ["a"], ["b"], name="d"),
             helper.make_node("Identity", ["b"], ["y"], name="i")]
    g = canonicalize(load_graph(make_model(nodes, [vi("x", [2, 2])], [vi("y", [2, 2])])))
    assert [(n.name, n.inputs, n.outputs) for n in g.nodes] == [("r", ("x",), ("y",))]


def test_a_cast_to_the_type_it_already_has_is_removed_and_a_real_cast_kept():
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="r"),
             helper.make_node("Cast", ["a"], ["b"], name="same", to=TensorProto.FLOAT),
             helper.make_node("Cast", ["b"], ["y"], name="half", to=TensorProto.FLOAT16)]
    model = make_model(nodes, [vi("x", [2, 2])], [vi("y", [2, 2], TensorProto.FLOAT16)])
    g = canonicalize(load_graph(model))
    assert [(n.name, n.inputs, n.outputs) for n in g.nodes] == [("r", ("x",), ("a",)),
                                                               ("half", ("a",), ("y",))]


def test_unnamed_nodes_get_traceable_names():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Relu", ["a"], ["y"])]
    g = load_graph(make_model(nodes, [vi("x", [2])], [vi("y", [2])]))
    assert [n.name for n in g.nodes] == ["Relu:a", "Relu:y"]


def test_int64_shape_arithmetic_on_a_dynamic_input_folds():
    # y = Reshape(x, Concat(Shape(x)[0:1], [-1])) -- the flatten exporters emit.
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Slice", ["s", "st", "en"], ["s0"]),
             helper.make_node("Concat", ["s0", "m1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["y"], name="flatten")]
    inits = [numpy_helper.from_array(np.array(v, np.int64), n)
             for n, v in [("st", [0]), ("en", [1]), ("m1", [-1])]]
    model = make_model(nodes, [vi("x", ["n", 3, 4])], [vi("y", ["n", None])], inits)
    g = load_graph(model, "x:5x3x4")
    assert [n.op_type for n in g.nodes] == ["Reshape"]
    assert g.shape("y") == (5, 12)
    assert TensorProto.INT64  # the folded shape stays int64
    assert g.constant(g.nodes[0].inputs[1]).tolist() == [5, -1]
