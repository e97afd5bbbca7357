"""A sweep spec (YAML, validated) and its expansion into points: one validated chip each.

Overrides address the profile by dotted path (`memory.sram.capacity_bytes`, list items by name).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)

from npusim.errors import NpusimError
from npusim.fusion import STRATEGIES
from npusim.hw import Chip, bundled_profiles, load_chip
from npusim.hw.yaml_file import read_yaml
from npusim.ir import Precision
from npusim.sweep.paths import (OVERRIDE_REASON, Value, apply, canonical_path, figure_value,
                                locate)

__all__ = ["OVERRIDE_REASON", "MAX_POINTS", "ModelEntry", "Overrides", "Point", "SweepSpec",
           "apply", "canonical_path", "count_points", "expand", "figure_value", "load_spec",
           "locate"]

ZOO_PREFIX = "zoo:"
MAX_POINTS = 100_000   # more than this asks for --max-points: a typo in a grid is not a job


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelEntry(_Frozen):
    """A model to sweep, with the input shapes to bind (trtexec style) if it has dynamic dims."""

    model: str = Field(description="ONNX path (relative to the spec file) or zoo:NAME")
    shapes: str | None = Field(default=None, description="e.g. input:1x3x224x224")
    label: str | None = Field(default=None, description="name in the results (default: the "
                              "model as written in the spec, never a path of this machine)")


class Overrides(_Frozen):
    """Profile variants: a `grid` (cartesian product, last path fastest) or a list of `points`."""

    grid: dict[str, list[Value]] | None = None
    points: list[dict[str, Value]] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Overrides:
        if (self.grid is None) == (self.points is None):
            raise ValueError("give exactly one of 'grid' (path -> list of values) or 'points' "
                             "(list of {path: value})")
        if self.grid is not None:
            if not self.grid:
                raise ValueError("'grid' is empty: give at least one path and its values")
            empty = [p for p, values in self.grid.items() if not values]
            if empty:
                raise ValueError(f"grid path '{empty[0]}' has no values")
            seen: dict[str, str] = {}
            for p in self.grid:
                if seen.setdefault(canonical_path(p), p) != p:
                    raise ValueError(f"grid paths '{seen[canonical_path(p)]}' and '{p}' name "
                                     "the same field")
        if self.points is not None and not self.points:
            raise ValueError("'points' is empty: give at least one {path: value}")
        return self


class SweepSpec(_Frozen):
    """What to sweep: every model x override point x fusion strategy x precision."""

    base_chip: str = Field(description="bundled profile name or YAML path")
    models: list[str | ModelEntry] = Field(min_length=1)
    fusion: list[Literal["none", "rules", "greedy", "dp"]] = Field(default=["dp"], min_length=1)
    precision: list[Precision] = Field(default=[Precision("int8")], min_length=1)
    objective: str = Field(default="latency", description="latency, ddr or weighted:W")
    overrides: Overrides | None = None

    @field_validator("models", "fusion", "precision", mode="before")
    @classmethod
    def _one_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str | dict) else value

    @property
    def model_entries(self) -> tuple[ModelEntry, ...]:
        return tuple(m if isinstance(m, ModelEntry) else ModelEntry(model=m) for m in self.models)

    @property
    def override_paths(self) -> tuple[str, ...]:
        """Every overridden path, canonical form, in the order the spec first names them."""
        if self.overrides is None:
            return ()
        names = self.overrides.grid or {}
        if self.overrides.points is not None:
            names = {p: None for point in self.overrides.points for p in point}
        return tuple(dict.fromkeys(canonical_path(p) for p in names))


@dataclass(frozen=True, slots=True)
class Point:
    """One sweep point: everything its pure evaluation needs, and nothing else."""

    model: str
    shapes: str | None
    fusion: str
    precision: str
    objective: str
    overrides: tuple[tuple[str, Value], ...]   # (canonical path, value), one per swept path
    chip: dict[str, Any]                       # Chip.model_dump(mode="json"), validated
    label: str = ""                            # the model's name in the results


def load_spec(spec: SweepSpec | dict | str | Path) -> SweepSpec:
    """A validated spec from a YAML file, a dict, or a spec; relative paths in a file are
    taken from the file's folder."""
    if isinstance(spec, SweepSpec):
        return spec
    where, base_dir = "sweep spec", None
    if isinstance(spec, str | Path):
        path = Path(spec)
        where, base_dir = f"sweep spec '{path}'", path.parent
        if path.is_dir():
            raise NpusimError(f"{where} is a folder, not a YAML file")
        spec = read_yaml(path, where)
    if not isinstance(spec, dict):
        raise NpusimError(f"{where} must be a mapping with base_chip, models, fusion, "
                          "precision, overrides")
    try:
        parsed = SweepSpec.model_validate(spec)
    except ValidationError as e:
        raise NpusimError(f"{where}: {_describe(e)}") from None
    return _anchor(parsed, base_dir, where)


def count_points(spec: SweepSpec) -> int:
    """How many points `expand` gives, computed from the spec alone (nothing is built)."""
    if spec.overrides is None:
        variants = 1
    elif spec.overrides.grid is not None:
        variants = math.prod(len(v) for v in spec.overrides.grid.values())
    else:
        variants = len(spec.overrides.points or ())
    return len(spec.models) * variants * len(spec.fusion) * len(spec.precision)


def describe_count(spec: SweepSpec) -> str:
    """`2 models x 8 chip variants x 2 fusion x 1 precision = 32 points`."""
    variants = count_points(spec) // max(1, len(spec.models) * len(spec.fusion)
                                         * len(spec.precision))
    return (f"{len(spec.models)} model{'s' * (len(spec.models) != 1)} x {variants} chip "
            f"variant{'s' * (variants != 1)} x {len(spec.fusion)} fusion x "
            f"{len(spec.precision)} precision = {count_points(spec)} points")


