"""Profile validation at the edge: physical bounds with the field path, YAML read safely and
within limits, and `extends:` confined to the bundled profiles and the user's own folder."""

from __future__ import annotations

import pytest

from npusim.errors import NpusimError, ProfileError
from npusim.hw import bundled_profiles, load_chip, profiles_dir
from npusim.hw.yaml_file import MAX_ALIASES, MAX_DEPTH, read_yaml

J5 = (profiles_dir() / "j5.yaml").read_text()


def _j5_with(tmp_path, old: str, new: str):
    assert old in J5
    path = tmp_path / "chip.yaml"
    path.write_text(J5.replace(old, new, 1))
    return path


@pytest.mark.parametrize("old, new, message", [
    ("clock_MHz: {value: 1000,", "clock_MHz: {value: 0,",
     "compute_units[bpu].clock_MHz: must be > 0, got 0"),
    ("bandwidth_GBps: {value: 68.3,", "bandwidth_GBps: {value: 0,",
     "memory[ddr].bandwidth_GBps: must be > 0, got 0"),
    ("bandwidth_GBps: {value: 68.3,", "bandwidth_GBps: {value: -.inf,",
     "memory[ddr].bandwidth_GBps: must be a finite number, got -inf"),
    ("efficiency: {value: 0.8,", "efficiency: {value: 1.01,",
     "memory[ddr].efficiency: must be at most 1, got 1.01"),
    ("count: {value: 8,", "count: {value: 7.5,",
     "compute_units[cpu].count: must be a whole number, got 7.5"),
    ("setup_us: {value: 0.25,", "setup_us: {value: -0.25,",
     "compute_units[bpu].dma.setup_us: must be >= 0, got -0.25"),
    ("weight_block_channels: {value: 64,", "weight_block_channels: {value: 0,",
     "compute_units[bpu].fusion.weight_block_channels: must be >= 1, got 0"),
    ("capacity_bytes: {value: 17179869184,", "capacity_bytes: {value: 1.0e20,",
     "memory[ddr].capacity_bytes: must be at most"),
    ("channel_align: 1", "channel_align: 0", "layouts[0].channel_align: Input should be "
     "greater than 0"),
])
def test_a_number_outside_physics_names_its_field(tmp_path, old, new, message):
    with pytest.raises(ProfileError) as e:
        load_chip(_j5_with(tmp_path, old, new))
    assert message in str(e.value)


def test_edge_values_physics_allows_are_kept(tmp_path):
    body = J5.replace("efficiency: {value: 0.8,", "efficiency: {value: 1,", 1)
    body = body.replace("op_overhead_us: {value: 1.0,", "op_overhead_us: {value: 0,", 1)
    (tmp_path / "c.yaml").write_text(body)
    chip = load_chip(tmp_path / "c.yaml")
    assert chip.dram.efficiency.value == 1 and chip.unit("bpu").op_overhead_us.value == 0


@pytest.mark.parametrize("name", sorted(bundled_profiles()))
def test_every_bundled_profile_passes_the_bounds(name):
    assert load_chip(name).name


def test_anchors_within_the_limit_load_and_one_more_is_refused(tmp_path):
    ok = tmp_path / "ok.yaml"
    ok.write_text("a: &v 1\nb: [" + ", ".join(["*v"] * MAX_ALIASES) + "]\n")
    assert read_yaml(ok, "file") == {"a": 1, "b": [1] * MAX_ALIASES}
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: &v 1\nb: [" + ", ".join(["*v"] * (MAX_ALIASES + 1)) + "]\n")
    with pytest.raises(NpusimError, match="alias references"):
        read_yaml(bad, "file")


def test_nesting_within_the_limit_loads(tmp_path):
    depth = MAX_DEPTH - 1
    path = tmp_path / "n.yaml"
    path.write_text("[" * depth + "1" + "]" * depth)
    node = read_yaml(path, "file")
    for _ in range(depth - 1):
        node = node[0]
    assert node == [1]


def test_no_yaml_tag_runs_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for tag in ("!!python/object/apply:os.system ['touch pwned']",
                "!!python/object/new:subprocess.Popen [['touch', 'pwned']]",
                "!!python/name:os.system"):
        path = tmp_path / "p.yaml"
        path.write_text(f"name: {tag}\n")
        with pytest.raises(ProfileError, match="could not determine a constructor"):
            load_chip(path)
    assert not (tmp_path / "pwned").exists()


def test_extends_reaches_bundled_profiles_and_files_in_the_users_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "base.yaml").write_text("extends: j5\nname: base\n")
    (tmp_path / "sub" / "mid.yaml").write_text("extends: ../base.yaml\nname: mid\n")
    (tmp_path / "top.yaml").write_text("extends: sub/mid.yaml\nname: top\n")
    chip = load_chip(tmp_path / "top.yaml")
    assert chip.name == "top" and chip.unit("bpu").count.value == 2


def test_extends_may_not_climb_out_of_the_users_folder(tmp_path):
    (tmp_path / "outside.yaml").write_text(J5)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "top.yaml").write_text("extends: ../outside.yaml\n")
    with pytest.raises(ProfileError, match="extends '../outside.yaml' leaves the folder"):
        load_chip(tmp_path / "mine" / "top.yaml")


def test_extends_is_never_read_from_the_working_directory(tmp_path, monkeypatch):
    # a relative base is taken from the extending file's folder only, not from where npusim runs
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cwd" / "base.yaml").write_text(J5)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "top.yaml").write_text("extends: base.yaml\n")
    monkeypatch.chdir(tmp_path / "cwd")
    with pytest.raises(ProfileError, match="no such profile"):
        load_chip(tmp_path / "mine" / "top.yaml")
