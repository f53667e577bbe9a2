"""Scoring a large CSV: ``hourglass score`` (read and scored in chunks) against the usual way,
``pandas.read_csv`` of the whole file then ``score_samples``, in the same run.

The file: ``--gb`` GB (default 1) of rows of 20 features (ADBench's thyroid rows, six real
features, repeated with small random offsets and 14 derived columns, six decimals) plus a 0 / 1
label column, written with pyarrow. The detector: ``hourglass fit`` (the default
AutoencoderDetector: six members trained together) on the first 5,000 rows. Each way runs in a
fresh process that reports its seconds and its peak RSS (VmHWM, from /proc/self/status):

- ``hourglass score RUN big.csv --out scores.csv`` (the CLI in that process), with each
  installed CSV engine (pyarrow, then pandas; chunks of 65,536 rows), and once more with
  ``--label-column y`` (the labels kept and the metrics computed at the end);
- the baseline: ``pd.read_csv(big.csv)``, ``est.score_samples(frame[features])``, the scores
  written with ``DataFrame.to_csv`` (the score only: ``hourglass score`` also writes the row,
  is_anomaly, the p-value and the label, and reports the metrics).

Both are timed from just after ``import hourglass``: loading the detector, reading, scoring and
writing.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/big_csv.py [--gb 1] [--keep DIR]

Writes benchmarks/results/big_csv.json.
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

FEATURES = 20

PEAK = """
def peak_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
"""

STREAMED = (
    PEAK
    + """
import json, os, sys, time
os.environ["HOURGLASS_CSV_ENGINE"] = sys.argv[4]
import hourglass
from hourglass.cli import main
start = time.perf_counter()
labels = ["--label-column", "y"] if sys.argv[5] == "labels" else ["--chunk-rows", "65536"]
main(["score", sys.argv[1], sys.argv[2], "--out", sys.argv[3], "--quiet", *labels], standalone_mode=False)
print(json.dumps({"seconds": time.perf_counter() - start, "peak_mb": peak_mb()}))
"""
)

BASELINE = (
    PEAK
    + """
import json, sys, time
import hourglass as hg
start = time.perf_counter()  # both ways timed from here: load the detector, read, score, write
import pandas as pd
est = hg.load(sys.argv[1] + "/model")
frame = pd.read_csv(sys.argv[2])
scores = -est.score_samples(frame[[c for c in frame.columns if c != "y"]].to_numpy())
pd.DataFrame({"score": scores}).to_csv(sys.argv[3], index_label="row")
print(json.dumps({"seconds": time.perf_counter() - start, "peak_mb": peak_mb(), "rows": len(frame)}))
"""
)


def write_csv(path: Path, gb: float, seed: int = 0) -> int:
    """About ``gb`` GB of rows built from thyroid's rows; returns the number of rows."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    import hourglass as hg

    ds = hg.datasets.load("adbench/38_thyroid", seed=0)
    base = np.concatenate([ds.x_train, ds.x_test]).astype(np.float64)
    labels = np.concatenate([np.zeros(len(ds.x_train)), ds.y_test]).astype(np.int64)
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(base.shape[1], FEATURES - base.shape[1]))
    rows, written = 0, 0
    names = [f"f{i}" for i in range(FEATURES)] + ["y"]
    with pcsv.CSVWriter(path, pa.schema([(n, pa.float64()) for n in names[:-1]] + [("y", pa.int64())])) as writer:
        while written < gb * 1e9:
            idx = rng.integers(0, len(base), int(min(200_000, max(1_000, gb * 1e9 / 185))))  # ~185 bytes a row
            x = base[idx] + rng.normal(scale=0.01, size=(len(idx), base.shape[1]))
            x = np.round(np.column_stack([x, np.tanh(x @ mix)]), 6)
            table = pa.table({**{n: x[:, i] for i, n in enumerate(names[:-1])}, "y": labels[idx]})
            writer.write_table(table)
            rows += len(idx)
            written = path.stat().st_size
    return rows


def run(code: str, *args) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--keep", default=None, help="folder for the files (default: a temporary one, removed)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        big = folder / "big.csv"
        start = time.perf_counter()
        rows = write_csv(big, args.gb)
        print(f"wrote {big}: {big.stat().st_size / 1e9:.2f} GB, {rows:,} rows in {time.perf_counter() - start:.0f} s")
        head = folder / "train.csv"
        with open(big) as src, open(head, "w") as dst:
            for i, line in enumerate(src):
                if i > 5000:
                    break
                dst.write(line.rsplit(",", 1)[0] + "\n")  # the features, without the label
        subprocess.run(
            [sys.executable, "-m", "hourglass", "fit", str(head), "--out", str(folder / "run"), "--quiet"], check=True
        )
        results = {}
        import importlib.util

        for engine in [e for e in ("pyarrow", "pandas") if importlib.util.find_spec(e)]:
            for labels in ("plain", "labels") if engine == "pyarrow" else ("plain",):
                name = f"hourglass score ({engine}{', --label-column y: metrics too' if labels == 'labels' else ''})"
                results[name] = r = run(STREAMED, folder / "run", big, folder / "s.csv", engine, labels)
                print(f"{name:55s}: {r['seconds']:6.1f} s, peak {r['peak_mb']:7.0f} MB", flush=True)
        results["pandas.read_csv + score_samples"] = r = run(BASELINE, folder / "run", big, folder / "b.csv")
        print(
            f"{'pandas.read_csv + score_samples':55s}: {r['seconds']:6.1f} s, peak {r['peak_mb']:7.0f} MB", flush=True
        )
        base = results["pandas.read_csv + score_samples"]
        for r in results.values():
            r["seconds_vs_baseline"] = r["seconds"] / base["seconds"]
            r["peak_vs_baseline"] = r["peak_mb"] / base["peak_mb"]
        write_json(
            "big_csv",
            {
                "benchmark": "big_csv",
                "file_gb": big.stat().st_size / 1e9,
                "rows": rows,
                "features": FEATURES,
                "chunk_rows": 65536,
                "results": results,
            },
            args.out,
        )


if __name__ == "__main__":
    main()
