"""The pipeline spec: which models run on which units of one chip, fed by which sources.

A YAML file (read with the hardened loader of `npusim.hw.yaml_file`) validated by pydantic;
errors name the file and the key (`models[bev].after`). Paths in it (the chip, ONNX models)
are resolved relative to the spec file; nothing else is read.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationError
from pydantic import field_validator, model_validator

from npusim.errors import NpusimError
from npusim.hw.yaml_file import read_yaml
from npusim.ir.dtypes import Precision

ZOO = "zoo:"
AUTO = "auto"


class PipelineError(NpusimError):
    """A pipeline spec that cannot be run as written."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelEntry(_Frozen):
    """One model of the pipeline, bound to a unit (or several: replicas)."""

    name: str = Field(min_length=1, description="unique name; other entries' `after` use it")
    model: str = Field(min_length=1, description="zoo:NAME or an ONNX path relative to the "
                       "spec file")
    zoo_options: dict[str, int | float | str | bool] = Field(
        default_factory=dict, description="zoo builder overrides, e.g. {size: 512}")
    shapes: str | None = Field(default=None, description="--shapes of one item (batch 1); "
                               "ONNX models with a dynamic batch get dim 0 scaled by `batch`")
    precision: Precision = Field(default=Precision.INT8,
                                 description="default precision of the model")
    precisions: dict[str, Precision] = Field(default_factory=dict,
                                             description="node name -> precision")
    fusion: Literal["none", "rules", "greedy", "dp"] = "dp"
    unit: str | list[str] = Field(default=AUTO, description="unit or unit instance (gpu, "
                                  "dla0, bpu1, cpu), `auto`, or a list: one replica on each")
    replicas: PositiveInt | None = Field(default=None, description="copies of the model on "
                                         "distinct units; with a list, its length")
    dispatch: Literal["round-robin", "first-free"] = Field(
        default="round-robin", description="replicas: runs dealt in turn, or each to the "
        "first unit that is free")
    streams: PositiveInt = Field(default=1, description="items per frame (6 cameras: 6)")
    batch: PositiveInt | Literal["auto"] = Field(
        default=1, description="items per run: streams 6, batch 6 is one run per frame; "
        "batch 1 is six; `auto` lets --search choose")
    rate_hz: PositiveFloat | None = Field(default=None, description="frames per second of "
                                          "this source; omitted with no `after`: all frames "
                                          "wait at t=0 (back-to-back, MLPerf Offline)")
    after: list[str] = Field(default_factory=list, description="entries whose frame k this "
                             "entry's frame k needs")
    handoff: Literal["auto", "none"] = Field(
        default="auto", description="auto: an upstream output on another unit is copied "
        "(read + write of this model's inputs through DRAM, plus the unit's handoff_us)")

    @field_validator("unit")
    @classmethod
    def _units(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list):
            if not v:
                raise ValueError("give at least one unit")
            if len(set(v)) != len(v):
                raise ValueError(f"names a unit twice: {v}")
            if AUTO in v:
                raise ValueError("`auto` stands alone, not in a list")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ModelEntry:
        if self.rate_hz is not None and self.after:
            raise ValueError("give `rate_hz` (a source) or `after` (a consumer), not both")
        if isinstance(self.unit, list) and self.replicas not in (None, len(self.unit)):
            raise ValueError(f"replicas {self.replicas} but {len(self.unit)} units listed")
        if isinstance(self.batch, int) and self.streams % self.batch and \
                self.batch % self.streams:
            raise ValueError(f"batch {self.batch} must divide streams {self.streams} or be a "
                             "multiple of it")
        return self

    @property
    def replica_count(self) -> int:
        return len(self.unit) if isinstance(self.unit, list) else (self.replicas or 1)

    @property
    def is_source(self) -> bool:
        return not self.after


