"""The `npusim numerics` subcommand: table, JSON, and errors for user mistakes."""

from __future__ import annotations

import argparse
import io
import json

import numpy as np
import onnx
import pytest
from rich.console import Console

from npusim.errors import NpusimError
from npusim.numerics import cli
from test_analysis import _sensitive_model


def _run(argv):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    out = io.StringIO()
    code = cli.main(parser.parse_args(argv), Console(file=out, width=200))
    return code, out.getvalue()


def test_cli_prints_table_and_writes_json(tmp_path):
    onnx.save(_sensitive_model(), tmp_path / "m.onnx")
    np.savez(tmp_path / "x.npz", x=np.ones((1, 4, 8, 8), np.float32))
    code, text = _run([str(tmp_path / "m.onnx"), "--inputs", str(tmp_path / "x.npz"),
                       "--json", str(tmp_path / "r.json")])
    assert code == 0 and "conv2" in text and "SQNR" in text
    assert json.loads((tmp_path / "r.json").read_text())["layers"]


def test_cli_user_mistakes_raise_npusim_errors(tmp_path):
    onnx.save(_sensitive_model(), tmp_path / "m.onnx")
    with pytest.raises(NpusimError, match="does not exist"):
        _run([str(tmp_path / "m.onnx"), "--inputs", str(tmp_path / "missing.npz")])
    np.savez(tmp_path / "bad.npz", nope=np.ones((1, 4, 8, 8), np.float32))
    with pytest.raises(NpusimError, match="needs input 'x'"):
        _run([str(tmp_path / "m.onnx"), "--inputs", str(tmp_path / "bad.npz")])
    np.savez(tmp_path / "shape.npz", x=np.ones((1, 4, 9, 9), np.float32))
    with pytest.raises(NpusimError, match="shape"):
        _run([str(tmp_path / "m.onnx"), "--inputs", str(tmp_path / "shape.npz")])
