"""Refuse broken or hostile ONNX graphs early, each with a line naming the tensor or node.

Runs on the graph before onnx.checker, shape inference or any folding: empty graphs, outputs
nothing produces, two producers of one tensor, weights whose bytes do not fit their dims.
"""

from __future__ import annotations

import math

import onnx

from npusim.errors import ModelLoadError

INT64_MAX = 2**63 - 1
_STRING = onnx.TensorProto.STRING


def check_graph(graph: onnx.GraphProto, where: str) -> None:
    if not graph.node:
        raise ModelLoadError(f"{where}: the graph has no nodes (nothing to simulate)")
    _check_text(graph, where)
    produced: dict[str, str] = {}
    for t in graph.initializer:
        produced[t.name] = f"initializer '{t.name}'"
    for vi in graph.input:
        _check_value_info(vi, "graph input", where)
        produced.setdefault(vi.name, f"graph input '{vi.name}'")
    for i, node in enumerate(graph.node):
        label = f"{node.op_type} node '{node.name or f'#{i}'}'"
        for out in node.output:
            if not out:
                continue
            if out in produced:
                raise ModelLoadError(f"{where}: tensor '{out}' is produced twice, by "
                                     f"{produced[out]} and by {label}")
            produced[out] = label
    for vi in graph.output:
        _check_value_info(vi, "graph output", where)
        if vi.name not in produced:
            raise ModelLoadError(f"{where}: graph output '{vi.name}' is produced by no node, "
                                 "input or initializer")


def _check_text(graph: onnx.GraphProto, where: str) -> None:
    """ONNX strings must be UTF-8; protobuf hands back bytes for one that is not (proto2
    does not check), which no later stage expects: refuse it by where it is."""
    def bad(value) -> bool:
        return isinstance(value, bytes)

    for kind, items in (("graph input", graph.input), ("graph output", graph.output),
                        ("value_info", graph.value_info), ("initializer", graph.initializer)):
        for item in items:
            if bad(item.name):
                raise ModelLoadError(f"{where}: a {kind} name is not UTF-8 text: "
                                     f"{item.name!r}")
    for i, node in enumerate(graph.node):
        label = node.name if not bad(node.name) else None
        if label is None:
            raise ModelLoadError(f"{where}: the name of node #{i} ({node.op_type}) is not "
                                 f"UTF-8 text: {node.name!r}")
        for name in (*node.input, *node.output, node.op_type, node.domain):
            if bad(name):
                raise ModelLoadError(f"{where}: node '{label}' names a tensor or op that is "
                                     f"not UTF-8 text: {name!r}")
        for attr in node.attribute:
            if bad(attr.name) or (attr.type == onnx.AttributeProto.STRING and attr.s
                                  and _not_utf8(attr.s)):
                raise ModelLoadError(f"{where}: attribute {attr.name!r} of node '{label}' "
                                     "is not UTF-8 text")


def _not_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def check_initializer(t: onnx.TensorProto, raw_bytes: int | None, where: str) -> None:
    """`raw_bytes`: length of its raw data wherever it lies (None: typed fields or external)."""
    what = f"{where}: initializer '{t.name}'"
    check_dims(list(t.dims), what)
    if t.data_type == _STRING:
        raise ModelLoadError(f"{what} is a string tensor; npusim prices numeric tensors only")
    if t.data_type == onnx.TensorProto.UNDEFINED:
        raise ModelLoadError(f"{what} has no element type")
    if t.data_type not in onnx.TensorProto.DataType.values():
        raise ModelLoadError(f"{what} has an unknown element type {t.data_type}")
    if t.data_location == onnx.TensorProto.EXTERNAL:
        return
    from npusim.frontend.weights import expected_bytes
    if raw_bytes is not None and raw_bytes > 0:
        need = expected_bytes(t)
        if raw_bytes != need:
            raise ModelLoadError(f"{what} holds {raw_bytes} bytes, but dims {list(t.dims)} of "
                                 f"{onnx.TensorProto.DataType.Name(t.data_type)} need {need}")
        return
    count = _typed_count(t)
    numel = math.prod(t.dims)
    if count is not None and count != numel and not (count == 0 and numel == 0):
        raise ModelLoadError(f"{what} holds {count} values, but dims {list(t.dims)} need "
                             f"{numel}")


def check_dims(dims: list[int], what: str) -> None:
    if any(d < 0 for d in dims):
        raise ModelLoadError(f"{what} has a negative dim: {dims}")
    if math.prod(dims) > INT64_MAX:
        raise ModelLoadError(f"{what} has dims {dims} whose product overflows int64")


def _check_value_info(vi: onnx.ValueInfoProto, kind: str, where: str) -> None:
    tt = vi.type.tensor_type
    if vi.type.HasField("tensor_type") and tt.elem_type == _STRING:
        raise ModelLoadError(f"{where}: {kind} '{vi.name}' is a string tensor; npusim prices "
                             "numeric tensors only")
    if tt.HasField("shape"):
        dims = [d.dim_value for d in tt.shape.dim if d.HasField("dim_value")]
        if any(d < 0 for d in dims) and not all(d == -1 for d in dims if d < 0):
            raise ModelLoadError(f"{where}: {kind} '{vi.name}' has a negative dim: {dims}")
        check_dims([d for d in dims if d >= 0], f"{where}: {kind} '{vi.name}'")


def _typed_count(t: onnx.TensorProto) -> int | None:
    complex_ = t.data_type in (onnx.TensorProto.COMPLEX64, onnx.TensorProto.COMPLEX128)
    for field in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data"):
        n = len(getattr(t, field))
        if n:
            if t.data_type in (onnx.TensorProto.INT4, onnx.TensorProto.UINT4):
                return None  # packed two per int32 entry
            return n // 2 if complex_ else n
    return 0
