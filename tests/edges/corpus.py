"""The hostile-input corpus: each case writes its bad input into a folder and gives the argv
that feeds it to npusim. Every case must end in one `npusim: error:` line and exit 2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from npusim.hw import profiles_dir
from tests.edges import models as m


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    make: Callable[[Path], list[str]]   # writes its inputs into the folder, returns the argv
    says: str = ""                       # a phrase the one line must contain


def tiny(d: Path) -> str:
    return m.save(m.tiny_cnn(), d / "tiny.onnx")


def j5_text() -> str:
    return (profiles_dir() / "j5.yaml").read_text()


def profile(d: Path, old: str, new: str, name: str = "chip.yaml") -> str:
    text = j5_text()
    assert old in text, old
    (d / name).write_text(text.replace(old, new, 1))
    return str(d / name)


def sim(chip: str, d: Path, *extra: str) -> list[str]:
    return ["simulate", tiny(d), "--chip", chip, "-q", *extra]


def write(d: Path, name: str, data: str | bytes) -> str:
    p = d / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return str(p)


CLOCK = "clock_MHz: {value: 1000,"
DDR_BW = "bandwidth_GBps: {value: 68.3,"
DDR_EFF = "efficiency: {value: 0.8,"
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


def _p(id: str, old: str, new: str, says: str) -> Case:
    return Case(id, lambda d: ["chips", "show", profile(d, old, new)], says)


def _extends_cycle(d: Path) -> list[str]:
    write(d, "b.yaml", "extends: a.yaml\n")
    return ["chips", "show", write(d, "a.yaml", "extends: b.yaml\n")]


PROFILE_CASES = [
    Case("profile-clock-zero", lambda d: sim(profile(d, CLOCK, "clock_MHz: {value: 0,"), d),
         "compute_units[bpu].clock_MHz: must be > 0, got 0"),
    Case("profile-ddr-bandwidth-zero",
         lambda d: sim(profile(d, DDR_BW, "bandwidth_GBps: {value: 0,"), d),
         "memory[ddr].bandwidth_GBps: must be > 0, got 0"),
    Case("profile-clock-nan", lambda d: sim(profile(d, CLOCK, "clock_MHz: {value: .nan,"), d),
         "clock_MHz: must be a finite number"),
    _p("profile-bandwidth-inf", DDR_BW, "bandwidth_GBps: {value: .inf,", "finite number"),
    _p("profile-clock-huge", CLOCK, "clock_MHz: {value: 1.0e300,", "must be at most"),
    _p("profile-capacity-negative", "capacity_bytes: {value: 4194304,",
       "capacity_bytes: {value: -1,", "memory[sram].capacity_bytes: must be >= 1"),
    _p("profile-efficiency-above-one", DDR_EFF, "efficiency: {value: 1.5,", "at most 1"),
    _p("profile-efficiency-zero", DDR_EFF, "efficiency: {value: 0,", "must be > 0"),
    _p("profile-count-fraction", "count: {value: 2,", "count: {value: 2.5,", "whole number"),
    _p("profile-count-zero", "count: {value: 2,", "count: {value: 0,", "must be >= 1"),
    _p("profile-dma-channels-zero", "dma_channels: {value: 2,", "dma_channels: {value: 0,",
       "dma_channels"),
    _p("profile-overhead-negative", "op_overhead_us: {value: 1.0,",
       "op_overhead_us: {value: -1,", "op_overhead_us: must be >= 0"),
    _p("profile-alignment-zero", "alignment_bytes: {value: 64,", "alignment_bytes: {value: 0,",
       "alignment_bytes"),
    _p("profile-macs-string", "int8: {value: 32768,", "int8: {value: fast,",
       "macs_per_cycle.int8"),
    _p("profile-bare-number", CLOCK + ' estimated: "BPU clock is not published; 1 GHz assumed"}',
       "clock_MHz: 1000", "needs its provenance"),
    _p("profile-typo-field", "clock_MHz:", "clock_mhz:", "did you mean 'clock_MHz'"),
    _p("profile-residue-above-step", "channel_bytes_residues: [0, 16, 32, 64, 128]",
       "channel_bytes_residues: [0, 300]", "below channel_bytes_step"),
    _p("profile-duplicate-level", "  - name: ddr\n", "  - name: sram\n", "names repeat"),
    _p("profile-empty-unit-order", "compute_units:\n", "unit_order: []\ncompute_units:\n",
       "unit_order"),
    Case("profile-binary", lambda d: ["chips", "show", write(d, "b.yaml", bytes(range(256)))],
         "is not UTF-8 text"),
    Case("profile-nul-bytes", lambda d: ["chips", "show", write(d, "n.yaml", "name: a\0b\n")],
         "NUL"),
    Case("profile-billion-laughs", lambda d: ["chips", "show", write(d, "l.yaml", LAUGHS)],
         "alias"),
    Case("profile-deep-nesting", lambda d: ["chips", "show",
                                            write(d, "deep.yaml", "[" * 5000 + "]" * 5000)],
         "nests deeper"),
    Case("profile-python-tag", lambda d: ["chips", "show", write(
        d, "py.yaml", "name: !!python/object/apply:os.system ['touch pwned']\n")],
         "not valid YAML"),
    Case("profile-too-large", lambda d: ["chips", "show", write(
        d, "big.yaml", "# " + "x" * (1 << 20) + "\nname: a\n")], "larger than 1 MiB"),
    Case("profile-duplicate-key", lambda d: ["chips", "show", profile(
        d, "name: j5\n", "name: j5\nname: j6\n")], "names 'name' twice"),
    Case("profile-not-a-mapping", lambda d: ["chips", "show", write(d, "l.yaml", "- a\n- b\n")],
         "must be a YAML mapping"),
    Case("profile-empty", lambda d: ["chips", "show", write(d, "e.yaml", "")],
         "must be a YAML mapping"),
    Case("profile-bad-syntax", lambda d: ["chips", "show", write(d, "s.yaml", "a: [1, 2\n")],
         "not valid YAML at line"),
    Case("profile-extends-cycle", _extends_cycle, "loops back"),
    Case("profile-extends-missing", lambda d: [
        "chips", "show", write(d, "a.yaml", "extends: nowhere.yaml\n")], "no such profile"),
    Case("profile-extends-absolute", lambda d: [
        "chips", "show", write(d, "a.yaml", "extends: /etc/passwd\n")], "not an absolute path"),
    Case("profile-extends-outside", lambda d: [
        "chips", "show", write(d, "a.yaml", "extends: ../../../../etc/hostname\n")],
         "leaves the folder"),
    Case("profile-extends-not-text", lambda d: [
        "chips", "show", write(d, "a.yaml", "extends: [j5]\n")], "'extends' must be"),
    Case("profile-unknown-chip", lambda d: sim("j55", d), "did you mean 'j5'"),
    Case("profile-missing-file", lambda d: sim(str(d / "none.yaml"), d), "does not exist"),
    Case("profile-empty-name", lambda d: sim("", d), "give a chip"),
    Case("profile-is-a-folder", lambda d: sim(str(d), d), "is a folder"),
]


def _extends_symlink(d: Path) -> list[str]:
    outside = d.parent / f"{d.name}-outside.yaml"
    outside.write_text(j5_text())
    (d / "link.yaml").symlink_to(outside)
    return ["chips", "show", write(d, "a.yaml", "extends: link.yaml\n")]


PROFILE_CASES.append(Case("profile-extends-symlink-out", _extends_symlink, "leaves the folder"))


def _model(id: str, build: Callable, says: str) -> Case:
    return Case(id, lambda d: ["simulate", m.save(build(), d / f"{id}.onnx"), "--chip", "j5"],
                says)


def _truncated(d: Path) -> list[str]:
    data = (m.DATA / "small_cnn_dynamo.onnx").read_bytes()
    return ["simulate", write(d, "cut.onnx", data[: len(data) // 2]), "--chip", "j5"]


def _symlinked_weights(d: Path) -> str:
    """External weights whose file is a link to a file outside the model's folder."""
    outside = d.parent / f"{d.name}-secret.bin"
    outside.write_bytes(b"\1" * 576)
    (d / "w.bin").symlink_to(outside)
    return m.external_data(d, "w.bin")


