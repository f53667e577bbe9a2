"""Scoring at scale: rows / s and peak memory for 10^4, 10^5, 10^6 (and 3 x 10^6) rows of a tabular model.

The model: the ECG tutorial's dense detector (140-32-16-8, MAE, with a StandardScaler fitted on
the normal training rows) scoring rows of 140 features. The rows: ECG5000's 5,000 beats tiled with
a small per-row offset, saved as float32 .npy files (10^6 rows = 560 MB). Each size is scored in a
fresh process, twice:
- ``mapped``: ``np.load(path, mmap_mode="r")`` passed to ``Detector.score_samples``, which
  streams it in chunks of about 16 MiB (29,959 rows here) and releases each chunk's pages
  (hourglass.streaming);
- ``in-memory``: the whole file loaded first (``np.load(path)``), the usual way, as the baseline.
Reported per run: seconds, rows / s, the process's peak RSS (VmHWM) and its RSS just
before scoring (model and libraries loaded), so ``peak - before`` is what scoring itself held.

    python benchmarks/scale.py [--sizes 10000 100000 1000000]

Writes benchmarks/results/scale.json. (ECG5000 ships with the package: no data dir needed.)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import write_json


def status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process, from /proc/self/status. (Not ru_maxrss: Linux
    carries the parent's peak across fork + exec into it.)"""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(model_dir: str, path: str, mode: str) -> None:
    import hourglass as hg

    det = hg.load(model_dir)
    det.score_samples(np.zeros((10, 140), np.float32))  # warm up kernels and allocator
    before = status_mb("VmRSS")
    start = time.perf_counter()
    x = np.load(path, mmap_mode="r") if mode == "mapped" else np.load(path)
    scores = det.score_samples(x)
    seconds = time.perf_counter() - start
    peak = status_mb("VmHWM")
    print(
        json.dumps(
            {
                "rows": len(scores),
                "seconds": seconds,
                "rows_per_s": len(scores) / seconds,
                "rss_before_mb": before,
                "peak_rss_mb": peak,
                "held_mb": peak - before,
                "mean_score": float(scores.mean()),
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000, 3_000_000])
    parser.add_argument("--out", default=None)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)

    import hourglass as hg

    ds = hg.datasets.load("ecg5000", split="tutorial")
    normal = ds.x_train[ds.y_train == 1]
    model = hg.create_model("stacked", input_shape=(140,), hidden=(32, 16), latent_dim=8, seed=0)
    hg.fit(model, normal, epochs=20, batch_size=512, loss="mae", progress=False)
    det = hg.Detector(model, score="mae", scaler=hg.StandardScaler()).fit(normal)
    beats = hg.datasets.load("ecg5000").x_test
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        hg.save(det, Path(tmp) / "model")
        for n in args.sizes:
            path = Path(tmp) / f"rows-{n}.npy"
            out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, 140))
            for lo in range(0, n, 100_000):  # written in pieces: the writer needs no memory either
                hi = min(n, lo + 100_000)
                out[lo:hi] = np.resize(beats, (hi - lo, 140)) + (np.arange(lo, hi, dtype=np.float32) * 1e-7)[:, None]
            out.flush()
            del out
            for mode in ("mapped", "in-memory"):
                proc = subprocess.run(
                    [sys.executable, __file__, "--child", str(Path(tmp) / "model"), str(path), mode],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                row = {"mode": mode, "file_mb": path.stat().st_size / 2**20, **json.loads(proc.stdout)}
                results.append(row)
                print(
                    f"{n:>9,} rows  {mode:9s}  {row['seconds']:6.2f} s  {row['rows_per_s']:12,.0f} rows/s  "
                    f"peak RSS {row['peak_rss_mb']:7.1f} MB (held by scoring {row['held_mb']:6.1f} MB; "
                    f"file {row['file_mb']:6.1f} MB)",
                    flush=True,
                )
            path.unlink()
    mapped = [r for r in results if r["mode"] == "mapped"]
    summary = {
        "rows_per_s_ratio_largest_to_smallest": mapped[-1]["rows_per_s"] / mapped[0]["rows_per_s"],
        "held_mb_largest_minus_smallest": mapped[-1]["held_mb"] - mapped[0]["held_mb"],
    }
    print(json.dumps(summary))
    write_json("scale", {"results": results, "summary": summary}, args.out)


if __name__ == "__main__":
    main()
