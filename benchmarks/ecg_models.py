"""ECG5000 anomaly detection with dense and sequence autoencoders, on the tutorial's protocol.

The Keras anomaly-detection tutorial's split (``load("ecg5000", split="tutorial")``: all 5,000
beats, 80 / 20 split with seed 21, min-max scaled by the training set's global min and max): each
model trains on the 2,344 normal training beats only, with MAE loss; the threshold is mean + 1 std
of the training beats' errors (the tutorial's rule); the test set has 1,000 beats, 425 anomalous.
Models (3 seeds each):
- ``stacked``: the tutorial's dense 140-32-16-8-16-32-140, 20 epochs, batch 512;
- ``conv1d-tutorial``: the Keras time-series tutorial's Conv1D model as it is (its code stays a
  16 x 35 feature map, 560 values for a 140-step beat);
- ``conv1d``: the same model with a 16-d linear bottleneck (``latent_dim=16``);
- ``lstm``: LSTM(64) -> 32-d code -> repeated -> LSTM(64) -> linear head;
- the ablation of the ``ecg-conv1d`` recipe, each change to the ``conv1d`` row on its own: MSE as
  loss and score (``conv1d+mse``), each beat scored by its worst 10 % of errors
  (``Detector(worst_fraction=0.1)``, ``conv1d+worst10``), three models from three seeds averaged
  (``DetectorEnsemble``, ``conv1d+3models``); then the recipe with all three, run as a user runs it
  (``hg.run_recipe("ecg-conv1d")`` with ``training.seed`` = the seed).
Reported: AUROC, accuracy, precision, recall, F1 (anomaly = positive), training seconds.

    python benchmarks/ecg_models.py [--quick]

Writes benchmarks/results/ecg_models.json. (ECG5000 ships with the package: no data dir needed.)
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from common import write_json

import hourglass as hg

MODELS = {  # name -> (registry name, options, epochs, batch size, learning rate)
    "stacked": ("stacked", {"hidden": (32, 16), "latent_dim": 8}, 20, 512, 1e-3),
    "conv1d-tutorial": ("conv1d", {}, 60, 128, 1e-3),
    "conv1d": ("conv1d", {"latent_dim": 16}, 60, 128, 1e-3),
    "lstm": ("lstm", {"hidden": (64,), "latent_dim": 32}, 40, 64, 3e-3),
}
# The ablation of the ecg-conv1d recipe: the conv1d row (MAE loss and score) with one change each,
# then the recipe itself, run as a user runs it. name -> (base model, loss and score, worst_fraction, models)
ABLATION = {
    "conv1d+mse": ("conv1d", "mse", None, 1),
    "conv1d+worst10": ("conv1d", "mae", 0.1, 1),
    "conv1d+3models": ("conv1d", "mae", None, 3),
    "recipe ecg-conv1d": ("conv1d", "mse", 0.1, 3),
}
METRICS = ("auroc", "accuracy", "precision", "recall", "f1")


def run(key: str, ds, seed: int, quick: bool) -> dict:
    if key == "recipe ecg-conv1d":
        return run_recipe(seed, quick)
    base, loss, worst, n_models = ABLATION.get(key, (key, "mae", None, 1))
    name, options, epochs, batch_size, lr = MODELS[base]
    if quick:
        epochs = 2
    normal = ds.x_train[ds.y_train == 1]
    start = time.perf_counter()
    detectors, history = [], None
    for member_seed in hg.models.members.member_seeds(seed, n_models):
        model = hg.create_model(name, input_shape=(140,), seed=member_seed, **options)
        fitted = hg.fit(
            model, normal, epochs=epochs, batch_size=batch_size, loss=loss, lr=lr, seed=member_seed, progress=False
        )
        history = history or fitted
        detectors.append(hg.Detector(model, score=loss, worst_fraction=worst))
    seconds = time.perf_counter() - start
    threshold = hg.MeanStd(k=1.0)
    det = detectors[0] if n_models == 1 else hg.DetectorEnsemble(detectors, threshold=threshold)
    det.threshold = threshold
    det.fit(normal)
    metrics = det.evaluate(ds.x_test, ds.is_anomaly(ds.y_test))
    return {
        "seed": seed,
        "train_seconds": seconds,
        "epochs": epochs,
        "final_train_loss": history.train_loss[-1],
        **{m: metrics[m] for m in METRICS},
    }


def run_recipe(seed: int, quick: bool) -> dict:
    """The built-in recipe as ``hourglass run ecg-conv1d --set training.seed=S`` runs it."""
    overrides = {"training.seed": seed, "report.enabled": False}
    if quick:
        overrides["training.epochs"] = 2
    with tempfile.TemporaryDirectory() as out:
        result = hg.run_recipe("ecg-conv1d", out, overrides=overrides, progress=False)
    return {
        "seed": seed,
        "train_seconds": result.seconds,
        "epochs": result.history.epochs,
        "final_train_loss": result.history.train_loss[-1],
        **{m: result.metrics[m] for m in METRICS},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=[*MODELS, *ABLATION], choices=[*MODELS, *ABLATION])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 epochs, 1 seed")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.quick:
        args.seeds = args.seeds[:1]
    ds = hg.datasets.load("ecg5000", split="tutorial")
    results = {}
    print(f"{'model':18s} " + " ".join(f"{m:>15s}" for m in (*METRICS, "seconds")))
    for key in args.models:
        runs = [run(key, ds, seed, args.quick) for seed in args.seeds]
        stats = {
            m: {"mean": float(np.mean([r[m] for r in runs])), "std": float(np.std([r[m] for r in runs]))}
            for m in (*METRICS, "train_seconds")
        }
        base, loss, worst, n_models = ABLATION.get(key, (key, "mae", None, 1))
        name, options, epochs, batch_size, lr = MODELS[base]
        results[key] = {
            "model": name,
            "options": options,
            "loss_and_score": loss,
            "worst_fraction": worst,
            "models": n_models,
            "epochs": runs[0]["epochs"],
            "batch_size": batch_size,
            "lr": lr,
            "parameters": sum(p.numel() for p in hg.create_model(name, input_shape=(140,), **options).parameters()),
            "runs": runs,
            "summary": stats,
        }
        print(
            f"{key:18s} "
            + " ".join(f"{stats[m]['mean']:8.4f}±{stats[m]['std']:.4f}" for m in METRICS)
            + f" {stats['train_seconds']['mean']:9.1f} s",
            flush=True,
        )
    write_json(
        "ecg_models",
        {
            "protocol": "ecg5000 tutorial split; train on normal beats; MAE loss and score unless "
            "the row says otherwise; threshold mean + 1 std of training errors (of the ensemble's "
            "combined score for 3 models); anomaly = positive class",
            "seeds": args.seeds,
            "quick": args.quick,
            "models": results,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
