"""`npusim numerics model.onnx --inputs data.npz`: the per-layer error table, printed with rich,
optionally written as JSON. npusim/cli.py mounts `add_arguments` and `main`."""

from __future__ import annotations

import argparse
import json
import math

from npusim.cli_types import count, finite
from npusim.errors import NumericsError
from npusim.numerics.api import DIVERGENCE_NOTE, PRECISIONS, run_numerics
from npusim.numerics.dumps.write import check_dump_folder
from npusim.numerics.npz import load_npz
from npusim.numerics.requant import SCHEMES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="ONNX model (float, QDQ or QOperator)")
    parser.add_argument("--inputs", required=True, help=".npz with one array per model input")
    parser.add_argument("--calibration", help=".npz of calibration samples (arrays stacked on "
                        "a leading sample axis, one per input); default: the inputs")
    parser.add_argument("--scheme", choices=SCHEMES, default="ort")
    parser.add_argument("--precision", choices=PRECISIONS, default="int8")
    parser.add_argument("--method", choices=("minmax", "percentile", "entropy", "mse"),
                        default="minmax", help="calibration method")
    parser.add_argument("--accumulate", choices=("fp32", "fp16"), default="fp32")
    parser.add_argument("--shapes", help="input shapes, trtexec style: name:1x3x224x224")
    parser.add_argument("--target-sqnr", type=finite, help="suggest layers to keep in fp16 to "
                        "reach this output SQNR (dB)")
    parser.add_argument("--no-layerwise", action="store_true",
                        help="skip the layerwise (only-this-layer-quantized) runs")
    parser.add_argument("--json", help="write the full result as JSON here")
    parser.add_argument("--top", type=count, default=0, help="print only the N worst layers")
    parser.add_argument("--dump", metavar="DIR", help="write every layer's simulated tensor here "
                        "(one .npy per layer + manifest.yaml) for npusim compare")
    parser.add_argument("--host-u8s8", action="store_true",
                        help="scheme ort: follow this host's onnxruntime, which on x86-64 "
                        "without VNNI saturates uint8 x int8 pair sums at int16 (default: "
                        "exact sums, as a chip and a VNNI host compute them)")


def _calibration(path: str | None):
    if path is None:
        return None
    arrays = load_npz(path, "calibration")
    if not arrays or any(v.ndim == 0 for v in arrays.values()):
        raise NumericsError(f"calibration file '{path}': give one array per input, samples "
                            "stacked on a leading axis")
    n = min(v.shape[0] for v in arrays.values())
    return [{k: v[i] for k, v in arrays.items()} for i in range(n)]


def _fmt(v, digits=2):
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return f"{v:.{digits}f}"


def main(args: argparse.Namespace, console, precisions=None, after=None) -> int:
    """Run, print the table, write --json; `precisions` is a precision map (layer -> int16 /
    fp16 / fp32) and `after(result)` prints more below the table (a dict it returns joins
    the JSON)."""
    from rich.table import Table

    from npusim import outputs
    outputs.check_outputs(args.json, inputs=(args.model, args.inputs, args.calibration,
                                             getattr(args, "precision_map", None)))
    if args.dump is not None:
        check_dump_folder(args.dump)
    inputs = load_npz(args.inputs, "inputs")
    result = run_numerics(args.model, inputs, shapes=args.shapes, scheme=args.scheme,
                          precision=args.precision, calibration=_calibration(args.calibration),
                          method=args.method, accumulate=args.accumulate,
                          layerwise=not args.no_layerwise, target_sqnr_db=args.target_sqnr,
                          precisions=precisions, dump=args.dump,
                          host_u8s8=getattr(args, "host_u8s8", False))
    table = Table(title=f"{result.model}: {result.precision}, scheme {result.scheme}")
    for col in ("layer", "op", "SQNR dB", "cosine", "max |err|", "sat", "sat %",
                "layerwise out SQNR dB"):
        table.add_column(col, justify="left" if col in ("layer", "op") else "right")
    rows = result.layers
    if args.top:
        order = {n: i for i, n in enumerate(result.worst_layers)}
        rows = sorted(rows, key=lambda r: order.get(r.name, 1 << 30))[:args.top]
    for r in rows:
        table.add_row(r.name, r.op_type, _fmt(r.sqnr_db), _fmt(r.cosine, 6),
                      _fmt(r.max_abs_error, 4), str(r.saturation_count),
                      _fmt(100 * r.saturation_rate), _fmt(r.layerwise_output_sqnr_db))
    console.print(table)
    for name, v in result.output_sqnr_db.items():
        console.print(f"output {name}: SQNR {_fmt(v)} dB")
    if result.worst_layers:
        console.print("worst layers: " + ", ".join(result.worst_layers[:5]))
    mp = result.mixed_precision
    if mp is not None:
        verdict = "reaches" if mp.reached else "does not reach"
        console.print(f"keep {len(mp.keep)} layer(s) in {mp.keep_precision}: "
                      f"{', '.join(mp.keep) or '(none)'} -> predicted SQNR "
                      f"{_fmt(mp.predicted_sqnr_db)} dB ({verdict} {mp.target_sqnr_db} dB)")
    for d in result.divergence:
        measured = ("" if d.mismatched is None else
                    f": {d.mismatched} of {d.total} floats differ, up to {d.max_ulp} ulp")
        # measured against a one-node onnxruntime session: 0 there can still differ in the
        # model (a fusion or a transformer of the default session), which the reason says
        label = "may differ from onnxruntime" if d.mismatched == 0 else "not bit-exact"
        console.print(f"{label}: {d.layer} ({d.op_type}){measured} ({d.reason})")
    for note in result.notes:
        if not note.startswith(DIVERGENCE_NOTE):  # its layers are listed one by one above
            console.print(f"note: {note}")
    extra = after(result) if after is not None else None
    if args.json:
        outputs.write_text(args.json, json.dumps({**result.to_dict(), **(extra or {})},
                                                 sort_keys=True, indent=1))
    return 0
