"""How long the README's test command takes: alone, and beside other work on the same CPUs.

Runs ``python -m pytest -q`` (the README's test command, from the repository root, with
``HOURGLASS_DATA_DIR`` as given) under each condition and records its wall time and summary line:

- ``alone``: nothing else runs;
- ``torch-job``: beside a torch job of two threads (matrix products in a loop), such as a second
  notebook's training;
- ``busy``: beside one busy process (a Python loop) per CPU.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/suite_time.py --conditions alone torch-job

Writes benchmarks/results/suite_time.json (about 7 minutes a condition on 2 cores).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from busy import background
from common import write_json

from hourglass.threads import cpu_limit

ROOT = Path(__file__).resolve().parents[1]


def run_suite(extra: list[str]) -> dict:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra],
                         cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    return {"seconds": time.perf_counter() - start, "returncode": out.returncode, "summary": lines[-1] if lines else ""}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--conditions", nargs="+", default=["alone", "torch-job"], choices=["alone", "torch-job", "busy"])
    ap.add_argument("pytest_args", nargs="*", help="passed on to pytest (e.g. a test file)")
    ap.add_argument("--out")
    args = ap.parse_args()
    rows = []
    for condition in args.conditions:
        others = [] if condition == "alone" else background(condition, cpu_limit())
        try:
            row = {"condition": condition, **run_suite(args.pytest_args)}
        finally:
            for p in others:
                p.kill()
                p.wait()
        rows.append(row)
        print(f"{condition:10s} {row['seconds']:7.1f} s  {row['summary']}", flush=True)
    write_json("suite_time", {"rows": rows}, args.out)


if __name__ == "__main__":
    main()
