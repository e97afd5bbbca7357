"""Tests for npusim.zoo: every model builds, checks, infers fully static shapes, and runs.

Big models are checked with weights="light" where the spec allows; built models are cached per module.
"""

from __future__ import annotations

import collections

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npusim import zoo
from npusim.errors import NpusimError
from npusim.zoo.resnet import build_resnext50_32x4d

ALL = ("bert", "bert-large", "decoder", "mobilenetv2", "resnet18", "resnet50", "retinanet", "unet", "vit", "yolo")
TINY_BERT = dict(layers=2, hidden=128, heads=2, seq=16, vocab=1000)

# (name, weights, overrides) for the slow whole-model checks: CNNs with random weights at their
# defaults; bert-large and retinanet light; bert and vit light at full size plus random with 2
# layers (serialising 350-450 MB of random weights several times would dominate the suite).
CHECK_CASES = [
    (n, "random", {}) for n in ("mobilenetv2", "resnet18", "resnet50", "unet", "yolo")
] + [
    ("bert-large", "light", {}), ("retinanet", "light", {}), ("bert", "light", {}), ("vit", "light", {}),
    ("bert", "random", {"layers": 2}), ("vit", "random", {"layers": 2}), ("decoder", "random", {}),
]
CHECK_IDS = [f"{n}-{w}" + ("-2layers" if kw else "") for n, w, kw in CHECK_CASES]

_cache: dict[tuple, onnx.ModelProto] = {}


def built(name: str, weights: str = "random", **kw) -> onnx.ModelProto:
    key = (name, weights, tuple(sorted(kw.items())))
    if key not in _cache:
        _cache[key] = zoo.build(name, weights=weights, **kw)
    return _cache[key]


def dims(vi: onnx.ValueInfoProto) -> list[int | str | None]:
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return [None]
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]


def _skeleton(m: onnx.ModelProto) -> onnx.ModelProto:
    """``m`` with float weights turned into typed graph inputs (same graph, no 400 MB to copy)."""
    g = m.graph
    keep = [t for t in g.initializer if t.data_type != onnx.TensorProto.FLOAT]
    typed = [onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
             for t in g.initializer if t.data_type == onnx.TensorProto.FLOAT]
    graph = onnx.helper.make_graph(list(g.node), g.name, list(g.input) + typed, list(g.output),
                                   initializer=keep)
    sk = onnx.helper.make_model(graph, opset_imports=list(m.opset_import))
    sk.ir_version = m.ir_version
    return sk


# --------------------------------------------------------------------------- catalogue
def test_names_sorted_and_complete():
    assert zoo.names() == ALL
    assert list(zoo.names()) == sorted(zoo.names())


@pytest.mark.parametrize("name", ALL)
def test_describe_is_one_line_with_input_shape(name):
    text = zoo.describe(name)
    assert "\n" not in text and text.startswith(name)
    assert zoo.format_shapes(zoo.DEFAULT_INPUT_SHAPES[name]) in text


def test_input_shapes():
    assert zoo.format_shapes(zoo.input_shapes("resnet18")) == "input:1x3x224x224"
    assert zoo.input_shapes("bert", batch=4, seq=64) == {"input_ids": (4, 64)}
    assert zoo.input_shapes("bert-large")["input_ids"] == (1, 384)
    assert zoo.input_shapes("yolo")["input"] == (1, 3, 640, 640)
    assert zoo.input_shapes("unet")["input"] == (1, 3, 256, 256)
    assert zoo.input_shapes("retinanet")["input"] == (1, 3, 800, 800)
    assert set(zoo.DEFAULT_INPUT_SHAPES) == set(ALL)
    assert "NMS" in zoo.describe("yolo") and "NMS" in zoo.describe("retinanet")


# --------------------------------------------------------------------------- structure
def test_check_cases_cover_every_model():
    assert {n for n, _, _ in CHECK_CASES} == set(ALL)


