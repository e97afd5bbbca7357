"""The HTML report with --inputs carries the accuracy-vs-latency chart of the precision
search: the points, the Pareto front and the chosen map, for a float model at int8."""

from __future__ import annotations

import re

import numpy as np

from npusim.cli import main
from tests.numerics.numerics_oracle import sensitive_model


def test_report_has_the_tradeoff_panel(tmp_path, capsys):
    import onnx
    onnx.save(sensitive_model(), tmp_path / "m.onnx")
    x = np.random.default_rng(0).standard_normal((1, 4, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    out = tmp_path / "r.html"
    assert main(["report", str(tmp_path / "m.onnx"), "--chip", "j5", "--inputs",
                 str(tmp_path / "x.npz"), "-o", str(out)]) == 0
    page = out.read_text()
    assert 'id="tradeoff"' in page and "Accuracy vs latency" in page
    table = page.split('id="tradeoff-table"')[1].split("</table>")[0]
    labels = re.findall(r"<tr><td>([^<]+)</td>", table)
    # all int8, each of the three convs moved in turn (the worst first), all int16
    assert labels[0] == "all int8" and labels[-1] == "all int16" and len(labels) >= 4
    assert table.count(">chosen<") == 1
    capsys.readouterr()
    # without inputs: no numerics, no trade-off panel
    assert main(["report", str(tmp_path / "m.onnx"), "--chip", "j5", "-o", str(out)]) == 0
    assert 'id="tradeoff"' not in out.read_text()
