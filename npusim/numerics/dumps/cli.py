"""`npusim compare REF SIM`: per-layer agreement of two tensor dumps (a board's, another tool's,
`npusim numerics --dump`'s), printed with rich, optionally as JSON. npusim/cli.py mounts it."""

from __future__ import annotations

import argparse
import json
import math

from npusim.errors import NumericsError
from npusim.numerics.dumps.compare import CompareResult, Thresholds, compare_dumps

_KEYS = {"cosine": "min_cosine", "sqnr": "min_sqnr_db", "max_abs": "max_abs_error"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ref", help="reference dump: .npz, folder of .npy/.bin tensors (with "
                        "manifest.yaml/.json), or folder of one sub-folder or .npz per frame")
    parser.add_argument("sim", help="dump to check against REF, same forms")
    parser.add_argument("--threshold", action="append", metavar="KEY=VALUE[,KEY=VALUE]",
                        help="divergence bounds, replacing the default cosine=0.99,sqnr=20; "
                        "keys: cosine (min), sqnr (min dB), max_abs (max |error|)")
    parser.add_argument("--model", help="ONNX model: order layers topologically by its graph "
                        "(node or output tensor names) instead of REF's order")
    parser.add_argument("--json", help="write the full result as JSON here")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a layer diverges (for CI)")


def parse_thresholds(specs: list[str] | None) -> Thresholds:
    if not specs:
        return Thresholds()
    given: dict[str, float] = {}
    for spec in specs:
        for item in filter(None, (s.strip() for s in spec.split(","))):
            key, sep, value = item.partition("=")
            if not sep or key not in _KEYS:
                raise NumericsError(f"--threshold '{item}': write KEY=VALUE with KEY one of "
                                    f"{', '.join(_KEYS)}")
            try:
                v = float(value)
            except ValueError:
                raise NumericsError(f"--threshold '{item}': '{value}' is not a number") from None
            if not math.isfinite(v):
                raise NumericsError(f"--threshold '{item}': give a finite number")
            given[_KEYS[key]] = v
    return Thresholds(**{f: given.get(f) for f in _KEYS.values()})


def model_order(path: str) -> list[str]:
    """Node names and output tensor names of an ONNX graph in topological order."""
    import networkx as nx

    from npusim.errors import ModelLoadError
    from npusim.frontend.load import read_structure
    graph = read_structure(path).graph
    g = nx.DiGraph()
    producer = {}
    for i, n in enumerate(graph.node):
        g.add_node(i)
        producer.update({o: i for o in n.output if o})
    for i, n in enumerate(graph.node):
        g.add_edges_from((producer[t], i) for t in n.input if t in producer)
    if not nx.is_directed_acyclic_graph(g):
        raise ModelLoadError(f"model '{path}': the graph has a cycle")
    names: list[str] = []
    for i in nx.lexicographical_topological_sort(g):
        n = graph.node[i]
        names.extend([n.name, *n.output] if n.name else list(n.output))
    return names


def main(args: argparse.Namespace, console) -> int:
    from pathlib import Path

    from npusim import outputs
    outputs.check_outputs(args.json, inputs=(args.ref, args.sim, args.model))
    thresholds = parse_thresholds(args.threshold)
    if args.model and not Path(args.model).is_file():
        raise NumericsError(f"model '{args.model}' does not exist")
    order = model_order(args.model) if args.model else None
    result = compare_dumps(args.ref, args.sim, thresholds, order)
    print_result(result, console)
    if args.json:
        outputs.write_text(args.json, json.dumps(result.to_dict(), sort_keys=True, indent=1))
    return 1 if args.check and result.first_divergent_layer else 0


def print_result(result: CompareResult, console) -> None:
    from rich.markup import escape
    from rich.table import Table

    multi = len(result.frames) > 1 or result.frames[0].frame is not None
    table = Table(title=escape(f"{result.sim} against {result.ref} ({len(result.frames)} "
                               f"frame(s), layer order: {result.order})"), title_justify="left")
    cols = (["layer", "shape", "frames", "cos median", "cos min", "cos p5", "SQNR median",
             "SQNR min", "SQNR p5", "max |err|", "diverged"] if multi else
            ["layer", "shape", "cosine", "SQNR dB", "max |err|", "diverged"])
    nodes = any(s.node and s.node != s.layer for s in result.layers)
    if nodes:
        cols.insert(1, "node")
    for c in cols:
        table.add_column(c, justify="left" if c in ("layer", "node", "shape") else "right")
    for s in result.layers:
        mark = "<- first" if s.layer == result.first_divergent_layer else ""
        shape = "x".join(map(str, s.shape))
        first = [escape(s.layer)] + ([escape(s.node or "")] if nodes else [])
        if multi:
            table.add_row(*first, shape, str(s.frames), _f(s.cosine_median, 6),
                          _f(s.cosine_min, 6), _f(s.cosine_p5, 6), _f(s.sqnr_db_median),
                          _f(s.sqnr_db_min), _f(s.sqnr_db_p5), _f(s.max_abs_error, 4),
                          f"{s.frames_divergent} {mark}".strip())
        else:
            table.add_row(*first, shape, _f(s.cosine_median, 6), _f(s.sqnr_db_median),
                          _f(s.max_abs_error, 4), ("yes " + mark).strip()
                          if s.frames_divergent else "")
    console.print(table)
    t = result.thresholds
    bounds = ", ".join(b for b in (
        t.min_cosine is not None and f"cosine < {t.min_cosine:g}",
        t.min_sqnr_db is not None and f"SQNR < {t.min_sqnr_db:g} dB",
        t.max_abs_error is not None and f"max |err| > {t.max_abs_error:g}") if b)
    if result.first_divergent_layer is None:
        console.print(f"no layer diverges ({bounds or 'no bound'}, or NaN/inf)")
    else:
        console.print(escape(f"first divergent layer: {result.first_divergent_layer} "
                             f"(diverges when {bounds or 'NaN/inf'})"))
    if multi:
        firsts: dict[str, int] = {}
        for f in result.frames:
            if f.first_divergent_layer:
                firsts[f.first_divergent_layer] = firsts.get(f.first_divergent_layer, 0) + 1
        for layer, n in firsts.items():
            console.print(escape(f"  first divergent in {n} frame(s): {layer}"))
    for what, names in (("only in REF", result.only_in_ref), ("only in SIM", result.only_in_sim),
                        ("frames only in REF", result.frames_only_in_ref),
                        ("frames only in SIM", result.frames_only_in_sim)):
        if names:
            console.print(escape(f"{what} (not compared): {', '.join(names[:8])}"
                                 + (" ..." if len(names) > 8 else "")))
    for note in result.notes:
        console.print(escape(note))


def _f(v: float, digits: int = 2) -> str:
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.{digits}f}"
