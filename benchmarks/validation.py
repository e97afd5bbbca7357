"""Predicted vs measured latency. `python benchmarks/validation.py` prints markdown tables:

1. every row of the calibration set (../shared/measurements/calibration.csv beside the project
   root, or --measurements PATH): the model built (zoo, timm, ultralytics, YOLOX-S; the
   `validate` extra), simulated on the row's chip at the row's precision with today's cost
   model, with the median and worst |error| per chip family (Jetson GPU, Horizon BPU);
2. MLPerf rounds on AGX Orin (rules vs dp), the J5 BEV-GKT compiler estimate against the j5
   profile's roofline bound, and the Orin power modes (predictions only).
"""

# Nothing is fitted here: profile figures come from a public document, are marked estimated,
# or were fitted by benchmarks/calibrate.py on calibration.csv rows (`calibrated:` names them).

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import npusim
from npusim.errors import NpusimError
from npusim.hw import Chip, load_chip
from npusim.ir import Precision

ROOT = Path(__file__).resolve().parent.parent
MEASUREMENTS = ROOT.parent / "shared" / "measurements" / "calibration.csv"
CACHE = Path(__file__).resolve().parent / ".cache" / "validation"
FAMILIES = {"gpu": "Jetson GPU", "npu": "Horizon BPU"}

MLPERF = "MLPerf Inference {v} closed, NVIDIA Jetson AGX Orin (Orin_TRT), SingleStream p90"

# (zoo model, measured ms, source): the only measurements this table may use (issue #7).
MEASURED = [  # the AGX Orin rows of calibration.csv
    ("resnet50", 0.640, MLPERF.format(v="v3.1") + ", JetPack 5.1.1, TensorRT 8.5.2"),
    ("retinanet", 11.672, MLPERF.format(v="v3.1") + " (ResNeXt-50 FPN 800x800)"),
]

# Horizon's compiler estimate for BEV-GKT on one Bayes core (FACTS.md): not a measurement.
BEV_GKT_OPS = 34.5e9
BEV_GKT_DDR_BYTES = 17.1e6
BEV_GKT_FPS = 261.7

CHIP = "orin-agx-gpu"          # MAXN, the mode MLPerf submissions run in
POWER_MODES = ["orin-agx-gpu-maxn", "orin-agx-gpu-50w", "orin-agx-gpu-30w", "orin-agx-gpu-15w"]


def predict(model: str, chip: str, strategy: str) -> tuple[float, tuple[str, ...]]:
    """Scheduled latency of one int8 batch-1 frame, and the estimated figures it rests on."""
    report = npusim.simulate(f"zoo:{model}", chip, fusion=strategy)
    return report.totals.latency_ms, tuple(report.estimated_figures)


def error_pct(predicted: float, measured: float) -> float:
    return 100.0 * (predicted - measured) / measured


def mlperf_table() -> tuple[list[str], set[str]]:
    cache: dict[tuple[str, str], tuple[float, tuple[str, ...]]] = {}
    lines = ["| model | measured ms | predicted ms (rules) | error | predicted ms (dp) | error "
             "| source |", "|---|---|---|---|---|---|---|"]
    rests: set[str] = set()
    for model, measured, source in MEASURED:
        row = []
        for strategy in ("rules", "dp"):
            key = (model, strategy)
            if key not in cache:
                cache[key] = predict(model, CHIP, strategy)
            ms, used = cache[key]
            rests.update(used)
            row += [f"{ms:.3f}", f"{error_pct(ms, measured):+.1f}%"]
        lines.append(f"| {model} int8 bs1 | {measured:.3f} | {' | '.join(row)} | {source} |")
    return lines, rests


def j5_table() -> list[str]:
    """The roofline bound the BEV-GKT aggregates imply on one core of the j5 profile: we have
    no BEV-GKT graph, so only the aggregate work and traffic can be compared."""
    chip = load_chip("j5")
    bpu = chip.unit("bpu")
    one_core_ops_per_s = 2 * bpu.macs_per_cycle[Precision.INT8].value * bpu.clock_MHz.value * 1e6
    compute_ms = 1e3 * BEV_GKT_OPS / one_core_ops_per_s
    ddr_ms = 1e3 * BEV_GKT_DDR_BYTES / (chip.dram.achieved_bandwidth_GBps * 1e9)
    bound_ms = max(compute_ms, ddr_ms)
    estimate_ms = 1e3 / BEV_GKT_FPS
    return [
        "| quantity | value |", "|---|---|",
        f"| Horizon compiler estimate, BEV-GKT, 1 Bayes core | {estimate_ms:.3f} ms "
        f"({BEV_GKT_FPS} FPS) |",
        f"| compute bound: 34.5 G ops / one core's int8 peak on the j5 profile "
        f"({one_core_ops_per_s / 1e12:.1f} TOPS) | {compute_ms:.3f} ms |",
        f"| DDR bound: 17.1 MB / achieved DDR bandwidth ({chip.dram.achieved_bandwidth_GBps:.1f}"
        f" GB/s) | {ddr_ms:.3f} ms |",
        f"| roofline bound vs estimate | {bound_ms:.3f} ms, error "
        f"{error_pct(bound_ms, estimate_ms):+.1f}% |",
        f"| average MAC utilization the estimate implies | {100 * compute_ms / estimate_ms:.1f}% |",
    ]