@pytest.mark.parametrize("name, weights, kw", CHECK_CASES, ids=CHECK_IDS)
def test_checker_static_shapes_and_conventions(name, weights, kw):
    m = built(name, weights, **kw)
    onnx.checker.check_model(m, full_check=True)
    assert m.ir_version == 8
    assert [(o.domain, o.version) for o in m.opset_import] == [("", 17)]
    inferred = onnx.shape_inference.infer_shapes(_skeleton(m), strict_mode=True)
    g = inferred.graph
    values = {vi.name: vi for vi in list(g.value_info) + list(g.output) + list(g.input)}
    for node in g.node:
        for out in node.output:
            assert out in values, f"{name}: no inferred type for {out}"
    for vi in values.values():
        shape = dims(vi)
        assert all(isinstance(d, int) and d > 0 for d in shape), (name, vi.name, shape)  # [] = scalar
    # torch.onnx-style unique node names and unique tensor names
    node_names = [n.name for n in m.graph.node]
    assert all(n.startswith("/") for n in node_names)
    assert len(set(node_names)) == len(node_names)
    produced = [o for n in m.graph.node for o in n.output]
    produced += [t.name for t in m.graph.initializer] + [i.name for i in m.graph.input]
    assert len(set(produced)) == len(produced)
    # one input named as the spec says
    expected_inputs = ["input_ids"] if name.startswith("bert") else ["input"]
    if name == "decoder":
        expected_inputs = ["input_ids", "position_ids"] + [
            f"past_key_values.{i}.{k}" for i in range(2) for k in ("key", "value")]
    assert [i.name for i in m.graph.input] == expected_inputs


@pytest.mark.parametrize("name, weights, kw", CHECK_CASES, ids=CHECK_IDS)
def test_deterministic_serialization(name, weights, kw):
    a = built(name, weights, **kw).SerializeToString()
    b = zoo.build(name, weights=weights, **kw).SerializeToString()
    assert a == b


def test_seed_changes_weights():
    a = zoo.build("unet", base=8, seed=0).SerializeToString()
    b = zoo.build("unet", base=8, seed=1).SerializeToString()
    assert a != b


@pytest.mark.parametrize(
    "name, expected",
    [("resnet18", 11_689_512), ("resnet50", 25_557_032), ("mobilenetv2", 3_504_872),
     ("yolo", 7_235_389), ("vit", 86_567_656), ("bert", 108_891_648), ("bert-large", 334_092_288),
     # 2 x (4*256*256 + 3*256*768 + 2*256) + 2 * 32000*256 + 256
     ("decoder", 18_089_216)],
)
def test_param_counts(name, expected):
    # torchvision / yolov5s ("7235389 parameters") / HF BertModel without its pooler
    assert zoo.param_count(built(name, "light")) == expected
    if name in ("resnet18", "mobilenetv2", "yolo"):
        assert zoo.param_count(built(name)) == expected


def test_resnext_body_matches_torchvision():
    assert zoo.param_count(build_resnext50_32x4d(weights="light")) == 25_028_904


def _structure(m: onnx.ModelProto):
    nodes = [n for n in m.graph.node if n.op_type != "ConstantOfShape"]
    return [n.op_type for n in nodes], [n.name for n in nodes], [(o.name, dims(o)) for o in m.graph.output]


@pytest.mark.parametrize("name", ALL)
def test_light_matches_random(name):
    # smaller variants of the big ones keep the random build cheap; the graph code is the same
    kw = {"bert": {"layers": 2}, "bert-large": {"layers": 2}, "vit": {"layers": 2},
          "retinanet": {"classes": 8}}.get(name, {})
    light = built(name, "light", **kw)
    rand = built(name, "random", **kw)
    assert _structure(light) == _structure(rand)
    # light: every weight is ConstantOfShape(0.02) of an int64 1-D shape initializer, no floats
    assert all(t.data_type == onnx.TensorProto.INT64 and len(t.dims) == 1 for t in light.graph.initializer)
    cos = [n for n in light.graph.node if n.op_type == "ConstantOfShape"]
    assert len(cos) == len(rand.graph.initializer)
    assert {n.output[0] for n in cos} == {t.name for t in rand.graph.initializer}
    assert zoo.param_count(light) == zoo.param_count(rand)
    assert not any(n.op_type == "ConstantOfShape" for n in rand.graph.node)


# --------------------------------------------------------------------------- family details
def _ops(m):
    return collections.Counter(n.op_type for n in m.graph.node)


