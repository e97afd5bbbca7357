"""The `npusim` command: a thin shell over `npusim.api`.

A user mistake (`NpusimError`) prints one line and exits 2; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from npusim import __version__, api, outputs
from npusim.cli_args import add_fusion_args, add_model_args, bind_unit, precisions_of
from npusim.errors import NpusimError

EXIT_USER_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other user error
        where = self.prog.removeprefix("npusim").strip()
        raise NpusimError(f"{where}: {message}" if where else message)


def main(argv: Sequence[str] | None = None) -> int:
    # Piped output gets a wide fixed width so tables stay one line per layer.
    console = Console(width=None if sys.stdout.isatty() else 200)
    try:
        args = _parser(_command(sys.argv[1:] if argv is None else argv)).parse_args(argv)
        bind_unit(args)
        return args.run(args, console)
    except NpusimError as e:
        print(f"npusim: error: {' '.join(str(e).split())}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("npusim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _command(argv: Sequence[str]) -> str | None:
    """The subcommand named on the line (None for --help / --version and the like)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line. Commands with heavy imports (numerics: numba; sweep: joblib)
    get their full arguments only when they are the one named (or for --help), so
    `simulate` starts fast."""
    p = _Parser(prog="npusim", description="Predict how an ONNX model runs on an edge AI chip.")
    p.add_argument("--version", action="version", version=f"npusim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("simulate", help="per-layer latency of a model on a chip")
    add_model_args(s)
    add_fusion_args(s)
    s.add_argument("--json", metavar="FILE", help="write the full report as JSON")
    s.add_argument("--csv", metavar="FILE", help="write the per-layer table as CSV")
    s.add_argument("--trace", metavar="FILE", help="schedule the plan on the chip's units and "
                   "DMA channels and write a Chrome trace (open in Perfetto)")
    s.add_argument("--all", action="store_true", help="also list view ops (Reshape, ...)")
    s.add_argument("--members", action="store_true",
                   help="list every node of a fused group (default: first ... last (+N))")
    s.add_argument("--quiet", "-q", action="store_true", help="print only the totals")
    s.set_defaults(run=_simulate)

    pl = sub.add_parser("plan", help="operator fusion plan: groups, tiling, DDR traffic")
    add_model_args(pl)
    add_fusion_args(pl)
    pl.add_argument("--compare", action="store_true",
                    help="the four strategies side by side (none, rules, greedy, dp)")
    pl.add_argument("--members", action="store_true",
                    help="list every node of a fused group (default: first ... last (+N))")
    pl.add_argument("--json", metavar="FILE", help="write the plan (or comparison) as JSON")
    pl.set_defaults(run=_plan)

    ll = sub.add_parser("llm", help="time to first token and tokens/s of a decoder with a "
                        "KV cache (prefill + one decode step)")
    ll.add_argument("model", help="ONNX decoder with past_key_values inputs, or zoo:decoder")
    ll.add_argument("--chip", required=True, help="bundled profile name or YAML path")
    ll.add_argument("--prompt", type=int, default=128, help="prompt tokens (prefill)")
    ll.add_argument("--cache", type=int, default=None,
                    help="tokens in the KV cache at the decode step (default: the prompt)")
    ll.add_argument("--precision", default="w4a16",
                    help="w4a16 / w8a16 (weight-only), fp16, int8, ... (default w4a16)")
    ll.add_argument("--prefill-shapes", metavar="SHAPES", help="--shapes of the prefill "
                    "(default: batch_size=1,sequence_length=PROMPT,past_sequence_length=0)")
    ll.add_argument("--decode-shapes", metavar="SHAPES", help="--shapes of the decode step")
    ll.add_argument("--json", metavar="FILE", help="write both reports as JSON")
    ll.set_defaults(run=_llm)

    from npusim.report import memory_cli
    m = sub.add_parser("memory", help="memory hierarchy, where every tensor lives and when")
    memory_cli.add_arguments(m)
    m.set_defaults(run=memory_cli.main)

    r = sub.add_parser("report", help="self-contained HTML report of a model on a chip")
    if command in (None, "report"):  # the page's modules (plots, SVG) load only for it
        from npusim.report import html as report_html
        report_html.add_arguments(r)
        r.set_defaults(run=report_html.main)

    sw = sub.add_parser("sweep", help="design-space sweep over profile overrides, models, "
                        "fusion strategies and precisions (joblib or Dask)")
    if command in (None, "sweep"):  # joblib
        from npusim.sweep import cli as sweep_cli
        sweep_cli.add_arguments(sw)
        sw.set_defaults(run=sweep_cli.main)

    pp = sub.add_parser("pipeline", help="several models on one chip: units concurrent, "
                        "frames at rates, shared DRAM (table, --json, --trace, --search)")
    from npusim.pipeline import cli as pipeline_cli
    pipeline_cli.add_arguments(pp)
    pp.set_defaults(run=pipeline_cli.main)

    c = sub.add_parser("chips", help="list bundled chip profiles, or export their schema")
    c.add_argument("action", nargs="?", choices=["list", "schema", "show"], default="list")
    c.add_argument("name", nargs="?", help="profile name or YAML path (for 'show')")
    c.add_argument("-o", "--output", metavar="FILE", help="write the JSON Schema here")
    c.set_defaults(run=_chips)

    z = sub.add_parser("zoo", help="list or export the bundled model zoo")
    z.add_argument("action", choices=["list", "export"])
    z.add_argument("name", nargs="?")
    z.add_argument("-o", "--output", metavar="FILE.onnx")
    z.add_argument("--weights", choices=["random", "light"], default="random",
                   help="light: weights as ConstantOfShape placeholders (small files)")
    z.set_defaults(run=_zoo)

    n = sub.add_parser("numerics", help="bit-accurate int8/fp16 run and per-layer error")
    if command in (None, "numerics"):
        from npusim.numerics import cli as numerics_cli
        numerics_cli.add_arguments(n)
        from npusim.precision import groups as numerics_groups
        numerics_groups.add_arguments(n)   # --precision-map, --keep, --chip, --group
        n.set_defaults(run=numerics_groups.main)

    pr = sub.add_parser("precision", help="accuracy vs latency: move the worst layers to "
                        "int16 / fp16, Pareto table and plot, write the chosen precision map")
    if command in (None, "precision"):
        from npusim.precision import cli as precision_cli
        precision_cli.add_arguments(pr)
        pr.set_defaults(run=precision_cli.main)

    cm = sub.add_parser("compare", help="per-layer agreement of two tensor dumps (board, "
                        "another tool, numerics --dump): cosine, SQNR, first divergent layer")
    if command in (None, "compare"):
        from npusim.numerics.dumps import cli as compare_cli
        compare_cli.add_arguments(cm)
        cm.set_defaults(run=lambda a, con: compare_cli.main(a, con))
    return p


def _simulate(args: argparse.Namespace, console: Console) -> int:
    from npusim.report import layer_table, summary_line, to_csv, to_json
    outputs.check_outputs(args.json, args.csv, args.trace,
                          inputs=(args.model, args.chip, args.precision_map))
    problem = api.prepare(args.model, args.chip, args.shapes, args.precision,
                          precisions_of(args), outputs=args.outputs)
    for note in problem.graph.notes:
        print(f"npusim: note: {note}", file=sys.stderr)
    report = api.simulate(problem, fusion=args.fusion, objective=args.objective)
    if args.quiet:
        console.print(escape(summary_line(report)))
    else:
        console.print(layer_table(report, show_views=args.all, members=args.members))
        from npusim.precision.notes import float_layers_line
        line = float_layers_line(report)
        if line:
            console.print(escape(line))
    if args.json:
        _write(args.json, to_json(report))
    if args.csv:
        _write(args.csv, to_csv(report))
    if args.trace:  # the trace is of the very timeline the table reports
        from npusim.report.trace import write_trace
        with outputs.atomic_path(args.trace) as tmp:
            write_trace(report.timeline, api.place(report.timeline), tmp)
    return 0


def _plan(args: argparse.Namespace, console: Console) -> int:
    from npusim.report import compare_table, plan_json, plan_table
    outputs.check_outputs(args.json, inputs=(args.model, args.chip, args.precision_map))
    if args.compare:
        timelines = api.compare(args.model, args.chip, args.shapes, args.precision,
                                args.objective, outputs=args.outputs,
                                precisions=precisions_of(args))
        console.print(compare_table(timelines))
    else:
        timelines = (api.schedule(api.plan(args.model, args.chip, args.shapes, args.precision,
                                           args.fusion, args.objective,
                                           outputs=args.outputs,
                                           precisions=precisions_of(args))),)
        console.print(plan_table(timelines[0], members=args.members))
    if args.json:
        _write(args.json, plan_json(timelines))
    return 0


def _llm(args: argparse.Namespace, console: Console) -> int:
    outputs.check_outputs(args.json, inputs=(args.model, args.chip))
    r = api.llm(args.model, args.chip, args.prompt, args.cache, args.precision,
                args.prefill_shapes, args.decode_shapes)
    bw = r.decode.timeline.plan.chip.dram.achieved_bandwidth_GBps * 1e9
    bound = bw / r.weight_bytes_per_token if r.weight_bytes_per_token else 0.0
    console.print(escape(
        f"{r.prefill.model} on {r.prefill.chip} ({r.prefill.precision}): time to first token "
        f"{r.time_to_first_token_ms:.3f} ms ({r.prompt_tokens}-token prompt); decode "
        f"{r.decode_ms:.3f} ms per token with {r.cache_tokens} cached = {r.tokens_per_s:.1f} "
        f"tokens/s; the step reads {r.weight_bytes_per_token / 1e6:.1f} MB of weights "
        f"(DRAM alone allows {bound:.1f} tokens/s)"
        + (" (* rests on estimated figures)" if r.decode.totals.estimated else "")))
    if args.json:
        _write(args.json, json.dumps(r.to_dict(), indent=2, sort_keys=True) + "\n")
    return 0


def _chips(args: argparse.Namespace, console: Console) -> int:
    from npusim.hw import bundled_profiles, chip_schema, load_chip
    if args.action == "schema":
        outputs.check_outputs(args.output)
        text = json.dumps(chip_schema(), indent=2, sort_keys=True) + "\n"
        if args.output:
            _write(args.output, text)
        else:
            sys.stdout.write(text)
        return 0
    if args.action == "show":
        if not args.name:
            raise NpusimError("npusim chips show: give a profile name or YAML path")
        chip = load_chip(args.name)
        sys.stdout.write(json.dumps(chip.model_dump(mode="json"), indent=2) + "\n")
        return 0
    table = Table(title="bundled chip profiles (peaks are dense, per unit; figures: sourced / "
                  "estimated / calibrated)", title_justify="left")
    for col in ("name", "unit", "instances", "clock MHz", "peak TOPS by precision",
                "DRAM GB/s", "on-chip SRAM", "figures src/est/cal",
                "validated"):
        table.add_column(col)
    for name in bundled_profiles():
        chip = load_chip(name)
        sram = ", ".join(f"{m.name} {m.capacity_bytes.value / 2**20:g} MiB ({m.scope})"
                         for m in chip.memory if m.kind == "sram")
        counts = chip.provenance_counts()
        figures = "/".join(str(counts[k]) for k in ("source", "estimated", "calibrated"))
        validated = ("yes" if chip.is_validated else "no") if chip.validation else "not stated"
        for i, u in enumerate(chip.ordered_units):
            peaks = " ".join(f"{p.value}:{u.peak_tops(p):.1f}" for p in u.precisions)
            first = i == 0
            table.add_row(escape(name) if first else "", u.name, f"{u.count.value:g}",
                          f"{u.clock_MHz.value:g}", peaks,
                          f"{chip.dram.bandwidth_GBps.value:g}" if first else "",
                          sram if first else "", figures if first else "",
                          validated if first else "")
    console.print(table)
    return 0


def _zoo(args: argparse.Namespace, console: Console) -> int:
    from npusim import zoo
    if args.action == "list":
        table = Table(title="model zoo (npusim zoo export NAME -o FILE.onnx)",
                      title_justify="left")
        table.add_column("name")
        table.add_column("description")
        for name in zoo.names():
            table.add_row(name, zoo.describe(name))
        console.print(table)
        return 0
    if not args.name or not args.output:
        raise NpusimError("npusim zoo export: give a NAME and -o FILE.onnx")
    outputs.check_outputs(args.output)
    model = zoo.build(args.name, weights=args.weights)
    import onnx
    with outputs.atomic_path(args.output) as tmp:
        onnx.save(model, tmp)
    console.print(f"wrote {args.output} ({args.name}, {len(model.graph.node)} nodes)")
    return 0


def _write(path: str, text: str) -> None:
    outputs.write_text(path, text)


def main_exit() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    main_exit()
