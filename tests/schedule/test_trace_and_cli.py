"""Chrome trace of ResNet-50 on J5 against the Trace Event format, the `memory` command,
the memory picture, and byte-identical output for identical inputs."""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import pytest
from rich.console import Console

import npusim
from npusim.errors import NpusimError
from npusim.report.plots import plot_memory
from npusim.report.trace import trace_events, write_trace
from npusim.api import memory_layout
from npusim.report import memory_cli as cli


@pytest.fixture(scope="module")
def r50_j5():
    return memory_layout("zoo:resnet50", "j5")


def trace_format_problems(trace: dict) -> list[str]:
    """The Trace Event format (Google's spec, as Perfetto reads it): a `traceEvents` list;
    X events with name, integer pid/tid, ts and dur >= 0 in microseconds; C events with
    numeric args; M events naming processes and threads; per thread, X events never
    partially overlap (Perfetto draws nested slices only)."""
    problems = []
    if not isinstance(trace.get("traceEvents"), list):
        return ["no traceEvents list"]
    slices = defaultdict(list)
    named_threads, named_processes = set(), set()
    for i, e in enumerate(trace["traceEvents"]):
        ph = e.get("ph")
        if ph not in ("X", "C", "M"):
            problems.append(f"event {i}: phase {ph!r}")
            continue
        if not isinstance(e.get("name"), str) or not e["name"]:
            problems.append(f"event {i}: no name")
        if not isinstance(e.get("pid"), int) or not isinstance(e.get("tid"), int):
            problems.append(f"event {i}: pid/tid not integers")
        if ph == "M":
            if e["name"] == "thread_name":
                named_threads.add((e["pid"], e["tid"]))
            if e["name"] == "process_name":
                named_processes.add(e["pid"])
            if "args" not in e:
                problems.append(f"event {i}: metadata without args")
            continue
        if not isinstance(e.get("ts"), int | float) or e["ts"] < 0:
            problems.append(f"event {i}: bad ts")
        if ph == "X":
            if not isinstance(e.get("dur"), int | float) or e["dur"] < 0:
                problems.append(f"event {i}: bad dur")
            slices[(e["pid"], e["tid"])].append((e["ts"], e["ts"] + e["dur"]))
        if ph == "C" and not all(isinstance(v, int | float) for v in e.get("args", {}).values()):
            problems.append(f"event {i}: counter args not numeric")
    for key, spans in slices.items():
        if key not in named_threads:
            problems.append(f"thread {key} has no thread_name")
        spans.sort()
        for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
            if b0 < a1 - 1e-9 and b1 > a1 + 1e-9:
                problems.append(f"thread {key}: slices overlap partially at {b0}")
    for pid in {k[0] for k in slices}:
        if pid not in named_processes:
            problems.append(f"process {pid} has no process_name")
    return problems


def test_resnet50_j5_trace_is_valid(r50_j5, tmp_path):
    path = tmp_path / "t.json"
    write_trace(r50_j5.timeline, r50_j5, path)
    trace = json.loads(path.read_text())
    assert trace_format_problems(trace) == []
    events = trace["traceEvents"]
    names = {e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    # a thread per BPU core and per DMA channel; a process per memory space
    assert {"bpu#0", "bpu#1", "bpu.dma#0 (DMA)", "bpu.dma#1 (DMA)"} <= names
    procs = {e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    assert {"memory: sram", "memory: ddr"} <= procs
    assert any(e["ph"] == "C" and e["name"] == "sram occupancy" for e in events)
    # compute slices are named by ONNX node names; the end of the last one is the latency
    graph = npusim.load("zoo:resnet50", zoo_weights="light")
    nodes = {n.name for n in graph.nodes}
    compute = [e for e in events if e.get("cat") == "compute"]
    assert all(set(e["args"]["nodes"]) <= nodes for e in compute)
    end_us = max(e["ts"] + e["dur"] for e in events if e["ph"] == "X" and e["pid"] == 1)
    assert end_us == pytest.approx(r50_j5.timeline.latency_ms * 1e3, abs=2e-3)


def test_outputs_are_deterministic(tmp_path):
    a, b = (memory_layout("zoo:resnet18", "orin-agx-dla") for _ in range(2))
    assert json.dumps(trace_events(a.timeline, a)) == json.dumps(trace_events(b.timeline, b))
    assert a.to_dict() == b.to_dict()
    plot_memory(a, tmp_path / "a.svg")
    plot_memory(b, tmp_path / "b.svg")
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()


def test_plot_png_and_svg(r50_j5, tmp_path):
    plot_memory(r50_j5, tmp_path / "m.png")
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plot_memory(r50_j5, tmp_path / "ddr.svg", level="ddr")
    assert b"<svg" in (tmp_path / "ddr.svg").read_bytes()[:500]
    with pytest.raises(NpusimError, match="png or .svg"):
        plot_memory(r50_j5, tmp_path / "m.jpg")


def _run(argv, width=250):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    console = Console(width=width, record=True)
    code = cli.main(parser.parse_args(argv), console)
    return code, console.export_text()


def test_memory_command_prints_hierarchy_and_tensors(tmp_path):
    code, out = _run(["zoo:resnet18", "--chip", "j5", "--json", str(tmp_path / "m.json"),
                      "--trace", str(tmp_path / "t.json"), "--plot", str(tmp_path / "m.png")])
    assert code == 0
    assert "memory hierarchy" in out and "sram" in out and "4.00 MiB" in out
    assert "/conv1/Conv" in out
    data = json.loads((tmp_path / "m.json").read_text())
    assert {lv["name"] for lv in data["levels"]} == {"sram", "ddr"}
    assert (tmp_path / "t.json").exists() and (tmp_path / "m.png").exists()


def test_memory_command_at_a_layer():
    code, out = _run(["zoo:resnet18", "--chip", "j5", "--at", "/layer1/layer1.0/conv1/Conv"])
    assert code == 0 and "resident while /layer1/layer1.0/conv1/Conv runs" in out


def test_unknown_layer_is_a_user_error_naming_it():
    with pytest.raises(NpusimError, match="no layer named '/nope/Conv'"):
        _run(["zoo:resnet18", "--chip", "j5", "--at", "/nope/Conv"])


def test_queries(r50_j5):
    mm = r50_j5
    assert [lv.name for lv in mm.hierarchy()] == ["sram", "ddr"]
    peak, at = mm.peak("sram")
    assert 0 < peak <= 4 * 2**20
    live_at_peak = sum(p.size_bytes for p in mm.resident_at(at, "sram"))
    assert live_at_peak == peak
    assert max(b for _, b in mm.occupancy("sram")) == peak
    assert sum(mm.ddr_bytes_by_tensor().values()) == mm.ddr_bytes
    assert mm.ddr_bytes_by_tensor()["input"] >= 150528  # 224 x 224 x 3 int8
    assert {p.level for p in mm.tensor("input")} >= {"ddr"}
    assert set(mm.padding_overhead()) == {"sram", "ddr"}
    with pytest.raises(NpusimError, match="no tensor named 'nope'"):
        mm.tensor("nope")
    with pytest.raises(NpusimError, match="no memory level 'l9'"):
        mm.level("l9")
