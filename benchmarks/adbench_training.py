"""Issue 41: where the default tabular detector's top-of-list precision goes, in the training.

benchmarks/adbench_scores.py scores the default's fitted members in other ways (per-feature errors,
codes, member combinations) and finds at most +0.009 AUPRC on half A. This refits the detector in
ways the scores cannot reach, on every one of the 20 ADBench sets (seeds 0-2), beside
IsolationForest:

- ``refit90``: fitted again without the training rows whose score is in the top 10 % (a contaminated
  training part refitted without its worst-reconstructed rows);
- ``e10``: ``epochs=10, min_steps=None`` (a short budget: about PyOD's AutoEncoder's); ``mix-e10``:
  its scores and the default's, each robustly standardised on the training rows, summed;
- ``trim0.4``: ``trim=0.4`` (the worst 40 % of each batch out of the loss);
- ``tanh`` / ``ltanh``: every layer's activation, or only the code's, bounded (tanh): a ReLU network
  extrapolates linearly, so a row with extreme values along a direction the data vary in is
  reconstructed well; a bounded layer cannot follow it; ``mix-ltanh``: as ``mix-e10``;
- ``lnone`` / ``lsigmoid``: a linear or sigmoid code; ``elu``: ELU layers and code.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/adbench_training.py     # about 20 min

Prints AUROC / AUPRC per set and the mean per half (the halves of benchmarks/adbench_defaults.py);
writes benchmarks/results/adbench_training.json.
"""

from __future__ import annotations

import argparse
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from adbench_defaults import halves
from common import write_json

VARIANTS = (
    "if",
    "default",
    "refit90",
    "e10",
    "mix-e10",
    "trim0.4",
    "tanh",
    "ltanh",
    "mix-ltanh",
    "lnone",
    "elu",
    "lsigmoid",
)


def robust_z(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """``test`` standardised by the training scores' median and interquartile range (the detector's own)."""
    from hourglass.detection.scores import robust_standardisation

    center, spread = robust_standardisation(train[None])
    return (test - center[0]) / spread[0]


def run(job) -> dict:
    """One (set, seed): every variant's AUROC and AUPRC."""
    import torch
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import average_precision_score, roc_auc_score

    import hourglass as hg

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    name, seed = job
    ds = hg.datasets.load(f"adbench/{name}", seed=seed)
    x, xt, y = ds.x_train, ds.x_test, ds.y_test
    scores, train = {}, {}

    def fitted(key, rows=None, **params):
        est = hg.AutoencoderDetector(random_state=seed, progress=False, **params).fit(x if rows is None else x[rows])
        scores[key], train[key] = -est.score_samples(xt), -est.score_samples(x)

    scores["if"] = -IsolationForest(random_state=seed).fit(x).score_samples(xt)
    fitted("default")
    fitted("refit90", rows=train["default"] <= np.quantile(train["default"], 0.9))
    fitted("e10", epochs=10, min_steps=None)
    fitted("trim0.4", trim=0.4)
    fitted("tanh", model_options={"activation": "tanh"})
    fitted("ltanh", model_options={"latent_activation": "tanh"})
    fitted("lnone", model_options={"latent_activation": "none"})
    fitted("elu", model_options={"activation": "elu", "latent_activation": "elu"})
    fitted("lsigmoid", model_options={"latent_activation": "sigmoid"})
    for other in ("e10", "ltanh"):
        scores[f"mix-{other}"] = robust_z(train["default"], scores["default"]) + robust_z(train[other], scores[other])
    return {
        "set": name,
        "seed": seed,
        **{k: [float(roc_auc_score(y, scores[k])), float(average_precision_score(y, scores[k]))] for k in VARIANTS},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    a, b = halves()
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(run, [(s, seed) for s in a + b for seed in args.seeds]))
    per_set = {s: {k: np.mean([r[k] for r in rows if r["set"] == s], axis=0).tolist() for k in VARIANTS} for s in a + b}
    print(f"{'set':16s} " + " ".join(f"{k:>13s}" for k in VARIANTS))
    for s in a + b:
        print(f"{s[:16]:16s} " + " ".join(f"{v[0]:.3f}/{v[1]:.3f}".rjust(13) for v in per_set[s].values()))
    means = {}
    for half, sets in (("A", a), ("B", b), ("all", a + b)):
        means[half] = {k: np.mean([per_set[s][k] for s in sets], axis=0).tolist() for k in VARIANTS}
        print(f"{half:16s} " + " ".join(f"{v[0]:.3f}/{v[1]:.3f}".rjust(13) for v in means[half].values()))
    write_json(
        "adbench_training",
        {
            "benchmark": "adbench_training",
            "halves": {"A": a, "B": b},
            "seeds": args.seeds,
            "means": means,
            "per_set": per_set,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
