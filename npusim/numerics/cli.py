"""`npusim numerics model.onnx --inputs data.npz`: the per-layer error table, printed with rich,
optionally written as JSON. npusim/cli.py mounts `add_arguments` and `main`."""

from __future__ import annotations

import argparse
import json
import math
import zipfile
from pathlib import Path

import numpy as np

from npusim.cli_types import count, finite
from npusim.errors import NumericsError
from npusim.numerics.api import PRECISIONS, run_numerics
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


MAX_NPZ_BYTES = 4 << 30   # decompressed; more is a zip bomb or the wrong file


def load_npz(path: str, what: str) -> dict[str, np.ndarray]:
    """Arrays of an .npz file by name, never unpickled; a missing, corrupt, pickled, oversized
    or non-numeric file is a user error naming the file and the array."""
    p = Path(path)
    if p.is_dir():
        raise NumericsError(f"{what} file '{p}' is a folder, not an .npz file")
    if not p.is_file():
        raise NumericsError(f"{what} file '{p}' does not exist")
    bad = f"{what} file '{p}'"
    try:
        z = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise NumericsError(f"{bad} is not a readable .npz: {_npz_reason(e)}") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise NumericsError(f"{bad} holds one bare array, not named arrays; save it with "
                            "numpy.savez(file, INPUT_NAME=array)")
    with z:
        try:
            _check_npz_members(z, bad)
            arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
            raise NumericsError(f"{bad} is not a readable .npz: {_npz_reason(e)}") from None
    for name, a in arrays.items():
        if not isinstance(a, np.ndarray):
            raise NumericsError(f"{bad}: member '{name}' is not a numpy array")
        if a.dtype.kind not in "biuf":
            raise NumericsError(f"{bad}: array '{name}' has dtype {a.dtype}; give numbers "
                                "(bool, int, uint or float)")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise NumericsError(f"{bad}: array '{name}' holds {np.count_nonzero(~np.isfinite(a))}"
                                " NaN or infinite values")
    return arrays


def _check_npz_members(z, bad: str) -> None:
    """Every member's declared shape fits the bytes it has, and all fit MAX_NPZ_BYTES, checked
    from the headers before any array is allocated."""
    total = 0
    for info in z.zip.infolist():
        if not info.filename.endswith(".npy"):
            raise NumericsError(f"{bad}: member '{info.filename}' is not a .npy array")
        total += info.file_size
        if total > MAX_NPZ_BYTES:
            raise NumericsError(f"{bad} holds more than {MAX_NPZ_BYTES >> 30} GiB of arrays")
        with z.zip.open(info) as f:
            version = np.lib.format.read_magic(f)
            reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                      else np.lib.format.read_array_header_2_0)
            shape, _, dtype = reader(f)
        if dtype.hasobject:
            raise NumericsError(f"{bad}: array '{info.filename[:-4]}' holds Python objects, "
                                "which npusim never loads")
        if math.prod(shape) * dtype.itemsize > info.file_size:
            raise NumericsError(f"{bad}: array '{info.filename[:-4]}' declares shape "
                                f"{tuple(shape)} but holds fewer bytes; the file is corrupt")


def _npz_reason(e: Exception) -> str:
    text = str(e)
    if "pickle" in text:
        return ("it is neither an .npz nor a .npy file (numpy would have to unpickle it, which "
                "npusim never does)")
    return text or type(e).__name__


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
    inputs = load_npz(args.inputs, "inputs")
    result = run_numerics(args.model, inputs, shapes=args.shapes, scheme=args.scheme,
                          precision=args.precision, calibration=_calibration(args.calibration),
                          method=args.method, accumulate=args.accumulate,
                          layerwise=not args.no_layerwise, target_sqnr_db=args.target_sqnr,
                          precisions=precisions)
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
        console.print(f"not bit-exact: {d.layer} ({d.op_type}){measured}")
    extra = after(result) if after is not None else None
    if args.json:
        outputs.write_text(args.json, json.dumps({**result.to_dict(), **(extra or {})},
                                                 sort_keys=True, indent=1))
    return 0
