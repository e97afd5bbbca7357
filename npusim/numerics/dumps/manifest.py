"""The manifest of a per-layer tensor dump (manifest.yaml / .yml / .json beside the tensors):
the layers in order, and for each its file, and for raw files dtype, shape, layout and
quantization. Validated with pydantic; a path may not leave the dump's folder."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)

from npusim.errors import NumericsError
from npusim.hw.yaml_file import read_yaml

MANIFEST_NAMES = ("manifest.yaml", "manifest.yml", "manifest.json")
DTYPES = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "float16", "float32",
          "float64")
Layout = Literal["NCHW", "NHWC"]


class LayerEntry(BaseModel):
    """One layer's tensor. `dtype` and `shape` are required for a raw .bin file (little-endian,
    C order) and checked against a .npy file's header when given. `scale` / `zero_point`
    dequantize an integer dump as (q - zero_point) * scale; lists are per channel along
    `axis` (an axis of the tensor as stored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    file: str = Field(min_length=1)
    node: str | None = None   # the layer that produced it; shown, never matched on
    dtype: Literal[DTYPES] | None = None  # type: ignore[valid-type]
    shape: tuple[int, ...] | None = None
    layout: Layout | None = None
    scale: float | tuple[float, ...] | None = None
    zero_point: int | tuple[int, ...] = 0
    axis: int | None = None

    @field_validator("file")
    @classmethod
    def _inside(cls, v: str) -> str:
        p = PurePosixPath(v.replace("\\", "/"))
        if p.is_absolute() or v.startswith(("/", "\\")) or (len(v) > 1 and v[1] == ":"):
            raise ValueError(f"'{v}' is an absolute path; give a path inside the dump folder")
        if ".." in p.parts:
            raise ValueError(f"'{v}' climbs out with '..'; give a path inside the dump folder")
        if p.suffix not in (".npy", ".bin"):
            raise ValueError(f"'{v}' is neither a .npy nor a raw .bin file")
        return v

    @field_validator("shape")
    @classmethod
    def _dims(cls, v):
        if v is not None and any(d < 0 for d in v):
            raise ValueError(f"shape {list(v)} has a negative dimension")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        if self.file.endswith(".bin") and (self.dtype is None or self.shape is None):
            raise ValueError(f"raw file '{self.file}' needs dtype and shape")
        per_channel = isinstance(self.scale, tuple) or isinstance(self.zero_point, tuple)
        if per_channel and self.axis is None:
            raise ValueError("a per-channel scale or zero_point needs an axis")
        if isinstance(self.scale, tuple) and isinstance(self.zero_point, tuple) \
                and len(self.scale) != len(self.zero_point):
            raise ValueError(f"{len(self.scale)} scales but {len(self.zero_point)} zero points")
        if self.scale is None and self.zero_point != 0:
            raise ValueError("zero_point without scale")
        return self


class Manifest(BaseModel):
    """`layout` is the default of every 4-D tensor (NCHW unless said); `layers` is the order
    in which layers are compared and the first divergent one is found."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["npusim-dump"] = "npusim-dump"
    version: Literal[1] = 1
    layout: Layout = "NCHW"
    layers: tuple[LayerEntry, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self):
        for key in ("name", "file"):
            seen: set[str] = set()
            for e in self.layers:
                v = getattr(e, key)
                if v in seen:
                    raise ValueError(f"layer {key} '{v}' is listed twice")
                seen.add(v)
        return self


def find_manifest(folder: Path) -> Path | None:
    found = [folder / n for n in MANIFEST_NAMES if (folder / n).is_file()]
    if len(found) > 1:
        raise NumericsError(f"dump folder '{folder}' holds {len(found)} manifests "
                            f"({', '.join(p.name for p in found)}); keep one")
    return found[0] if found else None


def read_manifest(path: Path) -> Manifest:
    where = f"dump manifest '{path}'"
    if path.suffix == ".json":
        if path.stat().st_size > 1 << 20:
            raise NumericsError(f"{where} is larger than 1 MiB")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise NumericsError(f"{where} is not valid JSON: {e}") from None
    else:
        doc = read_yaml(path, where, NumericsError)
    if not isinstance(doc, dict):
        raise NumericsError(f"{where} must be a mapping with a 'layers' list")
    try:
        return Manifest.model_validate(doc)
    except ValidationError as e:
        err = e.errors()[0]
        at = ".".join(str(x) for x in err["loc"]) or "manifest"
        raise NumericsError(f"{where}: {at}: {err['msg']}") from None


def resolve_inside(root: Path, rel: str, where: str) -> Path:
    """`root / rel`, refusing a path (or a symlink on it) that ends outside `root`."""
    real_root = root.resolve()
    p = (root / rel).resolve()
    if p != real_root and real_root not in p.parents:
        raise NumericsError(f"{where}: '{rel}' leads outside the dump folder '{root}' "
                            "(through a symlink)")
    return p
