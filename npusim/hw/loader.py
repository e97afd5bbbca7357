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

from pydantic import BaseModel, ValidationError

from npusim.errors import ProfileError
from npusim.hw.schema import Chip
from npusim.hw.yaml_file import read_yaml


def profiles_dir() -> Path:
    """The bundled profiles: `npusim/hw_profiles`, a link to the repo's `hw_profiles/` that
    the wheel turns into package data."""
    return Path(__file__).parent.parent / "hw_profiles"


def bundled_profiles() -> dict[str, Path]:
    return {p.stem: p for p in sorted(profiles_dir().glob("*.yaml"))}


def load_chip(chip: str | os.PathLike | Chip) -> Chip:
    """A bundled profile by name (`j5`), or the path of a YAML file; `PROFILE@UNIT` is the
    single-model view of that profile bound to a unit or unit instance (`orin-agx@dla1`)."""
    if isinstance(chip, Chip):
        return chip
    ref, unit = _split_unit(str(chip))
    if unit is not None:
        from npusim.hw.units import select_unit
        return select_unit(load_chip(ref), unit)
    data, where = _resolve(ref, None, seen=(), roots=())
    try:
        return Chip.model_validate(data)
    except ValidationError as e:
        raise ProfileError(f"profile {where}: {_describe(e, data)}") from None


def _split_unit(ref: str) -> tuple[str, str | None]:
    """`orin-agx@dla1` -> ("orin-agx", "dla1"); a name or existing file is kept whole."""
    base, at, unit = ref.rpartition("@")
    if not at or ref in bundled_profiles() or Path(ref).is_file():
        return ref, None
    if not unit or not base:
        raise ProfileError(f"chip '{ref}': write PROFILE@UNIT, e.g. orin-agx@dla1")
    return base, unit


def chip_schema() -> dict[str, Any]:
    """JSON Schema of a profile, for editors that validate YAML."""
    schema = Chip.model_json_schema()
    schema["properties"]["extends"] = {
        "type": "string", "description": "bundled profile name or path this one modifies"}
    return schema


def _resolve(ref: str, parent: Path | None, seen: tuple[str, ...],
             roots: tuple[Path, ...]) -> tuple[dict, str]:
    """The merged data of profile `ref`: named by the user (`parent` None) or by the
    `extends:` of the file `parent`, which may only reach into `roots`."""
    path = _find(ref) if parent is None else _find_base(ref, parent, roots)
    where = f"'{path}'" if ref not in bundled_profiles() else f"'{ref}'"
    key = str(path.resolve())
    if key in seen:
        raise ProfileError(f"profile {where}: 'extends' loops back to itself")
    data = read_yaml(path, f"profile {where}", ProfileError)
    if not isinstance(data, dict):
        raise ProfileError(f"profile {where} must be a YAML mapping of fields")
    base_ref = data.pop("extends", None)
    if base_ref is None:
        return data, where
    if not isinstance(base_ref, str) or not base_ref.strip():
        raise ProfileError(f"profile {where}: 'extends' must be a profile name or path")
    # a user's profile may extend the bundled ones and files beside it, nothing else
    roots = roots or (profiles_dir().resolve(), path.resolve().parent)
    base, _ = _resolve(base_ref, path, (*seen, key), roots)
    return _merge(base, data), where


def _find(ref: str) -> Path:
    bundled = bundled_profiles()
    if not ref.strip():
        raise ProfileError(f"give a chip: a bundled profile ({', '.join(bundled)}) or the "
                           "path of a YAML profile")
    if ref in bundled:
        return bundled[ref]
    if Path(ref).is_file():
        return Path(ref)
    if Path(ref).is_dir():
        raise ProfileError(f"profile '{ref}' is a folder, not a YAML file")
    if ref.endswith((".yaml", ".yml")) or os.sep in ref:
        raise ProfileError(f"profile file '{ref}' does not exist")
    close = difflib.get_close_matches(ref, bundled, n=1, cutoff=0.5)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ProfileError(f"unknown chip '{ref}': bundled profiles are {', '.join(bundled)}, "
                       f"or give the path of a YAML profile{hint}")


def _find_base(ref: str, parent: Path, roots: tuple[Path, ...]) -> Path:
    """The file `extends: ref` in `parent` names: a bundled name, or a path relative to
    `parent`'s folder that stays inside `roots` (links followed)."""
    bundled = bundled_profiles()
    if ref in bundled:
        return bundled[ref]
    named = f"profile '{parent}': extends '{ref}'"
    if Path(ref).is_absolute():
        raise ProfileError(f"{named}: give a bundled name or a path relative to the file, "
                           "not an absolute path")
    candidate = parent.parent / ref
    real = candidate.resolve()
    if not any(real.is_relative_to(root) for root in roots):
        raise ProfileError(f"{named} leaves the folder of the profile; a profile may extend "
                           "only bundled profiles and files in its own folder")
    if not candidate.is_file():
        raise ProfileError(f"{named}: no such profile (bundled: {', '.join(bundled)})")
    return candidate


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
    errors = err.errors()
    # a misspelt field is both unknown and missing; the unknown one says what to fix
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = first["loc"]
    if loc and loc[-1] == "value":   # the figure is the field the user knows
        loc = loc[:-1]
    path, node = _path(loc, data)
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "finite_number":
        msg = f"must be a finite number, got {first['input']}"
    if first["type"] == "extra_forbidden":
        field = str(first["loc"][-1])
        known = _known_fields(first["loc"][:-1])
        close = difflib.get_close_matches(field, known, n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        msg = f"unknown field{hint}; fields here are: {', '.join(known)}"
    elif first["type"] == "model_type" and isinstance(node, int | float):
        msg = ("a number needs its provenance: write {value: N, source: '...'} or "
               "{value: N, estimated: 'why'}")
    more = len(errors) - 1
    tail = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    return f"{path}: {msg}{tail}" if path else f"{msg}{tail}"


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
