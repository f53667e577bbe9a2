"""hourglass's default tabular detector against PyOD's AutoEncoder and scikit-learn's IsolationForest
on the ADBench sets, in one run.

ADBench's unsupervised protocol: for each seed, a stratified 70 / 30 split; every detector trains
on the training split *without labels* (anomalies included) with its defaults, and is scored on
the test split by AUROC and AUPRC (anomaly = positive). The "clean" setting trains on the normal
rows of the training split only (one-class / novelty detection). Seeds 0-4.

Every ADBench set found is used (the 20 in ../shared/data/adbench); the means are also given for
each half of the split benchmarks/adbench_defaults.py chose the defaults by (select on half A,
confirm on half B), and the mean fit seconds of each method. PyOD's AutoEncoder is warmed up
once before the timed fits (its first fit compiles numba code).

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/adbench.py
    HOURGLASS_DATA_DIR=../shared/data python benchmarks/adbench.py --quick     # 1 seed, 3 sets
    # context: PyOD's classic detectors (PCA, kNN, ECOD) and the default, 3 seeds
    HOURGLASS_DATA_DIR=../shared/data python benchmarks/adbench.py --seeds 0 1 2 \
        --methods hourglass isolation_forest pyod_pca pyod_knn pyod_ecod --out benchmarks/results/adbench_classics.json

Prints a table per setting (per data set: mean AUROC / AUPRC over the seeds; then the mean over
data sets) and writes benchmarks/results/adbench.json. PyOD is needed (``pip install pyod``).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from common import write_json
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score

import hourglass as hg


def hourglass_default(seed):
    est = hg.AutoencoderDetector(random_state=seed)
    return est, lambda x: -est.score_samples(x)


def pyod_autoencoder(seed):
    from pyod.models.auto_encoder import AutoEncoder

    est = AutoEncoder(random_state=seed, verbose=0, device="cpu")
    return est, est.decision_function


def isolation_forest(seed):
    est = IsolationForest(random_state=seed)
    return est, lambda x: -est.score_samples(x)


def pyod_classic(name):
    """One of PyOD's classic unsupervised detectors with its defaults (context, not the target:
    ``--methods isolation_forest pyod_pca pyod_knn pyod_ecod``)."""

    def make(seed):
        from pyod.models.ecod import ECOD
        from pyod.models.knn import KNN
        from pyod.models.pca import PCA

        # PCA keeps the components explaining 95 % of the variance: with all of them (its default)
        # a constant column's zero-variance component divides its scores by zero
        est = {"pca": lambda: PCA(n_components=0.95, random_state=seed), "knn": KNN, "ecod": ECOD}[name]()
        return est, est.decision_function

    return make


METHODS = {
    "hourglass": hourglass_default,
    "pyod_autoencoder": pyod_autoencoder,
    "isolation_forest": isolation_forest,
    "pyod_pca": pyod_classic("pca"),
    "pyod_knn": pyod_classic("knn"),
    "pyod_ecod": pyod_classic("ecod"),
}
DEFAULT_METHODS = ["hourglass", "pyod_autoencoder", "isolation_forest"]


def evaluate(method, x_train, x_test, y_test, seed):
    est, anomaly_score = METHODS[method](seed)
    start = time.perf_counter()
    est.fit(x_train)
    seconds = time.perf_counter() - start
    s = np.asarray(anomaly_score(x_test), dtype=np.float64)
    return {
        "auroc": float(roc_auc_score(y_test, s)),
        "auprc": float(average_precision_score(y_test, s)),
        "fit_seconds": seconds,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--datasets", nargs="+", help="default: every ADBench set found")
    ap.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, choices=list(METHODS))
    ap.add_argument("--settings", nargs="+", default=["unsupervised", "clean"], choices=["unsupervised", "clean"])
    ap.add_argument("--quick", action="store_true", help="seed 0, three small sets")
    ap.add_argument("--out")
    args = ap.parse_args()
    names = args.datasets or [n.split("/", 1)[1] for n in hg.datasets.list_datasets() if n.startswith("adbench/")]
    if args.quick:
        args.seeds, names = [0], names[:3] if not args.datasets else names
    warnings.filterwarnings("ignore", category=UserWarning)
    # One thread: these models are tiny (one core is as fast), and it keeps the timings honest
    # when something else shares the machine. IsolationForest runs single-threaded by default.
    torch.set_num_threads(1)

    if "pyod_autoencoder" in args.methods:  # warm-up: PyOD's first fit compiles numba code
        ds = hg.datasets.load(f"adbench/{names[0]}", seed=0)
        METHODS["pyod_autoencoder"](0)[0].fit(ds.x_train[:200])
    from adbench_defaults import halves

    half_a, half_b = halves()
    rows = []
    for setting in args.settings:
        print(f"\n== {setting}: mean over seeds {args.seeds} (AUROC / AUPRC)")
        print(f"{'data set':22s}" + "".join(f"{m:>26s}" for m in args.methods))
        for name in names:
            per_method = {m: [] for m in args.methods}
            for seed in args.seeds:
                ds = hg.datasets.load(f"adbench/{name}", seed=seed)
                y_train, y_test = ds.y_train.astype(int), ds.y_test.astype(int)
                x_train = ds.x_train if setting == "unsupervised" else ds.x_train[y_train == 0]
                for m in args.methods:
                    r = evaluate(m, x_train, ds.x_test, y_test, seed)
                    r.update(
                        dataset=name,
                        setting=setting,
                        method=m,
                        seed=seed,
                        n_train=len(x_train),
                        n_test=len(ds.x_test),
                        n_features=int(ds.x_train.shape[1]),
                        anomaly_rate_test=float(y_test.mean()),
                    )
                    rows.append(r)
                    per_method[m].append(r)
            print(
                f"{name:22s}"
                + "".join(
                    f"{np.mean([r['auroc'] for r in per_method[m]]):>17.3f} / "
                    f"{np.mean([r['auprc'] for r in per_method[m]]):.3f}"
                    for m in args.methods
                ),
                flush=True,
            )
        summary = {}
        for label, subset in [
            ("all", names),
            ("half_a", [n for n in names if n in half_a]),
            ("half_b", [n for n in names if n in half_b]),
        ]:
            if not subset:
                continue
            means = {m: _means(rows, setting, m, subset) for m in args.methods}
            print(
                f"{'MEAN ' + label + f' ({len(subset)})':22s}"
                + "".join(f"{means[m]['mean_auroc']:>17.3f} / {means[m]['mean_auprc']:.3f}" for m in args.methods)
            )
            summary[label] = {"datasets": subset, **means}
        print(
            f"{'mean fit seconds':22s}"
            + "".join(f"{summary['all'][m]['mean_fit_seconds']:>26.2f}" for m in args.methods)
        )
        rows.append({"setting": setting, "summary": summary})
    write_json(
        "adbench",
        {
            "benchmark": "adbench",
            "protocol": "stratified 70/30 split per seed; AUROC/AUPRC on "
            "the test split; unsupervised = train on all training rows without labels, clean = "
            "train on the normal training rows",
            "datasets": names,
            "seeds": args.seeds,
            "results": rows,
        },
        args.out,
    )


def _means(rows, setting, method, subset) -> dict:
    """Means over data sets of the per-set means over seeds."""

    def per_set(key):
        return [
            np.mean(
                [
                    r[key]
                    for r in rows
                    if r.get("setting") == setting and r.get("method") == method and r.get("dataset") == n
                ]
            )
            for n in subset
        ]

    return {
        "mean_auroc": float(np.mean(per_set("auroc"))),
        "mean_auprc": float(np.mean(per_set("auprc"))),
        "mean_fit_seconds": float(np.mean(per_set("fit_seconds"))),
    }


if __name__ == "__main__":
    main()
