"""Dotted paths into a dumped chip profile (`memory.sram.capacity_bytes`, list items by name):
find the field a path names, with a did-you-mean when it names none, and set values there.
"""

from __future__ import annotations

import difflib
import re
import typing
from typing import Any

from pydantic import BaseModel

from npusim.errors import NpusimError
from npusim.hw import Chip
from npusim.hw.schema import Figure

OVERRIDE_REASON = "sweep override"

Value = bool | int | float | str

def canonical_path(path: str) -> str:
    """`compute_units[bpu].clock_MHz` (the `Chip.figures` form) -> `compute_units.bpu.clock_MHz`."""
    return re.sub(r"\[([^\]]*)\]", r".\1", path.strip()).strip(".")


def locate(chip: dict, path: str) -> tuple[dict | list, str | int]:
    """The container and key of `path` in a dumped chip; NpusimError naming the bad segment
    and what exists there when the path does not end at one field."""
    parts = canonical_path(path).split(".")
    node: Any = chip
    parent: dict | list | None = None
    key: str | int = ""
    for depth, part in enumerate(parts):
        here = ".".join(parts[:depth]) or "the profile"
        if isinstance(node, dict) and not _is_figure(node):
            if part not in node:
                raise NpusimError(f"override path '{path}': no '{part}' in {here}"
                                  f"{_did_you_mean(part, node)}; there: {', '.join(node)}")
            parent, key = node, part
        elif isinstance(node, list):
            parent, key = node, _list_index(node, part, path, here)
        else:
            raise NpusimError(f"override path '{path}': {here} is a single value, "
                              f"nothing is below it")
        node = parent[key]
    if isinstance(node, list) or (isinstance(node, dict) and not _is_figure(node)):
        inside = ", ".join(node) if isinstance(node, dict) else ", ".join(_labels(node))
        raise NpusimError(f"override path '{path}' ends at a group, not a value; "
                          f"continue with one of: {inside}")
    assert parent is not None
    return parent, key


def apply(chip: dict, overrides: typing.Iterable[tuple[str, Value]]) -> dict:
    """A copy of the dumped chip with each path set; a figure becomes
    `{value, estimated: "sweep override"}` (a swept number is not a datasheet figure)."""
    out = _deep_copy(chip)
    for path, value in overrides:
        parent, key = locate(out, path)
        current = parent[key]
        if _is_figure(current) or (current is None and _expects_figure(path)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise NpusimError(f"override path '{path}' is a number; got {value!r}")
            parent[key] = {"value": value, "source": None, "estimated": OVERRIDE_REASON}
        else:
            parent[key] = value
    return out


def figure_value(chip: dict, path: str) -> Value:
    """The value at `path` in a dumped chip (a figure's number)."""
    parent, key = locate(chip, path)
    current = parent[key]
    return current["value"] if _is_figure(current) else current


def _is_figure(node: Any) -> bool:
    return isinstance(node, dict) and "value" in node and set(node) <= {"value", "source",
                                                                        "estimated", "calibrated"}


def _list_index(items: list, part: str, path: str, here: str) -> int:
    labels = _labels(items)
    if part in labels:
        return labels.index(part)
    raise NpusimError(f"override path '{path}': {here} has no item '{part}'"
                      f"{_did_you_mean(part, labels)}; items there: "
                      f"{', '.join(labels) or 'none'}")


def _did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _labels(items: list) -> list[str]:
    # items are picked by their name; lists of unnamed items (layouts) by index
    return [str(i.get("name")) if isinstance(i, dict) and i.get("name") else str(n)
            for n, i in enumerate(items)]


def _expects_figure(path: str) -> bool:
    """Whether the schema types the (currently empty) field at `path` as a Figure."""
    annotation: Any = Chip
    for part in canonical_path(path).split("."):
        model = _inner(annotation, BaseModel)
        if model is not None:
            field = model.model_fields.get(part)
            if field is None:
                return False
            annotation = field.annotation
            continue
        args = typing.get_args(_strip_none(annotation))
        annotation = args[-1] if args else None   # list[X] -> X, dict[K, V] -> V
    return _inner(annotation, Figure) is not None


def _strip_none(annotation: Any) -> Any:
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, _UnionType) and len(args) == 1:
        return args[0]
    return annotation


_UnionType = type(int | None)


def _inner(annotation: Any, base: type) -> type | None:
    annotation = _strip_none(annotation)
    if isinstance(annotation, type) and issubclass(annotation, base):
        return annotation
    return None


def _deep_copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _deep_copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_deep_copy(v) for v in node]
    return node
