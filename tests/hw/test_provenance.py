"""The three provenance kinds of a figure (source, estimated, calibrated), their counts per
profile, and the profile-level validation status."""

from __future__ import annotations

import pytest

from npusim.errors import ProfileError
from npusim.hw import Figure, bundled_profiles, load_chip

ROWS = "calibration.csv rows resnet50/orin-agx-gpu, retinanet/orin-agx-gpu"

# 8 figures written out by hand: 4 sourced, 2 estimated, 2 calibrated.
TINY = f"""
name: tiny
description: a hand-counted profile
validation: {{status: unvalidated, note: made up for a test}}
compute_units:
  - name: npu
    kind: npu
    count: {{value: 1, source: "a data sheet"}}
    clock_MHz: {{value: 800, calibrated: "{ROWS}"}}
    macs_per_cycle:
      int8: {{value: 1024, estimated: "a guess"}}
    vector_ops_per_cycle:
      int8: {{value: 64, source: "a data sheet"}}
    op_overhead_us: {{value: 3.0, calibrated: "{ROWS}"}}
memory:
  - name: ddr
    kind: dram
    scope: chip
    capacity_bytes: {{value: 1073741824, source: "a data sheet"}}
    bandwidth_GBps: {{value: 10.0, estimated: "a guess"}}
    alignment_bytes: {{value: 64, source: "a data sheet"}}
"""


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return load_chip(path)


def test_a_figure_may_be_calibrated_on_named_rows():
    fig = Figure(value=5.0, calibrated=ROWS)
    assert fig.is_calibrated and not fig.is_estimated
    assert fig.provenance == "calibrated" and fig.calibrated == ROWS


@pytest.mark.parametrize("kinds", [{}, {"source": "s", "calibrated": "c"},
                                   {"estimated": "e", "calibrated": "c"},
                                   {"source": "s", "estimated": "e", "calibrated": "c"}])
def test_exactly_one_provenance_kind(kinds):
    with pytest.raises(ValueError, match="exactly one of 'source'.*'calibrated'"):
        Figure(value=1.0, **kinds)


def test_provenance_counts_match_the_hand_count(tiny):
    assert dict(tiny.provenance_counts()) == {"source": 4, "estimated": 2, "calibrated": 2}


def test_calibrated_figures_name_their_rows_and_are_not_estimates(tiny):
    assert dict(tiny.calibrated_figures()) == {"compute_units[npu].clock_MHz": ROWS,
                                                "compute_units[npu].op_overhead_us": ROWS}
    assert dict(tiny.estimated_figures()) == {"compute_units[npu].macs_per_cycle.int8": "a guess",
                                               "memory[ddr].bandwidth_GBps": "a guess"}


def test_a_variant_can_replace_a_sourced_figure_by_a_calibrated_one(tmp_path):
    (tmp_path / "cal.yaml").write_text(
        "extends: orin-nano\nname: orin-nano-cal\n"
        "compute_units:\n  - name: gpu\n"
        f"    op_overhead_us: {{value: 7.5, calibrated: '{ROWS}'}}\n")
    base, cal = load_chip("orin-nano"), load_chip(tmp_path / "cal.yaml")
    assert cal.unit("gpu").op_overhead_us.value == 7.5
    assert cal.calibrated_figures() == {**base.calibrated_figures(),
                                        "compute_units[gpu].op_overhead_us": ROWS}
    b, c = base.provenance_counts(), cal.provenance_counts()
    # the base figure is sourced
    assert (c["source"], c["calibrated"]) == (b["source"] - 1, b["calibrated"] + 1)
    assert c["estimated"] == b["estimated"]


def _count_by_walking_the_dump(node, counts):
    """An independent count: every dict with a 'value' and a provenance key is a figure."""
    if isinstance(node, dict):
        if "value" in node:
            counts[next(k for k in ("source", "estimated", "calibrated") if node.get(k))] += 1
            return
        for v in node.values():
            _count_by_walking_the_dump(v, counts)
    elif isinstance(node, list):
        for v in node:
            _count_by_walking_the_dump(v, counts)


@pytest.mark.parametrize("name", sorted(bundled_profiles()))
def test_bundled_counts_agree_with_an_independent_walk(name):
    chip = load_chip(name)
    counts = {"source": 0, "estimated": 0, "calibrated": 0}
    _count_by_walking_the_dump(chip.model_dump(mode="json"), counts)
    assert dict(chip.provenance_counts()) == counts
    assert len(chip.estimated_figures()) == counts["estimated"]


@pytest.mark.parametrize("validation, field", [("{status: checked, note: x}", "status"),
                                               ("{status: validated}", "note")])
def test_validation_needs_a_known_status_and_a_note(tmp_path, validation, field):
    path = tmp_path / "v.yaml"
    path.write_text(TINY.replace("{status: unvalidated, note: made up for a test}", validation))
    with pytest.raises(ProfileError, match=rf"validation\.{field}"):
        load_chip(path)


VALIDATED = {"orin-agx-gpu", "orin-agx-gpu-maxn", "orin-nx-gpu", "orin-nano", "rdk-x5",
             "rdk-s100", "rdk-s100p"}  # the chips calibration.csv has rows for


def test_profiles_with_measurements_are_validated_the_others_say_why_not():
    for name in bundled_profiles():
        chip = load_chip(name)
        assert chip.validation is not None, name
        assert chip.is_validated == (name in VALIDATED), name
        assert chip.validation.note
    for name in ("tda4vm", "ascend-310", "j6e", "j6m", "orin-nano-super"):
        assert load_chip(name).validation.status == "unvalidated"


def test_calibrated_constants_are_chip_level_two_models_share_every_one():
    """Nothing is fitted per model: two different models on a calibrated board are priced
    with the very same profile, whose calibrated figures name the rows they were fitted on."""
    import npusim
    from npusim import api
    chip = load_chip("rdk-x5")
    calibrated = chip.calibrated_figures()
    assert calibrated and all("calibration.csv rows" in rows for rows in calibrated.values())
    a = api.prepare("zoo:resnet18", "rdk-x5")
    b = api.prepare("zoo:mobilenetv2", "rdk-x5")
    assert a.chip.model_dump() == b.chip.model_dump() == chip.model_dump()
    for path in calibrated:
        assert path in {p for p, _ in a.chip.figures()}
    ra, rb = npusim.simulate("zoo:resnet18", "rdk-x5"), npusim.simulate("zoo:mobilenetv2",
                                                                           "rdk-x5")
    used = set(ra.estimated_figures) | set(rb.estimated_figures)
    assert "compute_units[bpu].array.efficiency" not in used  # calibrated, not estimated