def power_mode_table() -> list[str]:
    lines = ["| profile | resnet50 ms (rules) | retinanet ms (rules) |", "|---|---|---|"]
    for chip in POWER_MODES:
        r = predict("resnet50", chip, "rules")[0]
        n = predict("retinanet", chip, "rules")[0]
        lines.append(f"| {chip} | {r:.3f} | {n:.3f} |")
    return lines


@dataclass(frozen=True)
class Build:
    """How a row's engine was built, where the row's own source says so more exactly than
    calibration.csv's columns: the precision it ran in, the tensors the deployed graph ends
    at (what a vendor's deployment cuts off, or hands to a plugin npusim does not price), and
    the precision of the engine's input and output bindings."""

    source: str
    precision: str | None = None
    outputs: tuple[str, ...] = ()
    io_precision: str | None = None


MLPERF_INT8_INPUT = ("NVIDIA's MLPerf Inference v3.1 closed code (code/{m}/README.md): the "
                     "harness preprocesses the images \"to INT8 NCHW format\": the engine's input "
                     "binding is int8")
RETINANET_HEADS = tuple(f"/head/{head}/{conv}/Conv{level}_output_0"
                        for head, conv in (("classification_head", "cls_logits"),
                                           ("regression_head", "bbox_reg"))
                        for level in ("", "_1", "_2", "_3", "_4"))
RETINANET_ORIN = Build(
    MLPERF_INT8_INPUT.format(m="retinanet") + "; its onnx_generator/create_model_onnx.py ends "
    "the graph at the ten raw head convs (no permute or concat), and on Orin they feed the "
    "RetinaNetNMSPVATRT plugin in int8 (code/plugin/NMSPVAPlugin/README.md: TopK and NMS on one "
    "PVA VPU), which no profile prices", outputs=RETINANET_HEADS, io_precision="int8")

# (model, chip) -> how its engine was built (rows not listed: calibration.csv's columns).
BUILDS = {
    ("efficientformer_l1", "rdk-x5"): Build(
        "rdk_model_zoo demos/classification/EfficientFormer/yaml/"
        "EfficientFormer_l1_config.yaml (and its deploy config): calibration_parameters."
        "optimization set_all_nodes_int16, the attention Softmax on the BPU in int16",
        precision="int16"),
    ("resnet50", "orin-agx-gpu"): Build(MLPERF_INT8_INPUT.format(m="resnet50"),
                                        io_precision="int8"),
    ("resnet50", "orin-nx-gpu"): Build(MLPERF_INT8_INPUT.format(m="resnet50"),
                                       io_precision="int8"),
    ("retinanet", "orin-agx-gpu"): RETINANET_ORIN,
    ("retinanet", "orin-nx-gpu"): RETINANET_ORIN,
}


def with_io_precision(chip: Chip, precision: str | None) -> Chip:
    """`chip` with every unit's builder binding the model's inputs and outputs at
    `precision` (trtexec's --inputIOFormats / --outputIOFormats); None: unchanged."""
    if precision is None:
        return chip
    dump = chip.model_dump(mode="json")
    for unit in dump["compute_units"]:
        if unit.get("build") is not None:
            unit["build"]["io_precision"] = precision
    return Chip.model_validate(dump)


@dataclass(frozen=True)
class Row:
    """One calibration.csv row."""

    model: str
    chip: str
    precision: str
    size: int
    measured_ms: float
    what_is_timed: str

    @property
    def build(self) -> Build | None:
        return BUILDS.get((self.model, self.chip))

    @property
    def built_precision(self) -> str:
        """The precision the measured build ran in (`BUILDS`, else the listed one)."""
        return (self.build and self.build.precision) or self.precision

    @property
    def outputs(self) -> str | None:
        """The tensors the deployed graph ends at, as `simulate(outputs=...)` takes them."""
        return ",".join(self.build.outputs) if self.build and self.build.outputs else None

    def chip_profile(self, chip: Chip | None = None) -> Chip:
        """The row's chip (or `chip`, a fitted variant of it) with the engine's I/O bindings."""
        return with_io_precision(chip or load_chip(self.chip),
                                 self.build.io_precision if self.build else None)

    @property
    def listed_precision(self) -> str:
        """calibration.csv's precision, with the built one where they differ."""
        built = self.built_precision
        return self.precision if built == self.precision else f"{self.precision} (built {built})"


