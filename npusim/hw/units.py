"""Single-model views of a whole-SoC profile: the chip as one model sees it when it is bound
to one unit, or to one instance of a unit whose instances run models of their own (`dla1`).

A view keeps every figure of the profile; it only puts the chosen unit first in `unit_order`
(ops it cannot run fall back to the others in their order) and, for an instance, narrows the
unit to `count` 1 (and its share of `dma_channels`) under the instance's name. No number is
restated.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from npusim.errors import ProfileError
from npusim.hw.schema import Chip, ComputeUnit

_INSTANCE = re.compile(r"^(?P<unit>.+?)(?P<index>\d+)$")


def unit_names(chip: Chip) -> tuple[str, ...]:
    """Every name a model can be bound to: each unit, then each addressable instance."""
    names = [u.name for u in chip.ordered_units]
    for u in chip.ordered_units:
        if u.addressable_instances:
            names += [f"{u.name}{i}" for i in range(int(u.count.value))]
    return tuple(names)


def resolve_unit(chip: Chip, name: str) -> tuple[ComputeUnit, int | None]:
    """The unit `name` names and the instance index (None: the whole unit)."""
    units = {u.name: u for u in chip.compute_units}
    if name in units:
        return units[name], None
    m = _INSTANCE.match(name)
    if m and m["unit"] in units and units[m["unit"]].addressable_instances:
        unit, index = units[m["unit"]], int(m["index"])
        if index < int(unit.count.value):
            return unit, index
    raise ProfileError(f"chip '{chip.name}' has no unit '{name}'; units and instances are: "
                       f"{', '.join(unit_names(chip))}")


def select_unit(chip: Chip, name: str) -> Chip:
    """The single-model view of `chip` bound to unit or instance `name`."""
    unit, index = resolve_unit(chip, name)
    data: dict[str, Any] = chip.model_dump(mode="json", exclude_unset=True)
    order = [name] + [u.name for u in chip.ordered_units if u.name != unit.name]
    if index is not None:
        count = dict(data["compute_units"][_position(chip, unit.name)]["count"])
        for kind in ("source", "estimated", "calibrated"):
            if count.get(kind):
                count[kind] = f"one instance of {int(unit.count.value)}: {count[kind]}"
        count["value"] = 1
        entry = data["compute_units"][_position(chip, unit.name)]
        entry.update(name=name, count=count, addressable_instances=False)
        if unit.dma_channels is not None:   # the unit's channels are split among instances
            channels = dict(entry["dma_channels"])
            n = int(unit.count.value)
            for kind in ("source", "estimated", "calibrated"):
                if channels.get(kind):
                    channels[kind] = f"1/{n} of the unit's: {channels[kind]}"
            channels["value"] = unit.dma_channels.value / n
            entry["dma_channels"] = channels
        for level in data["memory"]:
            if level.get("unit") == unit.name:
                level["unit"] = name
        for layout in data.get("layouts", []):
            if layout["unit"] == unit.name:
                layout["unit"] = name
    data["unit_order"] = order
    data["name"] = f"{chip.name}@{name}"
    try:
        return Chip.model_validate(data)
    except ValidationError as e:  # a profile that validates yields a valid view
        raise ProfileError(f"profile '{chip.name}': the view of unit '{name}' is not a valid "
                           f"profile: {e.errors()[0]['msg']}") from None


def _position(chip: Chip, unit: str) -> int:
    return next(i for i, u in enumerate(chip.compute_units) if u.name == unit)
