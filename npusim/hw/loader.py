"""Load chip profiles: bundled names or user YAML files, with `extends:` for variants.

A profile may start with `extends: NAME_OR_PATH`; it is deep-merged over that base: mappings
merge key by key, lists of named items (compute units, memory levels) merge by `name`, and
everything else, figures included, replaces. Validation errors name the file and the field.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from npusim.errors import ProfileError
from npusim.hw.schema import Chip


def profiles_dir() -> Path:
    """The bundled profiles: `npusim/hw_profiles`, a link to the repo's `hw_profiles/` that
    the wheel turns into package data."""
    return Path(__file__).parent.parent / "hw_profiles"


def bundled_profiles() -> dict[str, Path]:
    return {p.stem: p for p in sorted(profiles_dir().glob("*.yaml"))}


def load_chip(chip: str | os.PathLike | Chip) -> Chip:
    """A bundled profile by name (`j5`), or the path of a YAML file."""
    if isinstance(chip, Chip):
        return chip
    data, where = _resolve(str(chip), Path.cwd(), seen=())
    try:
        return Chip.model_validate(data)
    except ValidationError as e:
        raise ProfileError(f"profile {where}: {_describe(e, data)}") from None


def chip_schema() -> dict[str, Any]:
    """JSON Schema of a profile, for editors that validate YAML."""
    schema = Chip.model_json_schema()
    schema["properties"]["extends"] = {
        "type": "string", "description": "bundled profile name or path this one modifies"}
    return schema


def _resolve(ref: str, base_dir: Path, seen: tuple[str, ...]) -> tuple[dict, str]:
    path = _find(ref, base_dir)
    where = f"'{path}'" if ref not in bundled_profiles() else f"'{ref}'"
    key = str(path.resolve())
    if key in seen:
        raise ProfileError(f"profile {where}: 'extends' loops back to itself")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ProfileError(f"profile {where} is not valid YAML{at}: "
                           f"{getattr(e, 'problem', e)}") from None
    except OSError as e:
        raise ProfileError(f"profile {where} could not be read: {e.strerror}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"profile {where} must be a YAML mapping of fields")
    parent = data.pop("extends", None)
    if parent is None:
        return data, where
    if not isinstance(parent, str):
        raise ProfileError(f"profile {where}: 'extends' must be a profile name or path")
    base, _ = _resolve(parent, path.parent, (*seen, key))
    return _merge(base, data), where


def _find(ref: str, base_dir: Path) -> Path:
    bundled = bundled_profiles()
    if ref in bundled:
        return bundled[ref]
    for candidate in (Path(ref), base_dir / ref):
        if candidate.is_file():
            return candidate
    if ref.endswith((".yaml", ".yml")) or os.sep in ref:
        raise ProfileError(f"profile file '{ref}' does not exist")
    names = ", ".join(bundled)
    raise ProfileError(f"unknown chip '{ref}': bundled profiles are {names}, or give the path "
                       "of a YAML profile")


def _merge(base: Any, over: Any) -> Any:
    # A figure ({value, source|estimated}) is replaced whole: a new value must never keep
    # the old value's source.
    if isinstance(base, dict) and isinstance(over, dict) and "value" not in over:
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base[k], v) if k in base else v
        return out
    if _named_list(base) and _named_list(over):
        out = list(base)
        index = {item["name"]: i for i, item in enumerate(out)}
        for item in over:
            if item["name"] in index:
                out[index[item["name"]]] = _merge(out[index[item["name"]]], item)
            else:
                out.append(item)
        return out
    return over


def _named_list(x: Any) -> bool:
    return isinstance(x, list) and bool(x) and all(isinstance(i, dict) and "name" in i for i in x)


def _describe(err: ValidationError, data: dict) -> str:
    """The first validation error as `field.path: what is wrong`, with a hint where we can."""
    first = err.errors()[0]
    path, node = _path(first["loc"], data)
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        field = str(first["loc"][-1])
        known = _known_fields(first["loc"][:-1])
        close = difflib.get_close_matches(field, known, n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        msg = f"unknown field{hint}; fields here are: {', '.join(known)}"
    elif first["type"] == "model_type" and isinstance(node, int | float):
        msg = ("a number needs its provenance: write {value: N, source: '...'} or "
               "{value: N, estimated: 'why'}")
    more = len(err.errors()) - 1
    tail = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    return f"{path}: {msg}{tail}"


def _path(loc: tuple, data: Any) -> tuple[str, Any]:
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(key, int) and isinstance(node, list):
            node = node[key] if key < len(node) else None
            label = node.get("name") if isinstance(node, dict) else None
            parts.append(f"[{label or key}]")
        else:
            parts.append(f".{key}" if parts else str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return "".join(parts), node


def _known_fields(loc: tuple) -> list[str]:
    model: type[BaseModel] | None = Chip
    for key in loc:
        if model is None or isinstance(key, int):
            continue
        field = model.model_fields.get(str(key))
        model = _inner_model(field.annotation) if field else None
    return sorted(model.model_fields) if model else []


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
