"""Command-line arguments every subcommand that simulates a model on a chip shares, so that
`npusim simulate`, `plan`, `memory` and `report` spell them the same way."""

from __future__ import annotations

import argparse

from npusim.cli_types import count
from npusim.fusion import STRATEGIES
from npusim.ir import Precision


def add_model_args(p: argparse.ArgumentParser) -> None:
    """MODEL, --chip, --shapes, --outputs, --precision."""
    p.add_argument("model", help="ONNX file, or zoo:NAME for a bundled zoo model")
    p.add_argument("--chip", required=True,
                   help="bundled profile name (npusim chips) or path of a YAML profile")
    p.add_argument("--shapes", metavar="NAME:DIMS,...",
                   help="bind dynamic input dims, trtexec style: input:1x3x224x224 (the whole "
                   "shape of an input, so -1 and unnamed dims are bound too), or a named dim "
                   "in every input that declares it: sequence_length=128")
    p.add_argument("--outputs", metavar="NAME,...",
                   help="cut the graph at these tensors: they become the outputs and nodes "
                   "no longer needed are dropped (e.g. before NonMaxSuppression)")
    p.add_argument("--precision", default="int8", choices=[x.value for x in Precision])
    u = p.add_mutually_exclusive_group()
    u.add_argument("--unit", metavar="NAME", help="bind the model to one unit or unit "
                   "instance of a whole-SoC profile (--chip orin-agx --unit dla1)")
    u.add_argument("--dla-core", type=count, metavar="N", help="same as --unit dlaN")
    add_precision_map_args(p)


def add_precision_map_args(p: argparse.ArgumentParser) -> None:
    """--precision-map FILE and --keep PRECISION:LAYER,... (repeatable): layers at a precision
    other than --precision (read back with `precisions_of`)."""
    p.add_argument("--precision-map", metavar="FILE",
                   help="YAML file mapping layers (node or fused-group names, as the tables "
                   "print them) to a precision: 'layers: {NAME: int16}'; npusim precision -o "
                   "writes one")
    p.add_argument("--keep", action="append", metavar="PRECISION:LAYER,...",
                   help="run these layers at PRECISION (repeatable; overrides the map): "
                   "--keep int16:conv1,conv2 --keep fp16:softmax")


def precisions_of(args: argparse.Namespace) -> dict[str, str] | None:
    """The per-layer precisions --precision-map and --keep ask for (None: neither given)."""
    from npusim.precision.map import precision_map
    return precision_map(getattr(args, "precision_map", None), getattr(args, "keep", None))


def add_fusion_args(p: argparse.ArgumentParser) -> None:
    """--fusion and --objective."""
    p.add_argument("--fusion", default="dp", choices=STRATEGIES,
                   help="fusion strategy (default dp: the exact planner)")
    p.add_argument("--objective", default="latency", metavar="latency|ddr|weighted:W",
                   help="what the planner minimizes; weighted:W = latency_ms + W x DDR MB")


def bind_unit(args: argparse.Namespace) -> None:
    """Fold --unit / --dla-core into --chip as PROFILE@UNIT (the single-model view)."""
    unit = getattr(args, "unit", None)
    if getattr(args, "dla_core", None) is not None:
        unit = f"dla{args.dla_core}"
    if unit and getattr(args, "chip", None):
        args.chip = f"{args.chip}@{unit}"
