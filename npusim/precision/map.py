"""The precision map: which layers run at a precision other than the model's default, from a
YAML file (`--precision-map FILE`) or inline (`--keep int16:LAYER,LAYER`).

```yaml
layers:                       # layer or fused-group names, as the tables print them
  /layer3/layer3.0/Add: int16
  /fc/Gemm: fp16
```

Names are resolved against the graph later (`npusim.ir.layer_names`), where an unknown one is
an error listing close matches; here the file itself is checked (pydantic, `extra="forbid"`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from npusim.errors import NpusimError
from npusim.hw.yaml_file import read_yaml
from npusim.ir import Precision


class PrecisionMap(BaseModel):
    """A precision map file. `model` and `chip` say what it was made for (informational)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    layers: dict[str, Precision]
    model: str | None = None
    chip: str | None = None
    note: str | None = None


def load_precision_map(path: str | Path) -> dict[str, str]:
    """Layer name -> precision from a precision map file; a bad file, key or precision is an
    `NpusimError` naming the file and the key."""
    where = f"precision map '{path}'"
    data = read_yaml(Path(path), where)
    if not isinstance(data, dict):
        raise NpusimError(f"{where}: expected a mapping with a 'layers:' section, got "
                          f"{type(data).__name__}")
    try:
        pm = PrecisionMap.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(x) for x in err["loc"])
        if err["type"] == "enum":
            known = ", ".join(p.value for p in Precision)
            msg = f"'{err.get('input')}' is not a precision (use one of {known})"
        else:
            msg = err["msg"]
        raise NpusimError(f"{where}: {key}: {msg}") from None
    return {name: p.value for name, p in pm.layers.items()}


def parse_keep(items: Iterable[str]) -> dict[str, str]:
    """`--keep PRECISION:LAYER,LAYER` (repeatable) -> layer name -> precision."""
    out: dict[str, str] = {}
    for item in items:
        precision, sep, names = item.partition(":")
        if not sep or not names.strip():
            raise NpusimError(f"--keep '{item}': write PRECISION:LAYER[,LAYER...], e.g. "
                              "int16:/conv1/Conv")
        try:
            p = Precision(precision.strip())
        except ValueError:
            known = ", ".join(x.value for x in Precision)
            raise NpusimError(f"--keep '{item}': '{precision}' is not a precision (use one "
                              f"of {known})") from None
        for name in (n.strip() for n in names.split(",")):
            if not name:
                continue
            if out.get(name, p.value) != p.value:
                raise NpusimError(f"--keep: layer '{name}' is given both {out[name]} and "
                                  f"{p.value}")
            out[name] = p.value
    return out


def precision_map(path: str | None, keeps: Iterable[str] | None) -> dict[str, str] | None:
    """The map a command line asks for: the file's entries, then the inline ones (an inline
    entry overrides the file's for the same layer); None when neither is given."""
    if path is None and not keeps:
        return None
    out = load_precision_map(path) if path is not None else {}
    out.update(parse_keep(keeps or ()))
    return out


def dump_precision_map(layers: Mapping[str, str], *, model: str | None = None,
                       chip: str | None = None, note: str | None = None) -> str:
    """YAML text of a precision map that `load_precision_map` reads back."""
    doc: dict = {"layers": dict(sorted(layers.items()))}
    for key, value in (("model", model), ("chip", chip), ("note", note)):
        if value is not None:
            doc[key] = value
    return yaml.safe_dump(doc, sort_keys=True, default_flow_style=False, allow_unicode=True)
