"""`npusim pipeline SPEC.yaml`: several models on one chip, the table, --json, --trace,
--search over the bindings and batches a spec leaves `auto`, --schema."""

from __future__ import annotations

import argparse
import json

from npusim import outputs


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?", help="pipeline spec (YAML); see examples/pipelines/")
    p.add_argument("--frames", type=int, help="frames to simulate (default: the spec's)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--trace", metavar="FILE", help="write one Chrome / Perfetto trace: a "
                   "track per unit and DMA channel across models, DRAM bandwidth counter")
    p.add_argument("--html", metavar="FILE", help="write the pipeline page of the HTML "
                   "report (self-contained)")
    p.add_argument("--search", action="store_true", help="try the unit bindings and batches "
                   "the spec leaves `auto`; print the Pareto of end-to-end latency vs "
                   "throughput")
    p.add_argument("--jobs", type=int, default=1, help="--search: joblib workers (-1: all cores)")
    p.add_argument("--backend", choices=("loky", "dask"), default="loky",
                   help="--search: local processes (loky) or a Dask cluster (dask)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="--search --backend dask: the Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--schema", action="store_true", help="print the spec's JSON Schema")


def main(args: argparse.Namespace, console) -> int:
    from npusim.errors import NpusimError
    from npusim.pipeline.spec import spec_schema
    if args.schema:
        text = json.dumps(spec_schema(), indent=2, sort_keys=True) + "\n"
        if args.json:
            outputs.check_outputs(args.json)
            outputs.write_text(args.json, text)
        else:
            console.file.write(text)
        return 0
    if not args.spec:
        raise NpusimError("pipeline: give a spec file (or --schema)")
    outputs.check_outputs(args.json, args.trace, args.html, inputs=(args.spec,))
    if args.search:
        from npusim.pipeline.search import pareto_table, search
        if args.jobs == 0:
            raise NpusimError("pipeline: --jobs 0 runs nothing: give N >= 1 workers, or -1 for all cores")
        points = search(args.spec, args.frames, args.jobs, args.backend, args.scheduler)
        pareto_table(points, console)
        if args.json:
            outputs.write_text(args.json, json.dumps(
                [p.to_dict() for p in points], indent=2, sort_keys=True) + "\n")
        return 0
    from npusim.pipeline.results import summary, table
    from npusim.pipeline.run import run_file
    result = run_file(args.spec, args.frames)
    doc = summary(result)
    table(doc, console)
    if args.json:
        outputs.write_text(args.json, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    if args.trace:
        from npusim.pipeline.trace import trace_text
        outputs.write_text(args.trace, trace_text(result))
    if args.html:
        from npusim.pipeline.html import render_pipeline_html
        outputs.write_text(args.html, render_pipeline_html(result, doc))
    return 0