@dataclass(frozen=True)
class Result:
    row: Row
    predicted_ms: float | None
    why_not: str = ""

    @property
    def error_pct(self) -> float | None:
        return None if self.predicted_ms is None else error_pct(self.predicted_ms,
                                                                self.row.measured_ms)


def read_rows(path: Path) -> list[Row]:
    if not path.is_file():
        raise SystemExit(f"validation: measurements file '{path}' not found: the calibration "
                         "set lives in shared/measurements/calibration.csv beside the project "
                         "root; give another with --measurements PATH")
    with path.open(newline="") as f:
        return [Row(r["model"], r["chip"], r["precision"],
                    int(r["input"].split()[0].split("x")[-1]), float(r["measured_ms"]),
                    r["what_is_timed"]) for r in csv.DictReader(f)]


def measured_quantity(row: Row, report) -> float:
    """What the row times. Every row times the whole frame: MLPerf and hrt_model_exec the
    query or task, trtexec's "Latency" (what the Idein table quotes: 10.7 ms fp16, where its
    log's GPU Compute Time is 10.18 ms) the H2D copy + the kernels + the D2H copy, which the
    orin-nano profile's runtime puts on the timeline."""
    return report.totals.latency_ms


def predict_row(row: Row, cache: Path) -> Result:
    """Today's cost model on the row's model, chip and precision (fused dp plan)."""
    from validation_models import cached_model
    try:
        model = cached_model(row.model, row.size, cache)
        report = npusim.simulate(model, row.chip_profile(), precision=row.built_precision,
                                 outputs=row.outputs)
    except ImportError as e:
        return Result(row, None, f"{e.name or e} not installed (pip install -e '.[validate]')")
    except NpusimError as e:
        return Result(row, None, f"npusim: {e}")
    return Result(row, measured_quantity(row, report))


def family(chip: str) -> str:
    kind = load_chip(chip).ordered_units[0].kind
    return FAMILIES.get(kind, kind)


def calibration_table(results: list[Result]) -> list[str]:
    lines = ["| model | chip | precision | measured ms | predicted ms | error | what is timed |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        pred = f"{r.predicted_ms:.3f}" if r.predicted_ms is not None else f"- ({r.why_not})"
        err = f"{r.error_pct:+.1f}%" if r.error_pct is not None else "-"
        lines.append(f"| {r.row.model} | {r.row.chip} | {r.row.listed_precision} | "
                     f"{r.row.measured_ms:g} | {pred} | {err} | {r.row.what_is_timed} |")
    return lines


def family_summary(results: list[Result]) -> list[str]:
    lines = ["| chip family | rows predicted | median abs error | worst abs error |",
             "|---|---|---|---|"]
    by_family: dict[str, list[float]] = {}
    for r in results:
        if r.error_pct is not None:
            by_family.setdefault(family(r.row.chip), []).append(abs(r.error_pct))
    for fam, errs in sorted(by_family.items()):
        lines.append(f"| {fam} | {len(errs)} | {statistics.median(errs):.1f}% | "
                     f"{max(errs):.1f}% |")
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--measurements", type=Path, default=MEASUREMENTS)
    ap.add_argument("--cache", type=Path, default=CACHE, help="exported ONNX files")
    ap.add_argument("--only-calibration", action="store_true",
                    help="print the calibration-set table only")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    results = [predict_row(row, args.cache) for row in read_rows(args.measurements)]
    print(f"## Calibration set ({args.measurements.name}): predicted vs measured, fused dp "
          "plans, the row's precision\n")
    print("\n".join(calibration_table(results)))
    print("\n".join(["", *family_summary(results)]))
    calibrated = sorted({(chip, path) for chip in {r.row.chip for r in results}
                         for path in load_chip(chip).calibrated_figures()})
    print("\nChip-level constants fitted on these rows (`benchmarks/calibrate.py`): "
          + (", ".join(f"`{c}: {p}`" for c, p in calibrated) or "none") + ".\n")
    if args.only_calibration:
        return
    mlperf, rests = mlperf_table()
    print("## Jetson AGX Orin GPU (MAXN), int8, batch 1, MLPerf rounds, rules vs dp\n")
    print("\n".join(mlperf))
    print("\nEstimated profile figures these predictions rest on: "
          + (", ".join(f"`{f}`" for f in sorted(rests)) or "none") + "\n")
    print("## Horizon J5: BEV-GKT compiler estimate vs the j5 profile's roofline bound\n")
    print("\n".join(j5_table()))
    print("\n## Orin GPU power modes (predictions only; no published measurement used)\n")
    print("\n".join(power_mode_table()))


if __name__ == "__main__":
    main()
