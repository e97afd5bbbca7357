"""Predict one zoo model on Horizon J5 and on Jetson AGX Orin (GPU and DLA), side by side:
latency, FPS, DDR traffic per frame, and the slowest fused groups on each chip.
"""

from __future__ import annotations

import argparse

import npusim

CHIPS = ("j5", "orin-agx-gpu", "orin-agx-dla")

EXAMPLES = """examples:
  python examples/predict_j5_vs_orin.py                 # ResNet-50, int8
  python examples/predict_j5_vs_orin.py mobilenetv2 --precision fp16"""


def predict(model: str, precision: str) -> dict[str, npusim.Report]:
    """One `simulate` per chip; each returns a frozen Report (rows = fused groups)."""
    return {chip: npusim.simulate(f"zoo:{model}", chip, precision=precision, fusion="dp")
            for chip in CHIPS}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=" ".join(__doc__.split()), epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", default="resnet50", help="zoo model (npusim zoo list)")
    p.add_argument("--precision", default="int8", choices=("int8", "fp16"))
    args = p.parse_args(argv)

    reports = predict(args.model, args.precision)
    print(f"zoo:{args.model}, {args.precision}, batch 1, fusion dp (* = rests on an estimated "
          "profile figure)")
    print(f"{'chip':14} {'latency ms':>11} {'FPS':>9} {'DDR MB':>8} {'groups':>7}  busy by unit")
    for chip, r in reports.items():
        t = r.totals
        star = "*" if t.estimated else " "
        busy = ", ".join(f"{u} {ms:.3f} ms" for u, ms in t.busy_ms_by_unit.items())
        print(f"{chip:14} {t.latency_ms:>10.3f}{star} {t.throughput_fps:>9.1f} "
              f"{t.ddr_bytes_per_frame / 1e6:>8.2f} {t.layers:>7}  {busy}")

    for chip, r in reports.items():
        slowest = sorted(r.layers, key=lambda row: -row.latency_ms)[:3]
        print(f"\nslowest groups on {chip}:")
        for row in slowest:
            first = row.members[0].split("+")[0]
            n = len(row.members) - 1
            more = f" (+{n} node{'s' if n > 1 else ''})" if n else ""
            print(f"  {row.latency_ms:8.4f} ms {row.percent:5.1f}%  {row.unit:4} "
                  f"{row.bound_by:8} {first}{more}")

    best = min(reports, key=lambda c: reports[c].totals.latency_ms)
    others = ", ".join(f"{reports[c].totals.latency_ms / reports[best].totals.latency_ms:.2f}x "
                       f"on {c}" for c in reports if c != best)
    print(f"\nfastest: {best} ({reports[best].totals.latency_ms:.3f} ms); {others}")
    used = sorted({path for r in reports.values() for path in r.estimated_figures})
    print(f"{len(used)} estimated profile figures behind these numbers, e.g. {used[0]}"
          if used else "no estimated profile figure behind these numbers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
