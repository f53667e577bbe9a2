"""How fast ``hg.datasets.read_csv`` reads a table with each engine, against ``pandas.read_csv`` and
``np.loadtxt`` on the same file, in the same run.

The file: ``--mb`` MB (default 4, about the size of the 3.8 MB file the issue measured 0.1.0's
reader on) of rows of 20 features and a 0 / 1 label (big_csv.py's rows). Each reader runs
``--repeats`` times (default 5); the median seconds are printed and written to
benchmarks/results/csv_engines.json. ``python`` is 0.1.0's way (every cell parsed by Python).

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/csv_engines.py
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
from big_csv import write_csv
from common import run_times, write_json


def median_seconds(fn, repeats: int) -> float:
    return statistics.median(run_times(fn, repeats))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=4.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import pandas as pd

    import hourglass as hg
    from hourglass.datasets.csvfile import ENGINES

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.csv"
        rows = write_csv(path, args.mb / 1000)
        size = path.stat().st_size / 1e6
        readers = {
            f"hourglass read_csv, engine={e}": (lambda e=e: hg.datasets.read_csv(path, label_column="y", engine=e))
            for e in ENGINES
        }
        readers["pandas.read_csv"] = lambda: pd.read_csv(path)
        readers["np.loadtxt"] = lambda: np.loadtxt(path, delimiter=",", skiprows=1)
        results = {name: {"seconds": median_seconds(fn, args.repeats)} for name, fn in readers.items()}
    for name, r in results.items():
        r["mb_per_second"] = size / r["seconds"]
        print(f"{name:38s} {r['seconds']:7.3f} s  {r['mb_per_second']:7.1f} MB/s")
    write_json(
        "csv_engines",
        {"benchmark": "csv_engines", "file_mb": size, "rows": rows, "repeats": args.repeats, "results": results},
        args.out,
    )


if __name__ == "__main__":
    main()
