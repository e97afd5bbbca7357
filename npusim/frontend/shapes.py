"""Input shapes in trtexec style: `name:1x3x224x224,other:1x64`, and named dims: `batch=1`.

`input:1x3x640x640` gives an input's whole shape (so -1 and unnamed dims are bound too);
`sequence_length=128` binds that named dim in every input that declares it, or fixes the
value of a scalar integer input of that name (a sample rate an If branches on).
"""

from __future__ import annotations

from collections.abc import Mapping

from npusim.errors import ShapeError

Shapes = Mapping[str, tuple[int, ...]]


def parse_shapes(text: str | Mapping[str, tuple[int, ...]] | None) -> dict[str, tuple[int, ...]]:
    """Parse `--shapes`; a mapping passes through with its dims checked."""
    if text is None:
        return {}
    if isinstance(text, Mapping):
        return {name: _check_dims(name, dims) for name, dims in text.items()}
    shapes: dict[str, tuple[int, ...]] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        if "=" in item and ":" not in item:
            continue  # a named dim, see parse_dim_values
        name, sep, dims = item.rpartition(":")
        if not sep or not name or not dims:
            raise ShapeError(f"--shapes entry '{item}' is not of the form name:1x3x224x224")
        try:
            shapes[name] = _check_dims(name, tuple(int(d) for d in dims.lower().split("x")))
        except ValueError:
            raise ShapeError(f"--shapes entry '{item}': dims must be integers joined by 'x'"
                             ) from None
    return shapes


def parse_dim_values(text: str | Mapping | None) -> dict[str, int]:
    """The `dim_name=value` entries of `--shapes`."""
    if text is None or isinstance(text, Mapping):
        return {}
    values: dict[str, int] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        if "=" not in item or ":" in item:
            continue
        name, _, value = item.partition("=")
        try:
            values[name.strip()] = int(value)
        except ValueError:
            raise ShapeError(f"--shapes entry '{item}': a named dim takes an integer, as in "
                             "batch=1") from None
        if values[name.strip()] < 0:
            raise ShapeError(f"--shapes entry '{item}': a dim cannot be negative")
    return values


def _check_dims(name: str, dims) -> tuple[int, ...]:
    dims = tuple(int(d) for d in dims)
    if any(d < 0 for d in dims):
        raise ShapeError(f"shape of '{name}' has a negative dim: {dims}")
    return dims


def format_shape(dims: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in dims) if dims else "scalar"
