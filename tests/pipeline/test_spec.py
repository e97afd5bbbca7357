"""Pipeline spec errors name the file and the key; YAML is read safely; paths are relative
to the spec."""

from __future__ import annotations

import textwrap

import pytest

from npusim.pipeline.run import run_file
from npusim.pipeline.spec import PipelineError, load_spec, spec_schema

GOOD = """
chip: j5
models:
  - name: cam
    model: zoo:resnet18
    zoo_options: {size: 32}
    unit: bpu0
    rate_hz: 30
  - name: head
    model: zoo:resnet18
    zoo_options: {size: 32}
    unit: bpu1
    after: [cam]
"""


def _write(tmp_path, text, name="p.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_good_spec_loads_in_dependency_order(tmp_path):
    spec, root = load_spec(_write(tmp_path, GOOD))
    assert [m.name for m in spec.order] == ["cam", "head"]
    assert [m.name for m in spec.sinks] == ["head"] and root == tmp_path.resolve()


@pytest.mark.parametrize("edit, message", [
    (("rate_hz: 30", "rate_hz: 30\n    bacth: 2"), r"models\[cam\]\.bacth: unknown key \(did you mean 'batch'\?\)"),
    (("after: [cam]", "after: [cma]"), r"unknown entry 'cma' \(did you mean 'cam'\?\)"),
    (("after: [cam]", "after: [cam]\n    rate_hz: 10"), r"models\[head\]: .*not both"),
    (("unit: bpu0", "unit: [bpu0, bpu0]"), r"models\[cam\]\.unit: .*twice"),
    (("unit: bpu0", "unit: [bpu0, bpu1]\n    replicas: 3"), r"replicas 3 but 2 units"),
    (("rate_hz: 30", "rate_hz: 30\n    streams: 6\n    batch: 4"), r"batch 4 must divide streams 6"),
    (("rate_hz: 30", "rate_hz: -1"), r"models\[cam\]\.rate_hz: .*greater than 0"),
    (("name: head", "name: cam"), r"model names repeat"),
    (("unit: bpu0", "unit: bpu0\n    precision: int9"), r"models\[cam\]\.precision: Input should be .*'int8'"),
    (("chip: j5", "chip: j5\nframe: 3"), r"frame: unknown key \(did you mean 'frames'\?\)"),
])
def test_spec_errors_name_the_key(tmp_path, edit, message):
    path = _write(tmp_path, GOOD.replace(*edit, 1))
    with pytest.raises(PipelineError, match=message) as err:
        load_spec(path)
    assert "p.yaml" in str(err.value)


def test_a_cycle_is_refused(tmp_path):
    text = GOOD.replace("rate_hz: 30", "after: [head]")
    with pytest.raises(PipelineError, match="cycle"):
        load_spec(_write(tmp_path, text))


def test_unknown_unit_is_named_at_run_time(tmp_path):
    with pytest.raises(PipelineError, match=r"models\[cam\]\.unit: .*no unit 'bpu2'.*bpu0"):
        run_file(_write(tmp_path, GOOD.replace("unit: bpu0", "unit: bpu2")))


def test_model_paths_are_relative_to_the_spec(tmp_path):
    path = _write(tmp_path, GOOD.replace("model: zoo:resnet18\n    zoo_options: {size: 32}",
                                         "model: nets/cam.onnx", 1))
    with pytest.raises(PipelineError, match=r"models\[cam\]\.model: no file 'nets/cam.onnx' "
                       r"\(paths are relative to the spec file\)"):
        run_file(path)


def test_python_tags_are_not_constructed(tmp_path):
    path = _write(tmp_path, "chip: !!python/object/apply:os.system ['echo hi']\nmodels: []\n")
    with pytest.raises(PipelineError, match="p.yaml"):
        load_spec(path)


def test_a_list_or_a_missing_file_is_refused(tmp_path):
    with pytest.raises(PipelineError, match="YAML mapping"):
        load_spec(_write(tmp_path, "- a\n- b\n"))
    with pytest.raises(PipelineError, match="does not exist"):
        load_spec(tmp_path / "none.yaml")


def test_schema_describes_the_entry_keys():
    entry = spec_schema()["$defs"]["ModelEntry"]["properties"]
    for key in ("name", "model", "shapes", "precision", "unit", "batch", "replicas",
                "rate_hz", "after"):
        assert key in entry
