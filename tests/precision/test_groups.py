"""Numerics per fused group: the numerics layers gathered under the plan's fused groups (the
names the latency table prints), so each row has the group's time and its error."""

from __future__ import annotations

import numpy as np

from npusim import api
from npusim.cli import main
from npusim.numerics import run_numerics
from npusim.precision.groups import group_rows

MAP = {"/fc/Gemm": "int16", "/layer3/layer3.0/Add": "int16"}


def test_every_numerics_layer_sits_in_one_group(cnn, cnn_inputs):
    report = api.simulate(cnn, "j5", precisions=MAP, fusion="greedy")
    result = run_numerics(cnn, cnn_inputs, precisions=MAP, layerwise=False)
    rows = group_rows(report, result)
    table = [r for r in report.layers if r.bound_by not in ("view", "runtime")]
    assert [g.name for g in rows] == [r.name for r in table]
    assert [g.latency_ms for g in rows] == [r.latency_ms for r in table]
    placed = [name for g in rows for name in g.layers]
    assert sorted(placed) == sorted(r.name for r in result.layers)  # each exactly once
    for g in rows:
        members = next(r.members for r in table if r.name == g.name)
        for name in g.layers:  # Flatten is a view of the plan: it joins the group before
            assert name in members or name == "/Flatten"
        if g.layers:  # the group's SQNR is that of its last layer, graphwise
            assert g.output_sqnr_db == result.layer(g.layers[-1]).sqnr_db
    fc = next(g for g in rows if "/fc/Gemm" in g.layers)
    assert fc.precision == "int16" and result.layer("/fc/Gemm").precision == "int16"


def test_cli_group_table(tmp_path, cnn, cnn_inputs, capsys):
    import onnx
    onnx.save(cnn, tmp_path / "m.onnx")
    np.savez(tmp_path / "x.npz", **cnn_inputs)
    args = ["numerics", str(tmp_path / "m.onnx"), "--inputs", str(tmp_path / "x.npz"),
            "--no-layerwise", "--keep", "int16:/fc/Gemm"]
    assert main([*args, "--group"]) == 2
    assert "--group needs --chip" in capsys.readouterr().err
    assert main([*args, "--group", "--chip", "j5", "--fusion", "greedy", "--json",
                 str(tmp_path / "n.json")]) == 0
    out = capsys.readouterr().out
    import json
    data = json.loads((tmp_path / "n.json").read_text())
    fc = next(g for g in data["groups"] if g["name"] == "/fc/Gemm")
    assert fc["precision"] == "int16" and fc["layers"] == ["/fc/Gemm"]
    assert sum(len(g["layers"]) for g in data["groups"]) == len(data["layers"])
    assert "numerics per fused group" in out
    grouped = out.split("numerics per fused group")[1]
    row = next(line for line in grouped.splitlines() if line.startswith("│ /fc/Gemm"))
    assert "int16" in row and "bpu" in row


def test_a_group_split_by_the_map_names_both_precisions(cnn, cnn_inputs):
    # on the Orin GPU the fp16 residual Add fuses into the int8 conv before it: the group is
    # priced as its conv (int8) and labelled with the Add's fp16 too
    fp16_add = {"/layer4/layer4.1/Add": "fp16"}
    report = api.simulate(cnn, "orin-agx-gpu", precisions=fp16_add, fusion="greedy")
    result = run_numerics(cnn, cnn_inputs, precisions=fp16_add, layerwise=False)
    rows = group_rows(report, result, fp16_add)
    mixed = [g for g in rows if "/layer4/layer4.1/Add" in g.name]
    assert [g.precision for g in mixed] == ["int8+fp16"]
    assert all(g.precision == "int8" for g in rows if g not in mixed)
    assert [g.precision for g in group_rows(report, result)] == [  # no map: the lead op's
        r.precision for r in report.layers if r.bound_by not in ("view", "runtime")]
