"""The precision map: the YAML file and --keep parsed and checked (errors name the file and
the key), and layer names resolved against the graph: node names, an original node merged
into another (conv+bn), fused-group names as the tables print them, close matches."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from npusim import api
from npusim.cli import main
from npusim.errors import NpusimError
from npusim.frontend import load_graph
from npusim.ir.layer_names import resolve_layers
from npusim.precision.map import dump_precision_map, load_precision_map, parse_keep
from tests.conftest import make_model, vi


@pytest.fixture()
def chain():
    """conv -> relu -> conv2 -> sigmoid, and a sibling relu_b of conv (for `||`)."""
    w = numpy_helper.from_array(np.ones((8, 8, 3, 3), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1] * 4),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Conv", ["r", "w"], ["c2"], name="conv2", pads=[1] * 4),
             helper.make_node("Sigmoid", ["c2"], ["y"], name="sigmoid")]
    return load_graph(make_model(nodes, [vi("x", [1, 8, 8, 8])], [vi("y", [1, 8, 8, 8])], [w]))


def test_file_round_trip(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(dump_precision_map({"b": "fp16", "a": "int16"}, model="m.onnx", chip="j5"))
    assert load_precision_map(path) == {"a": "int16", "b": "fp16"}


@pytest.mark.parametrize("text,match", [
    ("layers: {conv: int12}\n", r"m.yaml'.*layers\.conv: 'int12' is not a precision"),
    ("layers: {conv: int16}\nlayer: {}\n", r"m.yaml'.*layer: Extra inputs"),
    ("- conv\n", r"m.yaml'.*expected a mapping"),
    ("layers: {conv: int16, conv: fp16}\n", "names 'conv' twice"),
])
def test_bad_file_names_file_and_key(tmp_path, text, match):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(NpusimError, match=match):
        load_precision_map(path)


def test_keep_inline():
    assert parse_keep(["int16:a,b", "fp16:c"]) == {"a": "int16", "b": "int16", "c": "fp16"}
    with pytest.raises(NpusimError, match="'int7' is not a precision"):
        parse_keep(["int7:a"])
    with pytest.raises(NpusimError, match="PRECISION:LAYER"):
        parse_keep(["a,b"])
    with pytest.raises(NpusimError, match="both int16 and fp16"):
        parse_keep(["int16:a", "fp16:a"])


def test_group_names_mean_all_members(chain):
    got = resolve_layers(chain, {"conv+relu": "int16", "conv2+sigmoid": "fp16"}, "map")
    assert got == {"conv": "int16", "relu": "int16", "conv2": "fp16", "sigmoid": "fp16"}
    assert resolve_layers(chain, {"(conv+relu)||sigmoid": "int16"}, "map") == {
        "conv": "int16", "relu": "int16", "sigmoid": "int16"}


def test_merged_node_answers_to_its_original_name():
    graph = api.load("zoo:resnet18", zoo_weights="light")
    merged = "/conv1/Conv+/bn1/BatchNormalization"
    assert merged in {n.name for n in graph.nodes}
    assert resolve_layers(graph, {"/conv1/Conv": "int16"}, "map") == {merged: "int16"}
    # a group name of the table joins merged names with `+` too
    assert resolve_layers(graph, {f"{merged}+/relu/Relu": "fp16"}, "map") == {
        merged: "fp16", "/relu/Relu": "fp16"}


def test_unknown_name_lists_close_matches(chain):
    with pytest.raises(NpusimError, match=r"'conv3'.*close matches: conv"):
        resolve_layers(chain, {"conv3": "int16"}, "map")
    with pytest.raises(NpusimError, match="both int16 .* and fp16"):
        resolve_layers(chain, {"conv+relu": "int16", "relu": "fp16"}, "map")


def test_cli_unknown_layer_is_one_line_exit_2(tmp_path, capsys):
    path = tmp_path / "m.yaml"
    path.write_text("layers: {/conv1/Cnv: int16}\n")
    rc = main(["simulate", "zoo:resnet18", "--chip", "j5", "--precision-map", str(path), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "close matches: /conv1/Conv" in err
