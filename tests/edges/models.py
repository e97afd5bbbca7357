"""Small valid and broken ONNX models for the hostile-input corpus, built in code.

Each broken model breaks one rule a downloaded file can break (a cycle, a bad initializer, ...).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tests.conftest import make_model, vi

DATA = Path(__file__).parent.parent / "data"


def tiny_cnn() -> onnx.ModelProto:
    """Conv -> Relu -> Add(skip) on 1x4x16x16: valid, and fast to simulate."""
    w = numpy_helper.from_array(np.full((4, 4, 3, 3), 0.01, np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Add", ["r", "x"], ["y"], name="add")]
    return make_model(nodes, [vi("x", [1, 4, 16, 16])], [vi("y", [1, 4, 16, 16])], [w])


def save(model: onnx.ModelProto, path: Path) -> str:
    """Serialize without onnx.checker: broken models must reach npusim as they are."""
    path.write_bytes(model.SerializeToString())
    return str(path)


def no_nodes() -> onnx.ModelProto:
    return make_model([], [vi("x", [1, 4])], [vi("x", [1, 4])])


def dangling_output() -> onnx.ModelProto:
    m = tiny_cnn()
    m.graph.output.append(vi("nobody_makes_this", [1, 4, 16, 16]))
    return m


def duplicate_producer() -> onnx.ModelProto:
    m = tiny_cnn()
    m.graph.node.append(helper.make_node("Relu", ["x"], ["r"], name="relu_again"))
    return m


def cycle() -> onnx.ModelProto:
    nodes = [helper.make_node("Relu", ["b"], ["a"], name="n1"),
             helper.make_node("Relu", ["a"], ["b"], name="n2"),
             helper.make_node("Add", ["a", "x"], ["y"], name="n3")]
    return make_model(nodes, [vi("x", [1, 4])], [vi("y", [1, 4])])


def unknown_op() -> onnx.ModelProto:
    nodes = [helper.make_node("FrobnicateNonexistent", ["x"], ["y"], name="odd")]
    return make_model(nodes, [vi("x", [1, 4])], [vi("y", [1, 4])])


def custom_domain_op() -> onnx.ModelProto:
    nodes = [helper.make_node("Secret", ["x"], ["y"], name="vendor", domain="com.vendor")]
    m = make_model(nodes, [vi("x", [1, 4])], [vi("y", [1, 4])])
    m.opset_import.append(helper.make_opsetid("com.vendor", 1))
    return m


def short_initializer() -> onnx.ModelProto:
    """A weight whose raw bytes are fewer than its shape needs."""
    m = tiny_cnn()
    w = m.graph.initializer[0]
    w.raw_data = w.raw_data[:10]
    return m


def overflowing_dims() -> onnx.ModelProto:
    big = 2**40
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    return make_model(nodes, [vi("x", [big, big, big])], [vi("y", [big, big, big])])


def negative_dims() -> onnx.ModelProto:
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    return make_model(nodes, [vi("x", [1, -4, 8])], [vi("y", [1, -4, 8])])


def string_input() -> onnx.ModelProto:
    nodes = [helper.make_node("Identity", ["x"], ["y"], name="id")]
    return make_model(nodes, [vi("x", [1, 4], TensorProto.STRING)],
                      [vi("y", [1, 4], TensorProto.STRING)])


def dynamic_input() -> onnx.ModelProto:
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    return make_model(nodes, [vi("x", ["batch", 4])], [vi("y", ["batch", 4])])


def future_opset() -> onnx.ModelProto:
    m = tiny_cnn()
    m.opset_import[0].version = 99
    return m


def external_data(folder: Path, location: str) -> str:
    """tiny_cnn with its weight stored externally at `location` (relative to `folder`)."""
    m = tiny_cnn()
    w = m.graph.initializer[0]
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "576")):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    return save(m, folder / "ext.onnx")


def external_data_past_end(folder: Path) -> str:
    """External weight whose offset + length run past the end of its data file."""
    (folder / "w.bin").write_bytes(b"\0" * 100)
    m = tiny_cnn()
    w = m.graph.initializer[0]
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "w.bin"), ("offset", "64"), ("length", "576")):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    return save(m, folder / "ext_short.onnx")


def invalid_utf8_name() -> bytes:
    """tiny_cnn whose node name 'relu' has a byte that is not UTF-8 (protobuf strings must be)."""
    data = tiny_cnn().SerializeToString()
    assert data.count(b"relu") >= 1
    return data.replace(b"relu", b"rel\xe5", 1)


def invalid_utf8_attribute() -> onnx.ModelProto:
    """tiny_cnn whose Conv has auto_pad set to bytes that are not UTF-8."""
    model = tiny_cnn()
    conv = model.graph.node[0]
    attr = helper.make_attribute("auto_pad", "NOTSET")
    attr.s = b"\xceOTSET"
    del conv.attribute[:]
    conv.attribute.append(attr)
    return model


def long_initializer() -> onnx.ModelProto:
    """A weight whose raw bytes are more than its shape holds (onnx.checker lets it pass)."""
    m = tiny_cnn()
    m.graph.initializer[0].raw_data += b"\0" * 64
    return m