MODEL_CASES = [
    Case("model-missing", lambda d: ["simulate", str(d / "no.onnx"), "--chip", "j5"],
         "does not exist"),
    Case("model-empty-file", lambda d: ["simulate", write(d, "e.onnx", b""), "--chip", "j5"],
         "no graph"),
    Case("model-random-bytes", lambda d: ["simulate", write(d, "r.onnx", bytes(range(256)) * 4),
                                          "--chip", "j5"], "onnx"),
    Case("model-truncated", _truncated, "truncated or corrupt"),
    Case("model-text-file", lambda d: ["simulate", write(d, "t.onnx", "hello, world\n" * 20),
                                       "--chip", "j5"], ""),
    Case("model-is-a-folder", lambda d: ["simulate", str(d), "--chip", "j5"], ""),
    Case("model-unknown-zoo", lambda d: ["simulate", "zoo:resnet5", "--chip", "j5"], "resnet"),
    Case("model-dynamic-dims-unbound", lambda d: ["simulate", m.save(m.dynamic_input(),
                                                  d / "dyn.onnx"), "--chip", "j5"], "--shapes"),
    Case("model-shapes-malformed", lambda d: [*sim("j5", d), "--shapes", "x:1xfoo"], "shape"),
    Case("model-shapes-unknown-input", lambda d: [*sim("j5", d), "--shapes", "nope:1x4x16x16"],
         "nope"),
    _model("model-cycle", m.cycle, ""),
    _model("model-unknown-op", m.unknown_op, "FrobnicateNonexistent"),
    _model("model-custom-domain", m.custom_domain_op, "com.vendor"),
    _model("model-future-opset", m.future_opset, ""),
    _model("model-dangling-output", m.dangling_output, "nobody_makes_this"),
    _model("model-duplicate-producer", m.duplicate_producer, ""),
    Case("model-external-data-dotdot", lambda d: ["simulate", m.external_data(
        d, "../../../../etc/hostname"), "--chip", "j5"], "climbs out of the model's folder"),
    Case("model-external-data-absolute", lambda d: ["simulate", m.external_data(
        d, "/etc/hostname"), "--chip", "j5"], "absolute path"),
    _model("model-short-initializer", m.short_initializer, "holds 10 bytes"),
    Case("model-external-data-symlink-out", lambda d: ["simulate", _symlinked_weights(d),
                                                        "--chip", "j5"], "outside the model's folder"),
    Case("model-external-data-past-end", lambda d: ["simulate", m.external_data_past_end(d),
                                                    "--chip", "j5"], "past the end"),
    _model("onnx-no-nodes", m.no_nodes, ""),
    _model("onnx-overflowing-dims", m.overflowing_dims, ""),
    _model("onnx-negative-dims", m.negative_dims, ""),
    _model("onnx-string-input", m.string_input, ""),
    _model("onnx-long-initializer", m.long_initializer, ""),
    Case("onnx-invalid-utf8-name", lambda d: ["simulate", write(d, "u.onnx",
                                                                m.invalid_utf8_name()),
                                              "--chip", "j5"], "not UTF-8 text"),
    _model("onnx-invalid-utf8-attribute", m.invalid_utf8_attribute, "not UTF-8 text"),
]

