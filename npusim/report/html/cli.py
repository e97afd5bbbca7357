"""`npusim report MODEL --chip CHIP -o report.html [--inputs data.npz]`: the command.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from npusim.errors import NpusimError
from npusim.report.html.page import write_report

# -- command line ------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`npusim report MODEL --chip CHIP -o report.html [--inputs data.npz] ...`"""
    from npusim.cli_args import add_fusion_args, add_model_args
    from npusim.cli_types import finite
    add_model_args(parser)
    add_fusion_args(parser)
    parser.add_argument("--inputs", metavar="DATA.npz",
                        help="one array per model input: adds the numerics table")
    parser.add_argument("--target-sqnr", type=finite, metavar="DB",
                        help="with --inputs: suggest layers to keep in fp16 to reach this "
                             "output SQNR")
    parser.add_argument("-o", "--output", required=True, metavar="REPORT.html",
                        help="write the self-contained HTML page here")


def main(args: argparse.Namespace, console) -> int:
    from npusim import outputs
    from npusim.cli_args import precisions_of
    from npusim.numerics.cli import load_npz
    outputs.check_outputs(args.output,
                          inputs=(args.model, args.chip, args.inputs, args.precision_map))
    inputs = load_npz(args.inputs, "inputs") if args.inputs else None
    if args.target_sqnr is not None and inputs is None:
        raise NpusimError("--target-sqnr needs --inputs DATA.npz")
    with outputs.atomic_path(args.output) as tmp:
        data = write_report(tmp, args.model, args.chip, shapes=args.shapes,
                            precision=args.precision, fusion=args.fusion,
                            objective=args.objective, inputs=inputs,
                            target_sqnr_db=args.target_sqnr,
                            outputs=getattr(args, "outputs", None),
                            precisions=precisions_of(args))
    t = data.report.totals
    size_kb = Path(args.output).stat().st_size / 1e3
    from rich.markup import escape
    console.print(escape(f"wrote {args.output} ({size_kb:.0f} KB): {data.report.model} on "
                         f"{data.report.chip}, {t.latency_ms:.3f} ms, {t.throughput_fps:.1f} FPS, "
                         f"{len(data.report.layers)} groups"
                         + (", numerics" if data.numerics is not None else "")))
    return 0
