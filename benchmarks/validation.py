"""Predicted vs published latency: MLPerf Inference (Jetson AGX Orin, TensorRT) and the J5
BEV-GKT compiler estimate. `python benchmarks/validation.py` prints markdown tables."""

# Nothing here is fitted: every profile figure comes from a datasheet / FACTS.md or is marked
# estimated, and no constant was calibrated on any row (all rows are out of sample).

from __future__ import annotations

import npusim
from npusim.fusion import plan
from npusim.hw import load_chip
from npusim.ir import Precision

MLPERF = "MLPerf Inference {v} closed, NVIDIA Jetson AGX Orin (Orin_TRT), SingleStream p90"

# (zoo model, measured ms, source): the only measurements this table may use (issue #7).
MEASURED = [
    ("resnet50", 0.695, MLPERF.format(v="v2.0") + ", TensorRT 8.4.0"),
    ("resnet50", 0.633, MLPERF.format(v="v3.0")),
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
    """Fused-plan latency of one int8 batch-1 frame, and the estimated figures it rests on."""
    graph = npusim.load(f"zoo:{model}", zoo_weights="light")
    p = plan(graph, load_chip(chip), Precision.INT8, strategy=strategy)
    return p.latency_ms, tuple(sorted({f for g in p.groups for f in g.rests_on}))


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


def main() -> None:
    mlperf, rests = mlperf_table()
    print("## Jetson AGX Orin GPU (MAXN), int8, batch 1, fused plans\n")
    print("\n".join(mlperf))
    print("\nCalibrated on: nothing (no constant was fitted to any row).")
    print("Estimated profile figures these predictions rest on: "
          + (", ".join(f"`{f}`" for f in sorted(rests)) or "none") + "\n")
    print("## Horizon J5: BEV-GKT compiler estimate vs the j5 profile's roofline bound\n")
    print("\n".join(j5_table()))
    print("\n## Orin GPU power modes (predictions only; no published measurement used)\n")
    print("\n".join(power_mode_table()))


if __name__ == "__main__":
    main()