def _flag(id: str, argv: list[str], says: str = "") -> Case:
    return Case(id, lambda d: [a.replace("TINY", tiny(d)) for a in argv], says)


FLAG_CASES = [
    _flag("flag-no-command", [], "required"),
    _flag("flag-unknown-command", ["simulat"], "invalid choice"),
    _flag("flag-missing-chip", ["simulate", "TINY"], "--chip"),
    _flag("flag-bad-precision", ["simulate", "TINY", "--chip", "j5", "--precision", "int3"],
          "int3"),
    _flag("flag-bad-fusion", ["plan", "TINY", "--chip", "j5", "--fusion", "magic"], "magic"),
    _flag("flag-bad-objective", ["simulate", "TINY", "--chip", "j5", "--objective", "weighted:x"],
          "weighted"),
    _flag("flag-memory-unknown-layer", ["memory", "TINY", "--chip", "j5", "--at", "nosuch"],
          "nosuch"),
    _flag("flag-memory-unknown-level", ["memory", "TINY", "--chip", "j5", "--level", "l9"],
          "l9"),
    _flag("flag-memory-plot-gif", ["memory", "TINY", "--chip", "j5", "--plot", "m.gif"],
          ".png or .svg"),
    _flag("flag-numerics-no-inputs", ["numerics", "TINY"], "--inputs"),
    _flag("flag-chips-show-no-name", ["chips", "show"], "give a profile"),
    _flag("flag-zoo-export-no-output", ["zoo", "export", "resnet18"], "-o"),
    _flag("flag-report-sqnr-without-inputs", ["report", "TINY", "--chip", "j5", "-o", "r.html",
                                              "--target-sqnr", "30"], "--inputs"),
    _flag("flag-int-not-a-number", ["memory", "TINY", "--chip", "j5", "--limit", "many"],
          "many"),
    _flag("flag-negative-limit", ["memory", "TINY", "--chip", "j5", "--limit", "-5"],
          "negative"),
    _flag("flag-negative-top", ["numerics", "TINY", "--inputs", "x.npz", "--top", "-1"],
          "negative"),
    _flag("flag-nan-target-sqnr", ["numerics", "TINY", "--inputs", "x.npz", "--target-sqnr",
                                   "nan"], "finite"),
    _flag("flag-report-inf-target-sqnr", ["report", "TINY", "--chip", "j5", "-o", "r.html",
                                          "--target-sqnr", "inf"], "finite"),
    _flag("flag-infinite-objective-weight", ["simulate", "TINY", "--chip", "j5", "--objective",
                                             "weighted:inf"], "weighted"),
    _flag("flag-nan-objective-weight", ["simulate", "TINY", "--chip", "j5", "--objective",
                                        "weighted:nan"], "weighted"),
]