class PipelineSpec(_Frozen):
    """A pipeline: the chip, the models and how frames flow between them."""

    chip: str = Field(min_length=1, description="bundled whole-SoC profile (orin-agx, j5) or "
                      "a YAML path relative to the spec")
    description: str = ""
    frames: PositiveInt = Field(default=30, description="frames simulated (--frames "
                                "overrides)")
    models: list[ModelEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _graph(self) -> PipelineSpec:
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"model names repeat: {names}")
        for m in self.models:
            for up in m.after:
                if up not in names:
                    close = difflib.get_close_matches(up, names, n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    raise ValueError(f"'{m.name}' is after unknown entry '{up}'{hint}")
        _topological(self.models)
        return self

    def entry(self, name: str) -> ModelEntry:
        return next(m for m in self.models if m.name == name)

    @property
    def order(self) -> tuple[ModelEntry, ...]:
        """Entries upstream first (stable: spec order among equals)."""
        return _topological(self.models)

    @property
    def sinks(self) -> tuple[ModelEntry, ...]:
        used = {up for m in self.models for up in m.after}
        return tuple(m for m in self.models if m.name not in used)


def _topological(models: list[ModelEntry]) -> tuple[ModelEntry, ...]:
    done: list[ModelEntry] = []
    left = list(models)
    while left:
        ready = [m for m in left if all(up in {d.name for d in done} for up in m.after)]
        if not ready:
            raise ValueError(f"`after` forms a cycle among {[m.name for m in left]}")
        done.append(ready[0])
        left.remove(ready[0])
    return tuple(done)


def load_spec(path: str | Path) -> tuple[PipelineSpec, Path]:
    """The validated spec and the folder its relative paths start from."""
    p = Path(path)
    where = f"pipeline '{path}'"
    if not p.is_file():
        raise PipelineError(f"{where} does not exist or is not a file")
    data = read_yaml(p, where, PipelineError)
    if not isinstance(data, dict):
        raise PipelineError(f"{where} must be a YAML mapping (chip:, models:)")
    try:
        spec = PipelineSpec.model_validate(data)
    except ValidationError as e:
        raise PipelineError(f"{where}: {_describe(e, data)}") from None
    return spec, p.resolve().parent


def model_ref(entry: ModelEntry, root: Path) -> str:
    """`zoo:NAME`, or the ONNX path the entry names, relative to the spec's folder."""
    if entry.model.startswith(ZOO):
        return entry.model
    path = Path(entry.model)
    full = path if path.is_absolute() else root / path
    if not full.is_file():
        raise PipelineError(f"models[{entry.name}].model: no file '{entry.model}' (paths are "
                            "relative to the spec file)")
    return str(full)


def chip_ref(spec: PipelineSpec, root: Path) -> str:
    """A bundled profile name, or the profile path relative to the spec's folder."""
    from npusim.hw import bundled_profiles
    if spec.chip in bundled_profiles():
        return spec.chip
    full = Path(spec.chip) if Path(spec.chip).is_absolute() else root / spec.chip
    if not full.is_file():
        raise PipelineError(f"chip: '{spec.chip}' is neither a bundled profile "
                            f"({', '.join(bundled_profiles())}) nor a file beside the spec")
    return str(full)


def spec_schema() -> dict[str, Any]:
    """JSON Schema of a pipeline spec, for editors that validate YAML."""
    return PipelineSpec.model_json_schema()


def _describe(err: ValidationError, data: dict) -> str:
    """The first error as `models[name].key: what is wrong`."""
    errors = err.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    parts: list[str] = []
    node: Any = data
    for key in first["loc"]:
        if isinstance(key, int) and isinstance(node, list):
            node = node[key] if key < len(node) else None
            label = node.get("name") if isinstance(node, dict) else None
            parts.append(f"[{label or key}]")
        elif isinstance(node, dict) or not parts or not isinstance(key, int):
            if key in ("str", "list[str]", "int", "literal['auto']"):
                continue  # pydantic's union branch names, not the user's keys
            parts.append(f".{key}" if parts else str(key))
            node = node.get(key) if isinstance(node, dict) else None
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        known = sorted(ModelEntry.model_fields if "models" in first["loc"][:1]
                       else PipelineSpec.model_fields)
        close = difflib.get_close_matches(str(first["loc"][-1]), known, n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        msg = f"unknown key{hint}; keys here are: {', '.join(known)}"
    path = "".join(parts)
    return f"{path}: {msg}" if path else msg
