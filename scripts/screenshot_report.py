"""Write the HTML report of a model on a chip, screenshot it in headless Chromium and check
that the page ran its script without console errors (exit 1 with the problems otherwise).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PNG = ROOT / "examples" / "report-resnet50-j5.png"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  "--force-device-scale-factor=1")
# console messages Chromium logs with --enable-logging=stderr that mean the page broke
CONSOLE_ERRORS = re.compile(r"Uncaught|ERROR:CONSOLE|CONSOLE\(\d+\)\] \"(?:.*Error|.*error)")

EXAMPLES = """examples:
  python scripts/screenshot_report.py                   # zoo:resnet50 on j5
  python scripts/screenshot_report.py --model zoo:mobilenetv2 --chip orin-agx-dla -o out.png"""


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def _run_chromium(chromium: str, args: list[str], timeout_s: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="npusim-chromium-") as profile:
        cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)


def screenshot(html_path: Path, png_path: Path, chromium: str, window: str = "1400,2400",
               timeout_s: float = 90) -> list[str]:
    """Screenshot `html_path` into `png_path`; the problems found (empty when all is well):
    console errors logged while loading, a missing or blank screenshot."""
    png_path.parent.mkdir(parents=True, exist_ok=True)
    if png_path.exists():
        png_path.unlink()
    proc = _run_chromium(chromium, ["--enable-logging=stderr", "--v=0",
                                    f"--window-size={window}", f"--screenshot={png_path}",
                                    html_path.resolve().as_uri()], timeout_s)
    problems = [f"console: {line.strip()}" for line in proc.stderr.splitlines()
                if CONSOLE_ERRORS.search(line)]
    if not png_path.is_file() or png_path.stat().st_size < 10_000:
        problems.append(f"no screenshot written (chromium exit {proc.returncode}): "
                        f"{proc.stderr.strip()[-500:]}")
    return problems


def dom_after_scripts(html_path: Path, chromium: str, fragment: str = "selftest",
                      timeout_s: float = 90) -> str:
    """The DOM once the page's script has run (`#selftest` makes it sort the layer table)."""
    proc = _run_chromium(chromium, ["--virtual-time-budget=3000", "--dump-dom",
                                    html_path.resolve().as_uri() + f"#{fragment}"], timeout_s)
    return proc.stdout


def script_problems(dom: str) -> list[str]:
    """What the page's own error marker and completion marker say."""
    problems = []
    error = re.search(r'data-js-error="([^"]*)"', dom)
    if error:
        problems.append(f"page script error: {error.group(1)}")
    if 'data-js-ok="1"' not in dom:
        problems.append("page script did not finish (no data-js-ok marker in the DOM)")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=" ".join(__doc__.split()), epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="zoo:resnet50")
    p.add_argument("--chip", default="j5")
    p.add_argument("-o", "--output", type=Path, default=DEFAULT_PNG, help="screenshot PNG")
    p.add_argument("--html", type=Path, help="where to keep the report (default: temporary)")
    p.add_argument("--window", default="1400,2400", help="width,height in pixels")
    p.add_argument("--chromium", default=find_chromium())
    args = p.parse_args(argv)
    if not args.chromium:
        print("no chromium found: apt-get install -y chromium", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    from npusim.report.html import write_report
    with tempfile.TemporaryDirectory(prefix="npusim-report-") as tmp:
        html_path = args.html or Path(tmp) / "report.html"
        data = write_report(html_path, args.model, args.chip)
        problems = screenshot(html_path, args.output, args.chromium, args.window)
        problems += script_problems(dom_after_scripts(html_path, args.chromium))
    t = data.report.totals
    print(f"{data.report.model} on {data.report.chip}: {t.latency_ms:.3f} ms; report "
          f"{html_path if args.html else '(temporary)'}; screenshot {args.output}")
    for line in problems:
        print(f"problem: {line}", file=sys.stderr)
    if not problems:
        print("page OK: charts rendered, script ran, no console errors")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
