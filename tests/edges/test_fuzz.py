"""Fuzzers: byte flips and truncations of valid ONNX files, and field deletions and hostile
values in a valid profile. Whatever the mutation, npusim either runs (finite figures) or
prints one `npusim: error:` line with exit 2; any other exception escapes and fails here."""

from __future__ import annotations

import contextlib
import copy
import io
import math
import re

import onnx
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from npusim import cli
from npusim.hw import profiles_dir
from tests.edges import models as m
from tests.edges.contract import check_error_text, time_limit

FUZZ = settings(derandomize=True, database=None, deadline=5000, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow])
NOT_FINITE = re.compile(r"\b(nan|inf)\b", re.IGNORECASE)


def run_contract(argv: list[str]) -> int:
    """cli.main on argv: exit 0 with finite numbers, or exit 2 with one error line."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), time_limit(20):
        code = cli.main(argv)   # anything but NpusimError propagates: a bug the fuzzer found
    assert code in (0, 2), (code, err.getvalue())
    event(f"exit {code}")
    if code == 2:
        check_error_text(err.getvalue())
    else:
        assert not NOT_FINITE.search(out.getvalue()), out.getvalue()
    return code


# -- ONNX protobufs ----------------------------------------------------------------------------

TINY_BYTES = m.tiny_cnn().SerializeToString()
CNN_BYTES = (m.DATA / "small_cnn_dynamo.onnx").read_bytes()

# The fuzzer found two gaps in the ONNX frontend, both closed since: text that is not UTF-8
# in a protobuf string field or a string attribute, and an initializer whose raw bytes do not
# match its shape (the corpus keeps a case of each). Every mutated model must now meet the
# contract: one line, exit 2, or a clean run.
KNOWN_FRONTEND_GAPS = False


def run_model_contract(path) -> None:
    try:
        run_contract(["simulate", str(path), "--chip", "j5", "-q"])
    except Exception:
        if not (KNOWN_FRONTEND_GAPS and has_known_gap(path.read_bytes())):
            raise
        event("known frontend gap")


def has_known_gap(data: bytes) -> bool:
    """Whether the model parses and has a gap listed above."""
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception:
        return False
    return _bad_strings(proto) or any(_bad_raw_data(t) for t in proto.graph.initializer)


def _bad_raw_data(tensor) -> bool:
    if not tensor.HasField("raw_data"):
        return False
    try:
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except Exception:
        return True
    return len(tensor.raw_data) != math.prod(tensor.dims) * itemsize


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _bad_strings(message) -> bool:
    for field, value in message.ListFields():
        single = isinstance(value, str | bytes | int | float) or hasattr(value, "ListFields")
        values = [value] if single else value
        for v in values:
            if field.type == field.TYPE_STRING and isinstance(v, bytes):
                return True
            if field.name in ("s", "strings") and isinstance(message, onnx.AttributeProto) \
                    and not _utf8(v):
                return True
            if field.type == field.TYPE_MESSAGE and _bad_strings(v):
                return True
    return False


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """`data` with up to 8 bytes XOR-ed with a random mask, then perhaps cut short."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, len(out) - 1))
        out[i] ^= draw(st.integers(1, 255))
    if draw(st.booleans()):
        out = out[:draw(st.integers(0, len(out)))]
    return bytes(out)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@settings(FUZZ, max_examples=120)
@given(data=mutated(TINY_BYTES))
def test_mutated_tiny_model(folder, data):
    path = folder / "mutated.onnx"
    path.write_bytes(data)
    run_model_contract(path)


@settings(FUZZ, max_examples=150)
@given(data=mutated(CNN_BYTES))
def test_mutated_exported_cnn(folder, data):
    path = folder / "mutated_cnn.onnx"
    path.write_bytes(data)
    run_model_contract(path)


# -- profile YAML ------------------------------------------------------------------------------

J5 = yaml.safe_load((profiles_dir() / "j5.yaml").read_text())
HOSTILE = [0, -1, 0.5, math.nan, math.inf, -math.inf, 1e300, 10**30, 2**63, "x", "", None, [],
           {}, True, [1, 2], {"value": 1}, {"value": -1, "source": "s"},
           {"value": math.nan, "estimated": "e"}, {"value": 0, "estimated": "e"}]


def _paths(node, prefix=()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


PATHS = _paths(J5)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)   # libyaml when present: faster


def _mutate(doc, path: tuple, value, delete: bool):
    node = doc
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value


@st.composite
def mutated_profiles(draw) -> str:
    doc = copy.deepcopy(J5)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        try:
            _mutate(doc, path, draw(st.sampled_from(HOSTILE)), draw(st.booleans()))
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed or replaced what this path went through
    return yaml.dump(doc, Dumper=_DUMPER)


@settings(FUZZ, max_examples=120)
@given(text=mutated_profiles())
def test_mutated_profile(folder, text):
    chip = folder / "chip.yaml"
    chip.write_text(text)
    model = folder / "tiny.onnx"
    if not model.exists():
        model.write_bytes(TINY_BYTES)
    run_contract(["simulate", str(model), "--chip", str(chip), "-q"])


@settings(FUZZ, max_examples=100)
@given(data=mutated((profiles_dir() / "j5.yaml").read_bytes()))
def test_profile_bytes_flipped(folder, data):
    chip = folder / "flipped.yaml"
    chip.write_bytes(data)
    run_contract(["chips", "show", str(chip)])
