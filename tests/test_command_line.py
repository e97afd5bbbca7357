"""The command line: the main job works, and each user mistake is one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import onnx
import numpy as np
import pytest
from onnx import helper

from npusim.cli import main
from tests.conftest import LIGHT, make_model, vi


def test_simulate_prints_the_table_and_writes_json_csv(tmp_path, capsys, bert_path):
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    rc = main(["simulate", str(bert_path), "--chip", "orin-agx-gpu", "--shapes",
               "input_ids:1x64,attention_mask:1x64", "--precision", "fp16",
               "--json", str(out_json), "--csv", str(out_csv)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "bert_tiny_hf.onnx on orin-agx-gpu (fp16, fusion dp)" in text
    report = json.loads(out_json.read_text())
    # the printed latency is the JSON's, which is the timeline's makespan
    assert f"latency {report['totals']['latency_ms']:.3f} ms" in text
    assert len(report["layers"]) > 20
    assert "LayerNormalization" in {op for x in report["layers"] for op in x["op_types"]}
    header = out_csv.read_text().splitlines()[0]
    assert header.startswith("name,op_types,unit,fallback,precision,start_ms,end_ms,latency_ms")


def test_default_table_fits_120_columns_and_members_lists_every_node(capsys):
    assert main(["simulate", "zoo:resnet50", "--chip", "j5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = [ln for ln in lines if "bpu" in ln]
    assert len(table) >= 5 and max(len(ln.rstrip()) for ln in table) <= 120
    assert any(" ... " in ln and "(+" in ln for ln in table)  # first ... last (+N)
    assert main(["simulate", "zoo:resnet50", "--chip", "j5", "--members"]) == 0
    out = capsys.readouterr().out
    import npusim
    for node in npusim.load("zoo:resnet50", zoo_weights="light").nodes:
        assert node.name[-20:] in out


def test_plan_compare_prints_the_four_strategies(tmp_path, capsys):
    out = tmp_path / "cmp.json"
    assert main(["plan", "zoo:resnet18", "--chip", "j5", "--compare", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for s in ("none", "rules", "greedy", "dp"):
        assert f" {s} " in text
    plans = json.loads(out.read_text())
    assert [p["strategy"] for p in plans] == ["none", "rules", "greedy", "dp"]
    assert plans[3]["latency_ms"] <= min(p["latency_ms"] for p in plans)
    assert "planning" not in out.read_text()  # timing is not reproducible, so not in JSON


def test_plan_json_is_byte_identical(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for path in (a, b):
        assert main(["plan", "zoo:mobilenetv2", "--chip", "orin-agx-dla", "--json",
                     str(path)]) == 0
    assert a.read_bytes() == b.read_bytes()


def test_unknown_objective_is_a_user_error(capsys):
    assert main(["plan", "zoo:resnet18", "--chip", "j5", "--objective", "speed"]) == 2
    assert "unknown objective 'speed'" in capsys.readouterr().err


def test_chips_list_and_schema(tmp_path, capsys):
    assert main(["chips"]) == 0
    assert "orin-agx-dla" in capsys.readouterr().out
    assert main(["chips", "schema", "-o", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["title"] == "Chip"


def _bad_profile(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("extends: j5\nmemory:\n  - name: ddr\n    bandwidth_GBs: {value: 1, source: x}\n")
    return str(p)


def _unsupported_model(tmp_path):
    node = helper.make_node("NonMaxSuppression", ["b", "s"], ["y"], name="nms")
    path = tmp_path / "nms.onnx"
    onnx.save(make_model([node], [vi("b", [1, 10, 4]), vi("s", [1, 1, 10])],
                         [vi("y", [None, 3], 7)]), path)
    return str(path)


def _truncated_model(tmp_path):
    path = tmp_path / "cut.onnx"
    path.write_bytes((LIGHT / "light_squeezenet.onnx").read_bytes()[:3000])
    return str(path)


CASES = {
    "missing file": (lambda t, b: ["simulate", str(t / "none.onnx"), "--chip", "j5"],
                     "does not exist"),
    "truncated file": (lambda t, b: ["simulate", _truncated_model(t), "--chip", "j5"],
                       "cut.onnx"),
    "unsupported op": (lambda t, b: ["simulate", _unsupported_model(t), "--chip", "j5"],
                       "unsupported op: NonMaxSuppression (first at node 'nms')"),
    "unbound dim": (lambda t, b: ["simulate", str(b), "--chip", "j5"],
                    "--shapes input_ids:<batch>x<sequence>"),
    "unknown chip": (lambda t, b: ["simulate", str(b), "--chip", "j9"], "unknown chip 'j9'"),
    "bad profile field": (lambda t, b: ["simulate", str(LIGHT / "light_squeezenet.onnx"),
                                        "--chip", _bad_profile(t)],
                          "memory[ddr].bandwidth_GBs: unknown field (did you mean "
                          "'bandwidth_GBps'?)"),
    "bad flag": (lambda t, b: ["simulate", str(b), "--chip", "j5", "--precision", "int3"],
                 "invalid choice: 'int3'"),
    "token id past the vocabulary": (
        lambda t, b: ["numerics", str(b), "--shapes", "batch=1,sequence=16", "--inputs",
                      _ids(t, 5000)],
        "node '/m/embeddings/word_embeddings/Gather' (Gather) cannot run on these inputs"),
}


def _ids(tmp_path, value):
    path = tmp_path / "ids.npz"
    np.savez(path, input_ids=np.full((1, 16), value, np.int64),
             attention_mask=np.ones((1, 16), np.int64))
    return str(path)


@pytest.mark.parametrize("case", CASES)
def test_user_errors_are_one_line_exit_2(case, tmp_path, bert_path):
    argv, message = CASES[case]
    proc = subprocess.run([sys.executable, "-m", "npusim.cli", *argv(tmp_path, bert_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("npusim: error: ") and message in lines[0]
    assert proc.stdout == ""


def test_zoo_list_and_export(tmp_path, capsys):
    assert main(["zoo", "list"]) == 0
    assert "resnet50" in capsys.readouterr().out
    out = tmp_path / "r18.onnx"
    assert main(["zoo", "export", "resnet18", "-o", str(out)]) == 0
    model = onnx.load(out)
    onnx.checker.check_model(model)
    # torchvision's ResNet-18 with BN: 20 convs, 20 BNs, 17 ReLUs, 8 adds, pool, gap, fc
    assert sum(n.op_type == "Conv" for n in model.graph.node) == 20
    assert sum(n.op_type == "Gemm" for n in model.graph.node) == 1


def test_llm_prints_time_to_first_token_and_tokens_per_s(tmp_path, capsys):
    out = tmp_path / "llm.json"
    assert main(["llm", "zoo:decoder", "--chip", "orin-agx-gpu", "--prompt", "16",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    data = json.loads(out.read_text())
    assert f"time to first token {data['time_to_first_token_ms']:.3f} ms" in text
    assert f"{data['tokens_per_s']:.1f} tokens/s" in text
    assert data["prefill"]["input_shapes"]["input_ids"] == [1, 16]
    assert data["decode"]["input_shapes"]["input_ids"] == [1, 1]
