"""Sweep J5's SRAM size and DDR bandwidth over two zoo models and two fusion strategies, then
print the best point per model and write the table and a latency-vs-SRAM Pareto plot.

    python examples/sweep_sram.py [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from npusim.sweep import plot_pareto, run_sweep

SPEC = Path(__file__).with_name("sweep_sram.yaml")
SRAM = "memory.sram.capacity_bytes"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=tempfile.mkdtemp(prefix="npusim-sweep-"))
    out = Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    result = run_sweep(SPEC, n_jobs=2)
    print(f"{len(result.rows)} points")
    for row in result.rows:
        if row["fusion"] == "dp" and row["memory.ddr.bandwidth_GBps"] == 68.3:
            print(f"{row['model']:>16}  SRAM {row[SRAM] / 2**20:4.0f} MiB  "
                  f"{row['latency_ms']:.3f} ms  {row['ddr_bytes_per_frame'] / 1e6:6.2f} MB DDR")
    for row in result.pareto(x=SRAM, y="latency_ms"):
        print(f"Pareto: {row['model']} {row['fusion']} SRAM {row[SRAM] / 2**20:.0f} MiB "
              f"DDR {row['memory.ddr.bandwidth_GBps']} GB/s -> {row['latency_ms']:.3f} ms")
    result.to_csv(out / "sweep.csv")
    plot_pareto(result, out / "pareto.png", x=SRAM, y="latency_ms")
    print(f"wrote {out / 'sweep.csv'} and {out / 'pareto.png'}")


if __name__ == "__main__":
    main()
