"""A pipeline run on j5's two BPU cores: standalone latency kept when alone, bytes conserved
under contention, deterministic JSON, a well-formed trace, the CLI."""

from __future__ import annotations

import json
import textwrap

import pytest

from npusim import api, zoo
from npusim.cli import main
from npusim.pipeline.contention import segments_of
from npusim.pipeline.results import summary
from npusim.pipeline.run import run_file
from npusim.pipeline.trace import pipeline_trace

SPEC = """
chip: j5
frames: {frames}
models:
  - name: cam
    model: zoo:resnet18
    zoo_options: {{size: 32}}
    unit: {cam_unit}
    streams: {streams}
    batch: {batch}
    {cam_source}
  - name: head
    model: zoo:mobilenetv2
    zoo_options: {{size: 32}}
    unit: bpu1
    {head_source}
"""


def _spec(tmp_path, frames=3, cam_unit="bpu0", streams=1, batch=1, cam_source="",
          head_source="after: [cam]"):
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(SPEC.format(**locals())))
    return path


def _alone(model, unit, batch=1):
    graph = zoo.build(model, batch=batch, weights="light", size=32)
    return api.schedule(api.plan(api.prepare(graph, f"j5@{unit}")))


def test_a_lone_frame_takes_the_standalone_latency(tmp_path):
    doc = summary(run_file(_spec(tmp_path, frames=1)))
    cam = _alone("resnet18", "bpu0").latency_ms
    head = _alone("mobilenetv2", "bpu1").latency_ms
    assert doc["models"]["cam"]["latency_ms_p50"] == pytest.approx(cam, abs=1e-6)
    # head waits for cam, then runs alone; the copy between the cores comes first
    assert doc["models"]["cam"]["contention_ms_mean"] == 0.0
    assert doc["models"]["head"]["contention_ms_mean"] == 0.0
    assert doc["end_to_end_ms"][0] > cam + head


def test_no_contention_when_frames_are_far_apart(tmp_path):
    doc = summary(run_file(_spec(tmp_path, frames=4, cam_source="rate_hz: 10")))
    assert all(m["contention_ms_mean"] == 0.0 for m in doc["models"].values())
    assert doc["throughput_fps"] == pytest.approx(10.0, rel=1e-6)


def test_independent_chains_at_other_rates_keep_their_own_frames(tmp_path):
    # cam at 30 Hz and head at 10 Hz, unconnected: head's frame k arrives at k x 100 ms, not
    # with cam's frame k, so the end-to-end latency does not grow with the frame count
    doc = summary(run_file(_spec(tmp_path, frames=8, cam_source="rate_hz: 30",
                                 head_source="rate_hz: 10")))
    assert [c["entries"] for c in doc["chains"]] == [["cam"], ["head"]]
    cam, head = (c["end_to_end_ms_p99"] for c in doc["chains"])
    assert cam == pytest.approx(doc["models"]["cam"]["latency_ms_p99"], abs=1e-6)
    assert head == pytest.approx(doc["models"]["head"]["latency_ms_p99"], abs=1e-6)
    assert doc["end_to_end_ms_p99"] == pytest.approx(max(cam, head), abs=1e-6)
    # one chain (head after cam): the whole pipeline is that chain
    one = summary(run_file(_spec(tmp_path, frames=3)))
    assert len(one["chains"]) == 1
    assert one["chains"][0]["end_to_end_ms_p50"] == one["end_to_end_ms_p50"]


def test_concurrent_sources_share_dram_and_conserve_bytes(tmp_path):
    run = run_file(_spec(tmp_path, frames=6, head_source=""))   # two back-to-back sources
    moved_MB = sum((b - a) * g for a, b, g in run.dram)
    need_MB = sum(sum(s.dram_bytes for s in segments_of(r.timeline)) for r in run.runs) / 1e6
    assert moved_MB == pytest.approx(need_MB, rel=1e-6)
    for r in run.runs:
        assert r.executed.end_ms - r.executed.start_ms >= r.executed.alone_ms - 1e-9
    cap = run.chip.dram.achieved_bandwidth_GBps
    assert max(g for _, _, g in run.dram) <= cap + 1e-9


def test_segments_keep_the_makespan_and_the_dma_bytes():
    tl = _alone("resnet18", "bpu0")
    segs = segments_of(tl)
    assert sum(s.duration_ms for s in segs) == pytest.approx(tl.latency_ms)
    dma = sum(e.nbytes for e in tl.events if e.kind in ("load", "store"))
    assert sum(s.dram_bytes for s in segs) == pytest.approx(dma)


def test_batch_of_the_streams_is_one_run_per_frame(tmp_path):
    one = summary(run_file(_spec(tmp_path, frames=2, streams=4, batch=4)))
    four = summary(run_file(_spec(tmp_path, frames=2, streams=4, batch=1)))
    assert one["models"]["cam"]["runs"] == 2 and four["models"]["cam"]["runs"] == 8
    assert one["models"]["cam"]["items"] == four["models"]["cam"]["items"] == 8


def test_json_is_deterministic(tmp_path):
    a = json.dumps(summary(run_file(_spec(tmp_path, frames=4, head_source=""))),
                   sort_keys=True)
    b = json.dumps(summary(run_file(_spec(tmp_path, frames=4, head_source=""))),
                   sort_keys=True)
    assert a == b


def test_trace_has_a_track_per_lane_and_no_overlap(tmp_path):
    trace = pipeline_trace(run_file(_spec(tmp_path, frames=3, head_source="")))
    names = {e["args"]["name"] for e in trace["traceEvents"]
             if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {"bpu0#0", "bpu0.dma#0 (DMA)", "bpu1#0", "bpu0 runs", "bpu1 runs"} <= names
    tracks: dict[tuple, list] = {}
    for e in trace["traceEvents"]:
        if e["ph"] == "X":
            assert e["dur"] >= 0 and e["name"]
            tracks.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["ts"] + e["dur"]))
    for spans in tracks.values():
        spans.sort()
        assert all(a[1] <= b[0] + 1e-6 for a, b in zip(spans, spans[1:]))
    assert any(e["ph"] == "C" and e["name"] == "DRAM GB/s" for e in trace["traceEvents"])


def test_cli_writes_json_and_trace(tmp_path, capsys):
    spec = _spec(tmp_path, frames=2)
    out, tr = tmp_path / "r.json", tmp_path / "t.json"
    assert main(["pipeline", str(spec), "--json", str(out), "--trace", str(tr)]) == 0
    doc = json.loads(out.read_text())
    assert doc["throughput_fps"] > 0
    assert {"latency_ms_p50", "latency_ms_p99"} <= set(doc["models"]["cam"])
    json.loads(tr.read_text())
    assert "bottleneck" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("chip: j5\nmodels: [{name: a, model: zoo:resnet18, unit: tpu}]\n")
    assert main(["pipeline", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "models[a].unit" in err


def test_html_page_is_self_contained_and_deterministic(tmp_path):
    from npusim.pipeline.html import render_pipeline_html
    run = run_file(_spec(tmp_path, frames=2, head_source=""))
    page = render_pipeline_html(run, summary(run))
    assert page == render_pipeline_html(run, summary(run))
    assert page.count("data:image/svg+xml;base64,") == 2
    assert "<td>cam</td>" in page and "<td>head</td>" in page and "http" not in page