def _out(id: str, argv: list[str], says: str = "cannot write") -> Case:
    def make(d: Path) -> list[str]:
        (d / "adir").mkdir()
        return [a.replace("TINY", tiny(d)).replace("DIR", str(d / "adir"))
                .replace("MISSING", str(d / "no" / "such" / "x")) for a in argv]
    return Case(id, make, says)


OUTPUT_CASES = [
    _out("out-simulate-json-dir", ["simulate", "TINY", "--chip", "j5", "--json", "DIR"],
         "is a directory"),
    _out("out-simulate-json-missing-folder", ["simulate", "TINY", "--chip", "j5", "--json",
                                              "MISSING"], "does not exist"),
    _out("out-simulate-csv-proc", ["simulate", "TINY", "--chip", "j5", "--csv", "/proc/x.csv"]),
    _out("out-simulate-trace-dir", ["simulate", "TINY", "--chip", "j5", "--trace", "DIR"]),
    _out("out-simulate-json-is-model", ["simulate", "TINY", "--chip", "j5", "--json", "TINY"],
         "input of this command"),
    _out("out-simulate-json-and-csv-same", ["simulate", "TINY", "--chip", "j5", "--json", "o",
                                            "--csv", "o"], "named twice"),
    _out("out-plan-json-dir", ["plan", "TINY", "--chip", "j5", "--json", "DIR"]),
    _out("out-memory-json-missing-folder", ["memory", "TINY", "--chip", "j5", "--json",
                                            "MISSING"]),
    _out("out-memory-plot-proc", ["memory", "TINY", "--chip", "j5", "--plot", "/proc/m.png"]),
    _out("out-memory-trace-sys", ["memory", "TINY", "--chip", "j5", "--trace", "/sys/t.json"]),
    _out("out-report-dir", ["report", "TINY", "--chip", "j5", "-o", "DIR"]),
    _out("out-chips-schema-missing-folder", ["chips", "schema", "-o", "MISSING"]),
    _out("out-zoo-export-dir", ["zoo", "export", "resnet18", "-o", "DIR"]),
    _out("out-zoo-export-proc", ["zoo", "export", "resnet18", "-o", "/proc/r.onnx"]),
    _out("out-simulate-json-empty-name", ["simulate", "TINY", "--chip", "j5", "--json", "."],
         "give a file name"),
]


