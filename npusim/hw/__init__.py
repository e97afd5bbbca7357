"""Chip profiles: the schema, the loader with `extends:`, and the bundled YAML files."""

from npusim.hw.loader import bundled_profiles, chip_schema, load_chip, profiles_dir
from npusim.hw.schema import (PROVENANCE_KINDS, Chip, ComputeUnit, Figure, FusionRules,
                              MemoryLevel, TensorLayout, Validation, figure_path)

__all__ = ["PROVENANCE_KINDS", "Chip", "ComputeUnit", "Figure", "FusionRules", "MemoryLevel",
           "TensorLayout", "Validation", "bundled_profiles", "chip_schema", "figure_path",
           "load_chip", "profiles_dir"]