def test_resnet_unfused_topology():
    ops = _ops(built("resnet50"))
    assert ops["Conv"] == 53 and ops["BatchNormalization"] == 53 and ops["Add"] == 16
    assert ops["MaxPool"] == 1 and ops["GlobalAveragePool"] == 1 and ops["Gemm"] == 1
    m = built("resnet50")
    w = {t.name: list(t.dims) for t in m.graph.initializer}
    assert w["layer2.0.conv2.weight"] == [128, 128, 3, 3]  # v1.5: stride on the 3x3
    conv2 = next(n for n in m.graph.node if n.name == "/layer2/layer2.0/conv2/Conv")
    assert onnx.helper.get_attribute_value(next(a for a in conv2.attribute if a.name == "strides")) == [2, 2]
    assert not any(t.name.startswith("conv1.bias") for t in m.graph.initializer)


def test_mobilenetv2_depthwise_and_relu6():
    m = built("mobilenetv2")
    ops = _ops(m)
    assert ops["Clip"] == 35 and ops["Add"] == 10 and "Relu" not in ops
    groups = [a.i for n in m.graph.node if n.op_type == "Conv" for a in n.attribute if a.name == "group"]
    assert sum(g > 1 for g in groups) == 17


def test_yolo_layout():
    m = built("yolo")
    ops = _ops(m)
    assert ops["Sigmoid"] == ops["Mul"] and ops["Resize"] == 2 and ops["MaxPool"] == 3
    assert "Relu" not in ops
    assert [(o.name, dims(o)) for o in m.graph.output] == [
        ("p3", [1, 255, 80, 80]), ("p4", [1, 255, 40, 40]), ("p5", [1, 255, 20, 20])]


def test_bert_spelling():
    m = built("bert", "light")
    ops = _ops(m)
    assert ops["LayerNormalization"] == 25 and ops["Softmax"] == 12 and ops["Erf"] == 12
    assert ops["Gather"] == 3 and ops["MatMul"] == 12 * 8
    assert [(o.name, dims(o)) for o in m.graph.output] == [("last_hidden_state", [1, 128, 768])]
    layer = [n.op_type for n in m.graph.node if n.name.startswith("/encoder/layer.0/intermediate")]
    assert layer == ["MatMul", "Add", "Constant", "Div", "Erf", "Constant", "Add", "Mul", "Constant", "Mul"]
    large = built("bert-large", "light")
    assert _ops(large)["Softmax"] == 24
    assert dims(large.graph.output[0]) == [1, 384, 1024]


@settings(max_examples=15, deadline=None)
@given(layers=st.integers(1, 3), heads=st.integers(1, 4), head_dim=st.integers(1, 16),
       seq=st.integers(1, 40), batch=st.integers(1, 3))
def test_bert_overrides_give_static_shapes(layers, heads, head_dim, seq, batch):
    hidden = heads * head_dim
    m = zoo.build("bert", weights="light", batch=batch, layers=layers, hidden=hidden, heads=heads,
                  seq=seq, vocab=50)
    assert dims(m.graph.output[0]) == [batch, seq, hidden]
    assert _ops(m)["Softmax"] == layers
    inferred = onnx.shape_inference.infer_shapes(m, strict_mode=True)
    assert all(all(d.HasField("dim_value") for d in vi.type.tensor_type.shape.dim)
               for vi in inferred.graph.value_info)


def test_vit_layout():
    m = built("vit", "light")
    ops = _ops(m)
    assert ops["LayerNormalization"] == 25 and ops["Softmax"] == 12 and ops["Concat"] == 1
    conv = next(n for n in m.graph.node if n.op_type == "Conv")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in conv.attribute}
    assert attrs["kernel_shape"] == [16, 16] and attrs["strides"] == [16, 16]
    assert dims(m.graph.output[0]) == [1, 1000]


def test_unet_layout():
    m = built("unet")
    ops = _ops(m)
    assert ops["ConvTranspose"] == 4 and ops["MaxPool"] == 4 and ops["Concat"] == 4
    assert ops["Conv"] == 19 and ops["BatchNormalization"] == 18
    assert dims(m.graph.output[0]) == [1, 2, 256, 256]
    assert dims(zoo.build("unet", weights="light", base=16, classes=5).graph.output[0]) == [1, 5, 256, 256]


