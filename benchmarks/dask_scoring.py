"""Scoring on a Dask cluster against scoring locally, in the same run.

The detector: the default ``AutoencoderDetector`` (six members trained together) fitted on 5,000
rows of 20 features (ADBench thyroid's six real features plus 14 derived ones, as in
big_csv.py). The data: ``--rows`` rows (default 4 million) of the same kind, float32.

- local: ``det.score_samples(x)`` on the NumPy array in this process (torch on every core);
- dask, threads: the same rows as a Dask array (chunks of ``--chunk`` rows), Dask's threaded
  scheduler in this process;
- dask, LocalCluster: ``dask.distributed.LocalCluster(n_workers=W, threads_per_worker=1)``, one
  torch thread per worker; the rows are on the workers before timing (``client.persist``), so
  the timing is the scoring, not the transfer of the rows. Twice: with Dask's default worker
  environment, and without the ``MALLOC_TRIM_THRESHOLD_=65536`` that Dask's nanny sets for its
  workers (``distributed.nanny.pre-spawn-environ``): it turns glibc's adaptive mmap threshold
  off, so each tensor of 128 KiB or more would be a fresh mmap. Before ``hourglass.allocator``
  this ran at 0.25x local (2026-11-30); since, hourglass keeps such blocks on the heap while it
  scores and both runs should match (docs/decisions/allocator.md).

Each is timed ``--repeats`` times (the best is kept: the cluster's first pass also ships the
detector); rows / s and the ratio to local are printed and written to
benchmarks/results/dask_scoring.json.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/dask_scoring.py [--rows 4000000] [--workers 2]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from common import run_times, write_json

FEATURES = 20


def rows_like_thyroid(n: int, seed: int) -> np.ndarray:
    import hourglass as hg

    ds = hg.datasets.load("adbench/38_thyroid", seed=0)
    base = np.concatenate([ds.x_train, ds.x_test]).astype(np.float64)
    rng = np.random.default_rng(seed)
    mix = np.random.default_rng(0).normal(size=(base.shape[1], FEATURES - base.shape[1]))
    x = base[rng.integers(0, len(base), n)] + rng.normal(scale=0.01, size=(n, base.shape[1]))
    return np.column_stack([x, np.tanh(x @ mix)]).astype(np.float32)


def best_seconds(fn, repeats: int) -> float:
    return min(run_times(fn, repeats))


def _set_one_thread():
    import torch

    torch.set_num_threads(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=4_000_000)
    ap.add_argument("--chunk", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import dask
    import dask.array as da
    from dask.distributed import Client, LocalCluster

    import hourglass as hg

    est = hg.AutoencoderDetector(random_state=0).fit(rows_like_thyroid(5000, seed=1))
    det = est.detector_
    x = rows_like_thyroid(args.rows, seed=2)
    results = {}
    local = best_seconds(lambda: det.score_samples(x), args.repeats)
    results["local"] = {"seconds": local}
    xd = da.from_array(x, chunks=(args.chunk, FEATURES))
    with dask.config.set(scheduler="threads"):
        results["dask threads"] = {"seconds": best_seconds(lambda: det.score_samples(xd).compute(), args.repeats)}
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    without_trim = {k: v for k, v in environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    for label, env in (("without MALLOC_TRIM_THRESHOLD_", without_trim), ("Dask's worker environment", environ)):
        os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)  # the nanny sets it in this process too, before spawning
        with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
            with LocalCluster(
                n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cl:
                with Client(cl) as client:
                    client.run(_set_one_thread)
                    on_workers = client.persist(xd)  # the rows live on the workers before timing
                    results[f"dask LocalCluster ({args.workers} workers x 1 thread), {label}"] = {
                        "seconds": best_seconds(
                            lambda c=client, x=on_workers: c.compute(det.score_samples(x)).result(), args.repeats
                        )
                    }
    for name, r in results.items():
        r["rows_per_second"] = args.rows / r["seconds"]
        r["vs_local"] = local / r["seconds"]
        print(f"{name:40s} {r['seconds']:7.2f} s  {r['rows_per_second']:12,.0f} rows/s  {r['vs_local']:.2f}x local")
    write_json(
        "dask_scoring",
        {
            "benchmark": "dask_scoring",
            "rows": args.rows,
            "features": FEATURES,
            "chunk_rows": args.chunk,
            "workers": args.workers,
            "repeats": args.repeats,
            "detector": "AutoencoderDetector() defaults: six members trained together, scored in one pass",
            "results": results,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
