"""The `npusim memory` subcommand: the chip's memory hierarchy and where every tensor lives.
`--at LAYER` lists what is resident while it runs; --trace, --plot and --json write files.
"""

from __future__ import annotations

import argparse
import json
import re

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from npusim import outputs
from npusim.cli_args import add_fusion_args, add_model_args, precisions_of
from npusim.cli_types import count
from npusim.cost import short_name
from npusim.errors import NpusimError
from npusim.report.tables import format_bytes as _bytes
from npusim.report.tables import summary_line
from npusim.schedule.memory_map import MemoryMap, Placement


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_args(p)
    add_fusion_args(p)
    p.add_argument("--at", metavar="LAYER",
                   help="show only what is resident while LAYER (an ONNX node name) runs")
    p.add_argument("--level", metavar="NAME", help="show only this memory level")
    p.add_argument("--limit", type=count, default=0, metavar="N",
                   help="print at most N tensor rows (0: all)")
    p.add_argument("--json", metavar="FILE", help="write the whole memory map as JSON")
    p.add_argument("--trace", metavar="FILE", help="write a Chrome trace (Perfetto)")
    p.add_argument("--plot", metavar="FILE", help="write the memory-over-time picture "
                   "(.png or .svg)")


def main(args: argparse.Namespace, console: Console) -> int:
    from npusim import api
    outputs.check_outputs(args.json, args.trace, args.plot,
                          inputs=(args.model, args.chip, args.precision_map))
    if args.plot and not args.plot.lower().endswith((".png", ".svg")):
        raise NpusimError(f"plot '{args.plot}': use a .png or .svg file name")
    mm = api.memory_layout(args.model, args.chip, shapes=args.shapes, precision=args.precision,
                           fusion=args.fusion, objective=args.objective,
                           outputs=getattr(args, "outputs", None),
                           precisions=precisions_of(args))
    if args.level:
        mm.level(args.level)  # an unknown level is a user error naming the known ones
    if args.at:
        mm.window(args.at)  # likewise an unknown layer, before anything is printed
    tl = mm.timeline
    console.print(escape(summary_line(api.report(tl))))
    console.print(escape(f"throughput with frames in flight: bottleneck {tl.bottleneck}; "
                         f"DMA hidden behind compute {100 * tl.dma_hidden_fraction:.0f}%"))
    console.print(hierarchy_table(mm))
    if args.at:
        start, end = mm.window(args.at)
        rows = mm.resident_during(args.at, args.level)
        title = (f"resident while {args.at} runs [{start * 1e3:.3f}, {end * 1e3:.3f}) us "
                 f"({len(rows)} buffers, {sum(p.size_bytes for p in rows)} bytes)")
    else:
        rows = tuple(p for p in mm.placements if args.level in (None, p.level))
        title = f"tensors ({len(rows)} buffers)"
    console.print(tensor_table(rows, title, args.limit))
    if args.json:
        _write(args.json, json.dumps(mm.to_dict(), indent=1, sort_keys=True) + "\n")
    if args.trace:
        from npusim.report.trace import write_trace
        with outputs.atomic_path(args.trace) as tmp:
            write_trace(tl, mm, tmp)
    if args.plot:
        from npusim.report.plots import plot_memory
        with outputs.atomic_path(args.plot) as tmp:
            plot_memory(mm, tmp, args.level)
    return 0


def hierarchy_table(mm: MemoryMap) -> Table:
    t = Table(title="memory hierarchy", title_justify="left")
    for col in ("level", "kind", "scope", "unit", "capacity", "GB/s", "align", "buffers",
                "peak", "peak at us", "arena", "fragm.", "padding"):
        t.add_column(col, justify="left" if col in ("level", "kind", "scope", "unit")
                     else "right")
    for lv in mm.levels:
        t.add_row(lv.name, lv.kind, lv.scope, lv.unit or "-", _bytes(lv.capacity_bytes),
                  f"{lv.bandwidth_GBps:g}", str(lv.alignment_bytes), str(lv.buffers),
                  _bytes(lv.peak_bytes), f"{lv.peak_at_ms * 1e3:.3f}", _bytes(lv.arena_bytes),
                  f"{100 * lv.fragmentation:.1f}%", _bytes(lv.padding_bytes))
    return t


def tensor_table(rows: tuple[Placement, ...], title: str, limit: int = 0) -> Table:
    t = Table(title=escape(title), title_justify="left")
    for col in ("buffer", "kind", "level", "address", "size", "padding", "from us", "to us",
                "used by"):
        t.add_column(col, justify="right" if col in ("size", "padding", "from us", "to us")
                     else "left")
    shown = rows[:limit] if limit else rows
    for p in shown:
        t.add_row(escape(p.name), p.kind + (" (spilled)" if p.spilled else ""), p.level,
                  f"0x{p.address:08x}", str(p.size_bytes), str(p.padding_bytes),
                  f"{p.start_ms * 1e3:.3f}", f"{p.end_ms * 1e3:.3f}",
                  escape(_short(p.group)) if p.group else "-")
    if limit and len(rows) > limit:
        t.caption = f"{len(rows) - limit} more rows (--limit 0 shows all)"
    return t






def _write(path: str, text: str) -> None:
    outputs.write_text(path, text)


def _short(group: str) -> str:
    """A group (by its name, ONNX node names joined by + and ||) as `first ... last (+N)`."""
    return short_name([m for m in re.split(r"\+|\|\|", group.replace("(", "").replace(")", ""))
                       if m], 40)
