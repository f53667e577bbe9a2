"""Fits where the environment fixed glibc's malloc thresholds, with and without hourglass.allocator.

Dask's nanny starts every worker with ``MALLOC_TRIM_THRESHOLD_=65536``; any such setting turns
glibc's adaptive mmap threshold off, so each tensor of 128 KiB or more is a fresh ``mmap`` (see
docs/decisions/allocator.md). Each fit runs in a fresh process (after a warm-up fit, as in
busy.py), four ways, interleaved so that the machine's drift falls on all of them alike:

- ``plain``: nothing set, hourglass as shipped;
- ``plain, allocator off``: the same with ``hourglass.allocator`` made inert (what hourglass did
  before it), to show it costs nothing where glibc adapts;
- ``MALLOC_TRIM_THRESHOLD_=65536``: Dask's worker setting, hourglass as shipped;
- ``MALLOC_TRIM_THRESHOLD_=65536, allocator off``: the same before the fix.

The models: the default ``AutoencoderDetector(random_state=0)`` on ADBench's thyroid and the default
``SeriesDetector(random_state=0)`` on the first 1,000 steps of TSB-AD's NAB traffic file. Printed and
written to benchmarks/results/allocator.json: the median seconds of ``--repeats`` fits, the fit's
minor page faults (each one a page the kernel zeroed) and each way's ratio to ``plain``.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/allocator.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
WAYS = {
    "plain": ({}, True),
    "plain, allocator off": ({}, False),
    "MALLOC_TRIM_THRESHOLD_=65536": ({"MALLOC_TRIM_THRESHOLD_": "65536"}, True),
    "MALLOC_TRIM_THRESHOLD_=65536, allocator off": ({"MALLOC_TRIM_THRESHOLD_": "65536"}, False),
}
MODELS = ["tabular", "series"]


def fit_once(model: str, allocator: bool) -> dict:
    import numpy as np

    import hourglass as hg
    import hourglass.allocator

    if not allocator:
        hourglass.allocator._FIXED = None  # inert: glibc keeps what the environment fixed
    data = Path(os.environ.get("HOURGLASS_DATA_DIR", HERE.parents[2] / "shared" / "data"))
    if model == "tabular":
        x = np.load(data / "adbench" / "38_thyroid.npz")["X"].astype(np.float32)
        make = lambda **kw: hg.AutoencoderDetector(random_state=0, **kw)  # noqa: E731
        warm = x[:300]
    else:
        import pandas as pd

        csv = data / "tsb-ad" / "009_NAB_id_9_Traffic_tr_500_1st_438.csv"
        x = pd.read_csv(csv).iloc[:1000, 0].to_numpy(np.float32)
        make = lambda **kw: hg.SeriesDetector(random_state=0, **kw)  # noqa: E731
        warm = x
    make(epochs=1).fit(warm)  # lazy imports and first-call costs
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    make().fit(x)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "minor_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults}


def run_way(model: str, way: str) -> dict:
    extra, allocator = WAYS[way]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    cmd = [sys.executable, str(HERE), "--worker", model, "1" if allocator else "0"]
    out = subprocess.run(cmd, env={**env, **extra}, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(fit_once(args.worker[0], args.worker[1] == "1")))
        return
    sys.path.insert(0, str(HERE.parent))
    from common import write_json

    rows = []
    for model in args.models:
        runs = {way: [] for way in WAYS}
        for _ in range(args.repeats):
            for way in WAYS:  # interleaved
                runs[way].append(run_way(model, way))
        base = statistics.median(r["seconds"] for r in runs["plain"])
        for way, done in runs.items():
            seconds = statistics.median(r["seconds"] for r in done)
            faults = statistics.median(r["minor_faults"] for r in done)
            rows.append({"model": model, "way": way, "seconds": seconds, "minor_faults": faults,
                         "vs_plain": seconds / base, "all_seconds": [r["seconds"] for r in done]})  # fmt: skip
            print(
                f"{model:8s} {way:44s} {seconds:6.2f} s {faults:10,.0f} faults {seconds / base:5.2f}x plain", flush=True
            )
    write_json("allocator", {"benchmark": "allocator", "repeats": args.repeats, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