def test_retinanet_shared_heads_and_outputs():
    m = built("retinanet", "light")
    assert [(o.name, dims(o)) for o in m.graph.output] == [
        ("cls_logits", [1, 120087, 264]), ("bbox_regression", [1, 120087, 4])]
    uses = collections.Counter(i for n in m.graph.node for i in n.input)
    head = [n.output[0] for n in m.graph.node
            if n.op_type == "ConstantOfShape" and n.output[0].startswith("head.")]
    assert len(head) == 2 * (5 * 2)  # 2 heads x (4 convs + last conv) x (weight, bias)
    assert all(uses[h] == 5 for h in head)
    shapes = {t.name: tuple(onnx.numpy_helper.to_array(t)) for t in m.graph.initializer}
    assert shapes["head.classification_head.cls_logits.weight__SHAPE"] == (2376, 256, 3, 3)
    assert shapes["head.regression_head.bbox_reg.weight__SHAPE"] == (36, 256, 3, 3)
    assert shapes["backbone.body.layer1.0.conv2.weight__SHAPE"] == (128, 4, 3, 3)  # 32 groups x 4
    ops = _ops(m)
    assert ops["Resize"] == 2
    assert zoo.param_count(m) > 25_028_904 - 2_049_000  # backbone + FPN + heads


# --------------------------------------------------------------------------- onnxruntime
def _run(m: onnx.ModelProto, seed: int = 0, vocab: int | None = None):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.log_severity_level = 3
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    feeds = {}
    for i in sess.get_inputs():
        if i.type == "tensor(int64)":
            feeds[i.name] = (rng.integers(0, vocab, size=i.shape) if i.name == "input_ids"
                             else np.ones(i.shape)).astype(np.int64)
        else:
            feeds[i.name] = rng.standard_normal(i.shape).astype(np.float32)
    return sess.run(None, feeds)


@pytest.mark.parametrize(
    "name, kw",
    [("resnet18", {}), ("mobilenetv2", {}), ("unet", {}), ("yolo", {}), ("bert", TINY_BERT),
     ("vit", {"layers": 2})],
    ids=["resnet18", "mobilenetv2", "unet", "yolo", "tiny-bert", "vit-2-layers"],
)
def test_onnxruntime_outputs_finite_and_sane(name, kw):
    m = built(name, **kw)
    outs = _run(m, vocab=kw.get("vocab"))
    assert [o.shape for o in outs] == [tuple(dims(o)) for o in m.graph.output]
    for o in outs:
        assert np.isfinite(o).all()
        assert 1e-3 <= float(np.std(o)) <= 1e3


def test_bert_attention_mask_and_batch():
    m = zoo.build("bert", batch=2, attention_mask=True, **TINY_BERT)
    assert [i.name for i in m.graph.input] == ["input_ids", "attention_mask"]
    (out,) = _run(m, vocab=1000)
    assert out.shape == (2, 16, 128) and np.isfinite(out).all()


def test_batch_argument():
    m = zoo.build("resnet18", batch=2, weights="light")
    assert dims(m.graph.input[0]) == [2, 3, 224, 224] and dims(m.graph.output[0]) == [2, 1000]


# --------------------------------------------------------------------------- errors
def test_unknown_name():
    with pytest.raises(NpusimError, match=r"unknown zoo model 'alexnet'; available: bert, bert-large"):
        zoo.build("alexnet")
    with pytest.raises(NpusimError, match="alexnet"):
        zoo.describe("alexnet")


@pytest.mark.parametrize(
    "name, kw, match",
    [("resnet18", {"layers": 3}, "'layers'"), ("bert", {"hiden": 3}, "'hiden'"),
     ("bert", {"hidden": 100, "heads": 3}, "divisible"), ("yolo", {"size": 100}, "multiple of 32"),
     ("unet", {"base": 0}, "base"), ("bert", {"layers": 2.5}, "layers"),
     ("vit", {"layers": True}, "layers"), ("bert", {"attention_mask": 1}, "attention_mask")],
)
def test_bad_overrides(name, kw, match):
    with pytest.raises(NpusimError, match=match):
        zoo.build(name, weights="light", **kw)


def test_bad_weights_and_batch():
    with pytest.raises(NpusimError, match="weights"):
        zoo.build("resnet18", weights="pretrained")
    with pytest.raises(NpusimError, match="batch"):
        zoo.build("resnet18", batch=0)
