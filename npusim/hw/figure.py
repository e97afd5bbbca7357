"""A profile number with its provenance (`Figure`: exactly one of a public `source`, an
`estimated` reason, or the rows it was `calibrated` on) and the bounds physics puts on it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


PROVENANCE_KINDS = ("source", "estimated", "calibrated")


class _Sourced(_Frozen):
    """Data that carries its provenance: exactly one of `source` (a public document),
    `estimated` (why it is a guess) or `calibrated` (the measurement rows a chip-level
    constant was fitted on, e.g. "calibration.csv rows resnet50/orin-agx-gpu, ...")."""

    source: str | None = None
    estimated: str | None = None
    calibrated: str | None = None

    @model_validator(mode="after")
    def _one_provenance(self) -> _Sourced:
        if sum(bool(getattr(self, kind)) for kind in PROVENANCE_KINDS) != 1:
            raise ValueError("give exactly one of 'source' (where the number comes from), "
                             "'estimated' (why it is a guess) or 'calibrated' (the measurement "
                             "rows it was fitted on)")
        return self

    @property
    def provenance(self) -> str:
        """Which kind of provenance this carries: source, estimated or calibrated."""
        return next(kind for kind in PROVENANCE_KINDS if getattr(self, kind))


class Figure(_Sourced):
    """A number with its provenance."""

    value: float = Field(allow_inf_nan=False)

    @property
    def is_estimated(self) -> bool:
        return self.estimated is not None

    @property
    def is_calibrated(self) -> bool:
        return self.calibrated is not None

    def __int__(self) -> int:
        return int(self.value)

    def __float__(self) -> float:
        return float(self.value)


def _bounds(low: float, high: float, *, low_open: bool = False, whole: bool = False
            ) -> AfterValidator:
    """A figure's value within what physics allows: `low` < (or <=) value <= `high`;
    `whole` for counts. None (an omitted optional figure) passes."""
    def check(fig: Figure | None) -> Figure | None:
        if fig is None:
            return fig
        v = fig.value
        if whole and v != int(v):
            raise ValueError(f"must be a whole number, got {v:g}")
        if v < low or (low_open and v == low):
            raise ValueError(f"must be {'>' if low_open else '>='} {low:g}, got {v:g}")
        if v > high:
            raise ValueError(f"must be at most {high:g}, got {v:g}")
        return fig
    return AfterValidator(check)


# Upper bounds are far beyond any chip; they only keep products of figures finite.
Count = Annotated[Figure, _bounds(1, 1e6, whole=True)]            # cores, channels, ops
Bytes = Annotated[Figure, _bounds(1, 2.0**50, whole=True)]        # sizes, alignments
Rate = Annotated[Figure, _bounds(0, 1e12, low_open=True)]         # clocks, bandwidths, per cycle
Duration = Annotated[Figure, _bounds(0, 1e9)]                     # microseconds, may be 0
Fraction = Annotated[Figure, _bounds(0, 1, low_open=True)]        # efficiencies, (0, 1]
OptionalCount = Annotated[Figure | None, _bounds(1, 1e6, whole=True)]
OptionalDuration = Annotated[Figure | None, _bounds(0, 1e9)]
OptionalFraction = Annotated[Figure | None, _bounds(0, 1, low_open=True)]
OptionalRate = Annotated[Figure | None, _bounds(0, 1e12, low_open=True)]
OptionalAmount = Annotated[Figure | None, _bounds(0, 2.0**50)]     # bytes, may be 0
