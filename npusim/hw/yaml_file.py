"""Read a YAML file someone handed us: safe loader only, size-, depth- and alias-limited, UTF-8.

No tag constructs a Python object, and a "billion laughs" file is refused before it expands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from npusim.errors import NpusimError

MAX_BYTES = 1 << 20     # a chip profile or sweep spec is a few KiB
MAX_ALIASES = 64        # anchors reused this often are an attack, not a profile
MAX_DEPTH = 64          # nesting deeper than this would only exhaust the stack


class _LimitedLoader(yaml.SafeLoader):
    """The safe loader, counting alias references and nesting while it composes the tree."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.aliases = 0
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _Refused(f"uses more than {MAX_ALIASES} alias references (*name); "
                               "write the values out")
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _Refused(f"nests deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        # PyYAML keeps the last of two equal keys silently; a profile must not hide a value
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value != "<<":
                if key_node.value in seen:
                    raise _Refused(f"names '{key_node.value}' twice in one mapping (line "
                                   f"{key_node.start_mark.line + 1})")
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


class _Refused(Exception):
    pass


def read_yaml(path: Path, where: str, error: type[NpusimError] = NpusimError) -> Any:
    """The document in `path`; `where` names the file in every error ("profile 'x.yaml'"),
    raised as `error`."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise error(f"{where} could not be read: {e.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise error(f"{where} is larger than {MAX_BYTES >> 20} MiB; a profile or sweep "
                          "spec is a small text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{where} is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset "
                          f"{e.start}); is it a binary file?") from None
    if "\x00" in text:
        raise error(f"{where} is not a text file (it contains NUL bytes)")
    loader = None
    try:
        loader = _LimitedLoader(text)   # the reader refuses control characters right here
        return loader.get_single_data()
    except _Refused as e:
        raise error(f"{where} {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise error(f"{where} is not valid YAML{at}: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()
