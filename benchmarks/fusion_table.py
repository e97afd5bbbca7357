"""Print, as markdown, what fusion buys on every zoo model and chip: latency (the scheduled
timeline's makespan) and DDR traffic per frame for the four strategies (none, rules, greedy,
dp), int8, batch 1.

    python benchmarks/fusion_table.py [--chips j5,orin-agx-gpu] [--models resnet50,...]
"""

from __future__ import annotations

import argparse

import npusim
from npusim import zoo
from npusim.fusion import STRATEGIES
from npusim.hw import bundled_profiles


def rows(models: list[str], chips: list[str]):
    for name in models:
        graph = npusim.load(f"zoo:{name}", zoo_weights="light")
        for chip_name in chips:
            timelines = npusim.compare(graph, chip_name)
            yield name, chip_name, {tl.plan.strategy: tl for tl in timelines}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", default=",".join(bundled_profiles()))
    parser.add_argument("--models", default=",".join(zoo.names()))
    args = parser.parse_args()
    print("| model | chip | latency ms none / rules / greedy / dp | DDR MB none / rules / "
          "greedy / dp | DDR saved by dp | dp vs rules |")
    print("|---|---|---|---|---|---|")
    for name, chip, plans in rows(args.models.split(","), args.chips.split(",")):
        lat = " / ".join(f"{plans[s].latency_ms:.3f}" for s in STRATEGIES)
        ddr = " / ".join(f"{plans[s].ddr_bytes / 1e6:.1f}" for s in STRATEGIES)
        saved = 1 - plans["dp"].ddr_bytes / plans["none"].ddr_bytes
        gain = plans["rules"].latency_ms / plans["dp"].latency_ms
        print(f"| {name} | {chip} | {lat} | {ddr} | {100 * saved:.0f}% | {gain:.2f}x |")


if __name__ == "__main__":
    main()