def expand(spec: SweepSpec, max_points: int | None = MAX_POINTS) -> tuple[Point, ...]:
    """Every point of the sweep in enumeration order: model, override point, fusion,
    precision (last fastest). The count, paths and values are checked here, before anything
    runs; more than `max_points` points (None: no limit) is refused."""
    n = count_points(spec)
    if max_points is not None and n > max_points:
        raise NpusimError(f"the sweep has {describe_count(spec)}, over the limit of "
                          f"{max_points}; shrink the grid or allow it with --max-points {n}")
    base = load_chip(spec.base_chip).model_dump(mode="json")
    paths = spec.override_paths
    for path in paths:
        locate(base, path)
    assignments = _assignments(spec, base)
    chips = [_apply_checked(base, a) for a in assignments]
    return tuple(
        Point(m.model, m.shapes, fusion, precision.value, spec.objective, a, chip,
              m.label or m.model)
        for m in spec.model_entries
        for a, chip in zip(assignments, chips)
        for fusion in spec.fusion
        for precision in spec.precision)


def _assignments(spec: SweepSpec, base: dict) -> list[tuple[tuple[str, Value], ...]]:
    paths = spec.override_paths
    if spec.overrides is None:
        return [()]
    if spec.overrides.grid is not None:
        axes = [[(canonical_path(p), v) for v in values]
                for p, values in spec.overrides.grid.items()]
        return [tuple(combo) for combo in itertools.product(*axes)]
    out = []
    for point in spec.overrides.points:
        given = {canonical_path(p): v for p, v in point.items()}
        # a path a point leaves alone keeps the base value, so every row has every column
        out.append(tuple((p, given[p] if p in given else figure_value(base, p)) for p in paths))
    return out


def _apply_checked(base: dict, assignment: tuple[tuple[str, Value], ...]) -> dict:
    chip = apply(base, assignment)
    try:
        Chip.model_validate(chip)
    except ValidationError as e:
        first = e.errors()[0]
        where = _chip_location(first["loc"], chip)
        what = ", ".join(f"{p}={v!r}" for p, v in assignment)
        raise NpusimError(f"sweep point {what} gives an invalid chip: {where}: "
                           f"{first['msg'].removeprefix('Value error, ')}"
                          ) from None
    return chip


def _anchor(spec: SweepSpec, base_dir: Path | None, where: str) -> SweepSpec:
    """Check models and chip exist, with file paths made absolute from the spec's folder."""
    chip = spec.base_chip
    if base_dir is not None and chip not in bundled_profiles() and (base_dir / chip).is_file():
        chip = str((base_dir / chip).resolve())
    models = []
    for m in spec.model_entries:
        name = m.model
        if name.startswith(ZOO_PREFIX):
            from npusim import zoo
            if name[len(ZOO_PREFIX):] not in zoo.names():
                raise NpusimError(f"{where}: models: unknown zoo model '{name}'; available: "
                                  f"{', '.join(zoo.names())}")
        else:
            candidates = [Path(name)] + ([base_dir / name] if base_dir is not None else [])
            found = next((c for c in reversed(candidates) if c.is_file()), None)
            if found is None:
                raise NpusimError(f"{where}: models: ONNX file '{name}' does not exist")
            name = str(found.resolve())
        models.append(ModelEntry(model=name, shapes=m.shapes, label=m.label or m.model))
    try:
        from npusim.fusion import objective_key
        objective_key(spec.objective)
    except NpusimError as e:
        raise NpusimError(f"{where}: objective: {e}") from None
    return spec.model_copy(update={"base_chip": chip, "models": models})


def _describe(err: ValidationError) -> str:
    errors = err.errors()
    # a model given as a mapping fails both union branches; the `str` branch says nothing useful
    first = next((e for e in errors if "str" not in e["loc"]), errors[0])
    loc = [k for k in first["loc"] if k not in _UNION_TAGS]
    where = "".join(f"['{k}']" if isinstance(k, str) and "." in k else
                    f"[{k}]" if isinstance(k, int) else f".{k}" for k in loc).lstrip(".")
    if first["type"] == "extra_forbidden":
        owner = {"overrides": Overrides, "models": ModelEntry}.get(loc[0], SweepSpec)
        owner = SweepSpec if len(loc) == 1 else owner
        msg = f"unknown key; keys here are: {', '.join(owner.model_fields)}"
    elif first["type"] == "literal_error" and loc[0] == "fusion":
        msg = f"unknown fusion strategy {first['input']!r}; use {', '.join(STRATEGIES)}"
    elif first["type"] == "enum" and loc[0] == "precision":
        msg = (f"unknown precision {first['input']!r}; use "
               f"{', '.join(p.value for p in Precision)}")
    elif loc[0] == "overrides" and first["type"] in _UNION_TYPE_ERRORS:
        msg = f"{first['input']!r} is not a number, true/false or text"
    else:
        msg = first["msg"].removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg


_UNION_TAGS = ("str", "int", "float", "bool", "ModelEntry")
_UNION_TYPE_ERRORS = ("bool_type", "int_type", "float_type", "string_type")


def _chip_location(loc: tuple, chip: dict) -> str:
    """A pydantic location in a dumped chip written as an override path (items by name)."""
    parts, node = [], chip
    for key in loc:
        node = node[key] if isinstance(node, dict | list) else None
        label = node.get("name") if isinstance(key, int) and isinstance(node, dict) else None
        parts.append(str(label or key))
    return ".".join(parts)