def _npz(id: str, arrays: dict | bytes | None, says: str, flag: str = "--inputs") -> Case:
    def make(d: Path) -> list[str]:
        path = d / "in.npz"
        if isinstance(arrays, bytes):
            path.write_bytes(arrays)
        elif arrays is not None:
            np.savez(path, **arrays)
        argv = ["numerics", tiny(d), "--no-layerwise", "--inputs", str(path)]
        if flag == "--calibration":
            np.savez(d / "good.npz", x=X)
            argv = ["numerics", tiny(d), "--no-layerwise", "--inputs", str(d / "good.npz"),
                    "--calibration", str(path)]
        return argv
    return Case(id, make, says)


def _npz_lying_header(d: Path) -> list[str]:
    """An .npy member whose header claims 10^12 floats but holds a few bytes."""
    import io
    import zipfile
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False,
                                               "shape": (10**6, 10**6)})
    with zipfile.ZipFile(d / "lie.npz", "w") as z:
        z.writestr("x.npy", buf.getvalue() + b"\0" * 16)
    return ["numerics", tiny(d), "--inputs", str(d / "lie.npz")]


def _npz_not_npy_member(d: Path) -> list[str]:
    import zipfile
    with zipfile.ZipFile(d / "odd.npz", "w") as z:
        z.writestr("x.txt", "hello")
    return ["numerics", tiny(d), "--inputs", str(d / "odd.npz")]


def _npz_bare_npy(d: Path) -> list[str]:
    np.save(d / "x.npy", X)
    return ["numerics", tiny(d), "--inputs", str(d / "x.npy")]


X = np.zeros((1, 4, 16, 16), np.float32)
NPZ_CASES = [
    _npz("npz-missing", None, "does not exist"),
    _npz("npz-random-bytes", bytes(range(256)) * 4, "never does"),
    _npz("npz-truncated-zip", b"PK\x03\x04" + b"\0" * 40, "not a readable .npz"),
    _npz("npz-object-array", {"x": np.array([{"a": 1}], dtype=object)}, "Python objects"),
    _npz("npz-strings", {"x": np.array(["a", "b"])}, "dtype <U1"),
    _npz("npz-complex", {"x": X.astype(np.complex64)}, "dtype complex64"),
    _npz("npz-nan", {"x": np.full(X.shape, np.nan, np.float32)}, "NaN"),
    _npz("npz-wrong-name", {"y": X}, "'x'"),
    _npz("npz-extra-name", {"x": X, "z": X}, "'z'"),
    _npz("npz-wrong-shape", {"x": X[:, :, :8]}, "shape"),
    _npz("npz-wrong-dtype", {"x": X.astype(np.int64)}, "int64"),
    _npz("npz-empty", {}, "needs input 'x'"),
    _npz("npz-calibration-scalar", {"x": np.float32(1)}, "leading axis", "--calibration"),
    _npz("npz-calibration-empty", {}, "leading axis", "--calibration"),
    Case("npz-lying-header", _npz_lying_header, "corrupt"),
    Case("npz-member-not-npy", _npz_not_npy_member, "not a .npy"),
    Case("npz-bare-npy", _npz_bare_npy, "numpy.savez"),
    Case("npz-is-a-folder", lambda d: ["numerics", tiny(d), "--inputs", str(d)], "folder"),
]


