"""Whole-SoC profiles: `orin-agx` and `j5` address unit instances, and the single-model
views of orin-agx carry the very figures of orin-agx-gpu / orin-agx-dla."""

from __future__ import annotations

import pytest

from npusim.errors import NpusimError, ProfileError
from npusim.hw import load_chip
from npusim.hw.units import select_unit, unit_names


def _figures(chip, rename=None):
    rename = rename or {}
    out = {}
    for path, fig in chip.figures():
        for old, new in rename.items():
            path = path.replace(f"[{old}]", f"[{new}]")
        out[path] = fig.value
    return out


def test_orin_agx_has_gpu_two_dlas_and_cpu_on_one_dram():
    soc = load_chip("orin-agx")
    assert unit_names(soc) == ("gpu", "dla", "cpu", "dla0", "dla1")
    assert [m.name for m in soc.memory if m.kind == "dram"] == ["dram"]
    assert soc.unit("dla").count.value == 2


def test_dla_instance_view_has_the_figures_of_orin_agx_dla():
    view = load_chip("orin-agx@dla1")
    dla = load_chip("orin-agx-dla")
    assert view.unit("dla1").count.value == 1
    assert [u.name for u in view.ordered_units][:2] == ["dla1", "gpu"]
    mine = _figures(view, {"dla1": "dla"})
    theirs = _figures(dla)
    cpu = {p for p in mine if p.startswith("compute_units[cpu]")}
    assert {p: v for p, v in mine.items() if p not in cpu} == theirs


def test_gpu_view_keeps_the_calibrated_gpu_figures():
    view = select_unit(load_chip("orin-agx"), "gpu")
    gpu = load_chip("orin-agx-gpu")
    mine = _figures(view)
    for path, value in _figures(gpu).items():
        assert mine[path] == value, path
    assert view.calibrated_figures() == gpu.calibrated_figures()


def test_j5_cores_are_bpu0_and_bpu1_with_one_core_each():
    j5 = load_chip("j5")
    assert "bpu0" in unit_names(j5) and "bpu1" in unit_names(j5)
    core = load_chip("j5@bpu0").unit("bpu0")
    assert core.count.value == 1 and j5.unit("bpu").count.value == 2
    assert load_chip("j5@bpu0").level("sram").unit == "bpu0"


@pytest.mark.parametrize("ref", ["orin-agx@dla2", "orin-agx@gpu0", "orin-agx@", "j5@tpu"])
def test_unknown_unit_is_refused_with_the_names(ref):
    with pytest.raises(ProfileError, match="orin-agx|j5|PROFILE@UNIT"):
        load_chip(ref)


def test_a_gpu_is_not_split_into_sms():
    with pytest.raises(NpusimError, match="dla0, dla1"):
        load_chip("orin-agx@gpu3")


def test_cli_dla_core_is_unit_dla_n(capsys):
    from npusim.cli import main
    assert main(["simulate", "zoo:resnet18", "--chip", "orin-agx", "--dla-core", "1",
                 "-q"]) == 0
    assert "orin-agx@dla1" in capsys.readouterr().out
    assert main(["simulate", "zoo:resnet18", "--chip", "orin-agx", "--unit", "dla9",
                 "-q"]) == 2


@pytest.mark.parametrize("view, single", [("orin-agx@dla0", "orin-agx-dla"),
                                          ("orin-agx@gpu", "orin-agx-gpu")])
def test_a_view_predicts_what_the_single_model_profile_predicts(view, single):
    from npusim import api
    assert api.simulate("zoo:resnet18", view).totals.latency_ms == \
        api.simulate("zoo:resnet18", single).totals.latency_ms