def _sweep(id: str, body: str, says: str, *extra: str) -> Case:
    def make(d: Path) -> list[str]:
        tiny(d)
        return ["sweep", write(d, "spec.yaml", body), "-j", "1", *extra]
    return Case(id, make, says)


GRID = "base_chip: j5\nmodels: [tiny.onnx]\noverrides: {grid: {%s}}\n"
SWEEP_CASES = [
    _sweep("sweep-unknown-path", GRID % "memory.sram.capacity: [1, 2]",
           "did you mean 'capacity_bytes'"),
    _sweep("sweep-unknown-item", GRID % "memory.srma.capacity_bytes: [1, 2]",
           "did you mean 'sram'"),
    _sweep("sweep-billion-points", GRID % ", ".join(
        f"{p}: [{', '.join(str(v) for v in range(1, 11))}]" for p in (
            "compute_units.bpu.clock_MHz", "compute_units.bpu.count",
            "compute_units.bpu.op_overhead_us", "compute_units.cpu.clock_MHz",
            "compute_units.cpu.count", "memory.sram.bandwidth_GBps",
            "memory.ddr.bandwidth_GBps", "memory.sram.capacity_bytes",
            "memory.ddr.alignment_bytes")), "1000000000 points"),
    _sweep("sweep-max-points-exceeded", GRID % "memory.sram.capacity_bytes: [1024, 2048, 4096]",
           "--max-points 3", "--max-points", "2"),
    _sweep("sweep-max-points-zero", GRID % "memory.sram.capacity_bytes: [1024]",
           "--max-points", "--max-points", "0"),
    _sweep("sweep-jobs-zero", "base_chip: j5\nmodels: [tiny.onnx]\n", "runs nothing", "-j",
           "0"),
    _sweep("sweep-empty-grid", "base_chip: j5\nmodels: [tiny.onnx]\noverrides: {grid: {}}\n",
           "empty"),
    _sweep("sweep-bad-fusion", "base_chip: j5\nmodels: [tiny.onnx]\nfusion: [magic]\n",
           "magic"),
    _sweep("sweep-missing-model", "base_chip: j5\nmodels: [none.onnx]\n", "does not exist"),
    _sweep("sweep-value-not-a-number", GRID % "compute_units.bpu.clock_MHz: [fast]",
           "is a number"),
    _sweep("sweep-value-zero-clock", GRID % "compute_units.bpu.clock_MHz: [0]",
           "must be > 0"),
    _sweep("sweep-billion-laughs", LAUGHS, "alias"),
    _sweep("sweep-not-a-mapping", "- j5\n", "must be a mapping"),
    _sweep("sweep-unknown-key", "base_chip: j5\nmodels: [tiny.onnx]\nmodel: x\n",
           "unknown key"),
    _sweep("sweep-python-tag", "base_chip: !!python/object/apply:os.system ['touch pwned']\n",
           "not valid YAML"),
    _sweep("sweep-output-suffix", "base_chip: j5\nmodels: [tiny.onnx]\n", ".csv or .parquet",
           "-o", "out.txt"),
    _sweep("sweep-output-missing-folder", "base_chip: j5\nmodels: [tiny.onnx]\n",
           "does not exist", "-o", "no/such/out.csv"),
    _sweep("sweep-plot-proc", "base_chip: j5\nmodels: [tiny.onnx]\noverrides: {grid: "
           "{memory.sram.capacity_bytes: [1024]}}\n", "cannot write", "--plot", "/proc/p.png"),
]

CASES = PROFILE_CASES + MODEL_CASES + FLAG_CASES + OUTPUT_CASES + NPZ_CASES + SWEEP_CASES
