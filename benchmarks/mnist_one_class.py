"""One-class image anomaly detection on MNIST (and Fashion-MNIST): train on one class only, flag
the others by reconstruction error.

Part 1, the anomaly-detection article's experiment: digit 1 is normal (6,742 training images;
1,135 normal vs 8,865 anomalous test images); the article's model (``conv-bn``: conv + batch norm
+ max-pool, upsample back), MAE loss, 50 epochs of 10 steps (Keras' ``steps_per_epoch``; batch 128),
Adam 1e-3; threshold = mean + 3 std of the errors of the *normal test* images (the article's
choice, which peeks at test data; the same threshold fitted on training errors is reported too).
Three training modes, each with 3 seeds:
- plain reconstruction;
- denoising: the input gets Gaussian noise of std 0.1 (clipped to [0, 1]), the target is clean;
- super-resolution: the input is max-pooled by 2 and scaled back up, the model restores it; it is
  scored the same way (``Detector(input_transform=hg.Downsample(2))``).
Reported: normal accuracy (normal test images under the threshold), anomaly accuracy (anomalies
over it), AUROC, and the article's figures beside them.

Part 2, every class as the normal one in turn, on MNIST and Fashion-MNIST (issue 19, item 1): the
model and training of the built-in recipes (``mnist-one-class``, ``fashion-conv-anomaly``: ``conv``
with channels (32, 64) and a 16-d linear bottleneck, MSE, 10 epochs, batch 128), trained on the
class's training images with each of ``--sweep-seeds``; the whole test set scored seven ways from
the same model (the ablation, ``SWEEP_SCORES``):
- ``mse``: the reconstruction error (the recipes' score until 0.2);
- ``mse-worst0.05`` / ``mse-worst0.1``: the same over each image's worst 5 % / 10 % of pixels;
- ``mse-blur1`` / ``mse-blur1-worst0.05``: the error smoothed by a Gaussian of 1 pixel before it
  is squared (``error_blur=1``), over all pixels / the worst 5 % (``mnist-one-class``'s score);
- ``code-knn``: mean distance to the 5 nearest training codes;
- ``feature-knn``: mean distance to the 5 nearest training images in the encoder's 64 x 7 x 7
  feature maps (``fashion-conv-anomaly``'s score).
AUROC per class, the mean over classes and its spread over seeds. ``--skip-article`` runs part 2
only (keeping part 1 from the file); ``--resume`` keeps the rows already in the file that have
every score (a row from before a score was added is trained again, same seed and model, and gets
the missing scores; its MSE AUROC must reproduce the file's, checked).

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/mnist_one_class.py [--quick] [--skip-sweep]
    HOURGLASS_DATA_DIR=../shared/data python benchmarks/mnist_one_class.py --skip-article --resume

Writes benchmarks/results/mnist_one_class.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import RESULTS, write_json

import hourglass as hg

ARTICLE = {  # normal / anomaly accuracy, %
    "plain": (98.68, 97.13),
    "denoise": (98.68, 97.59),
    "super-resolution": (98.59, 84.85),
}
MODES = {
    "plain": None,
    "denoise": hg.GaussianNoise(0.1, clip=(0.0, 1.0)),
    "super-resolution": hg.Downsample(2, mode="max"),
}


def rates(det: hg.Detector, x, y) -> dict:
    """Normal / anomaly accuracy (%) and AUROC of a fitted detector on labelled test data."""
    m = det.evaluate(x, y)
    normal_acc = 100.0 * m["tn"] / max(m["tn"] + m["fp"], 1)
    anomaly_acc = 100.0 * m["tp"] / max(m["tp"] + m["fn"], 1)
    return {
        "normal_accuracy": normal_acc,
        "anomaly_accuracy": anomaly_acc,
        "auroc": m["auroc"],
        "threshold": m["threshold"],
    }


def article_run(ds, mode: str, seed: int, epochs: int, steps: int) -> dict:
    corruption = MODES[mode]
    model = hg.create_model("conv-bn", seed=seed)
    start = time.perf_counter()
    history = hg.fit(
        model,
        ds.x_train,
        corruption=corruption,
        epochs=epochs,
        steps_per_epoch=steps,
        batch_size=128,
        loss="mae",
        lr=1e-3,
        seed=seed,
        progress=False,
    )
    seconds = time.perf_counter() - start
    transform = corruption if isinstance(corruption, hg.Downsample) else None
    normal_test = ds.x_test[ds.y_test == 0]
    # the article's threshold: mean + 3 std of the normal test images' errors
    det = hg.Detector(model, score="mae", threshold=hg.MeanStd(k=3), input_transform=transform)
    det.fit(ds.x_train, calibration=normal_test)
    article = rates(det, ds.x_test, ds.y_test)
    # the same rule fitted on the training images' errors (no test data used)
    honest = rates(
        hg.Detector(model, score="mae", threshold=hg.MeanStd(k=3), input_transform=transform).fit(ds.x_train),
        ds.x_test,
        ds.y_test,
    )
    return {
        "seed": seed,
        "train_seconds": seconds,
        "final_train_loss": history.train_loss[-1],
        "article_threshold": article,
        "training_threshold": honest,
    }


def summary(runs: list[dict], key: str) -> dict:
    out = {}
    for metric in ("normal_accuracy", "anomaly_accuracy", "auroc"):
        values = np.array([r[key][metric] for r in runs])
        out[metric] = {"mean": float(values.mean()), "std": float(values.std())}
    return out


RECIPES = {"mnist": "mnist-one-class", "fashion-mnist": "fashion-conv-anomaly"}
SWEEP_SCORES = {  # name: the Detector's options
    "mse": {"score": "mse"},
    "mse-worst0.05": {"score": "mse", "worst_fraction": 0.05},
    "mse-worst0.1": {"score": "mse", "worst_fraction": 0.1},
    "mse-blur1": {"score": "mse", "error_blur": 1.0},
    "mse-blur1-worst0.05": {"score": "mse", "error_blur": 1.0, "worst_fraction": 0.05},
    "code-knn": {"score": "code-knn"},
    "feature-knn": {"score": "feature-knn"},
}


def sweep_row(full, name: str, c: int, seed: int, quick: bool, earlier: dict | None = None) -> dict:
    """One class of one data set as the normal one, one seed: the recipe's model and training,
    every score of SWEEP_SCORES from the same trained model. With ``earlier`` (the row of an
    earlier run, lacking some scores) only the missing scores and ``mse`` are computed; ``mse``
    must reproduce the earlier figure (same seed, same model), or the row is refused."""
    recipe = hg.recipes.load_recipe(RECIPES[name])
    ds = hg.datasets.one_vs_rest(full, normal=[c])
    x_train = ds.x_train[:1000] if quick else ds.x_train
    options = {k: v for k, v in recipe.model.items() if k != "name"}
    model = hg.create_model(recipe.model["name"], input_shape=x_train.shape[1:], seed=seed, **options)
    tr = recipe.training
    start = time.perf_counter()
    hg.fit(
        model,
        x_train,
        epochs=1 if quick else tr["epochs"],
        batch_size=tr["batch_size"],
        loss=tr["loss"],
        seed=seed,
        progress=False,
    )
    train_seconds = time.perf_counter() - start
    auroc, seconds = {}, {}
    for score, options in SWEEP_SCORES.items():
        if earlier is not None and score in earlier["auroc"] and score != "mse":
            auroc[score], seconds[score] = earlier["auroc"][score], earlier["score_seconds"][score]
            continue
        start = time.perf_counter()
        det = hg.Detector(model, **options).fit(x_train)
        auroc[score] = det.evaluate(ds.x_test, ds.y_test)["auroc"]
        seconds[score] = time.perf_counter() - start
    if earlier is not None and abs(auroc["mse"] - earlier["auroc"]["mse"]) > 1e-9:
        raise RuntimeError(
            f"{name} class {c} seed {seed}: MSE AUROC {auroc['mse']} != earlier {earlier['auroc']['mse']}"
        )
    label = full.class_names[c] if full.class_names else str(c)
    return {
        "dataset": name,
        "class": c,
        "label": label,
        "seed": seed,
        "auroc": auroc,
        "train_seconds": train_seconds,
        "score_seconds": seconds,
    }


def sweep_summary(rows: list[dict]) -> dict:
    """Per data set and score: per-class AUROC (mean over seeds), the mean over classes per seed,
    their mean and spread, the weakest class (its mean over seeds)."""
    out = {}
    for name in sorted({r["dataset"] for r in rows}):
        mine = [r for r in rows if r["dataset"] == name]
        seeds = sorted({r["seed"] for r in mine})
        out[name] = {"seeds": seeds}
        for score in SWEEP_SCORES:
            have = [r for r in mine if score in r["auroc"]]  # rows from before a score was added lack it
            if not have:
                continue
            per_class = {}
            for r in have:
                per_class.setdefault(r["label"], []).append(r["auroc"][score])
            per_seed = [
                float(np.mean([r["auroc"][score] for r in have if r["seed"] == s]))
                for s in seeds
                if sum(r["seed"] == s for r in have) == 10
            ]
            class_means = {k: float(np.mean(v)) for k, v in per_class.items()}
            out[name][score] = {
                "per_class": class_means,
                "per_class_min_over_seeds": {k: float(np.min(v)) for k, v in per_class.items()},
                "mean_auroc_per_seed": per_seed,
                "mean_auroc": float(np.mean(per_seed)) if per_seed else None,
                "std_over_seeds": float(np.std(per_seed)) if per_seed else None,
                "min_class_auroc": min(class_means.values()),
            }
    return out


def earlier(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="part 1's seeds")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--steps", type=int, default=10, help="steps per epoch")
    parser.add_argument("--skip-article", action="store_true", help="part 2 only (part 1 kept from the file)")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--sweep-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--datasets", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--classes", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--resume", action="store_true", help="keep part 2's rows already in the file")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 5 x 2 steps, small sweep")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.epochs, args.steps, args.sweep_seeds = [0], 5, 2, [0]
    path = Path(args.out) if args.out else RESULTS / "mnist_one_class.json"
    before = earlier(path)
    article_protocol = {
        "model": "conv-bn (channels 32, 16)",
        "loss": "mae",
        "epochs": args.epochs,
        "steps_per_epoch": args.steps,
        "batch_size": 128,
        "lr": 1e-3,
        "seeds": args.seeds,
        "threshold": "MeanStd(k=3) on normal test errors (article) / on training errors",
        "modes": {k: repr(v) for k, v in MODES.items()},
    }
    if args.skip_article:
        article, article_protocol = before.get("article_experiment", {}), before.get("protocol", {}).get("article")
    else:
        article = run_article(args)
    rows = before.get("rows", []) if args.resume else []

    def save():
        write_json(
            "mnist_one_class",
            {
                "protocol": {
                    "article": article_protocol,
                    "sweep": {"recipes": RECIPES, "scores": SWEEP_SCORES, "seeds": args.sweep_seeds},
                    "text": __doc__,
                },
                "quick": args.quick,
                "article_experiment": article,
                "rows": rows,
                "every_class": sweep_summary(rows) if rows else {},
            },
            args.out,
        )

    if args.skip_sweep:
        return save()
    # a row without every score of SWEEP_SCORES (an earlier run's) is trained again (same seed,
    # same model), its missing scores added
    partial = {
        (r["dataset"], r["seed"], r["class"]): r
        for r in rows
        if not set(SWEEP_SCORES) <= set(r["auroc"])
        and r["dataset"] in args.datasets
        and r["seed"] in args.sweep_seeds
        and r["class"] in args.classes
    }
    rows[:] = [r for r in rows if (r["dataset"], r["seed"], r["class"]) not in partial]
    done = {(r["dataset"], r["seed"], r["class"]) for r in rows}
    for name in args.datasets:
        full = hg.datasets.load(name)
        for seed in args.sweep_seeds:
            for c in args.classes:
                if (name, seed, c) in done:
                    continue
                rows.append(sweep_row(full, name, c, seed, args.quick, partial.get((name, seed, c))))
                r = rows[-1]
                scores = "  ".join(f"{k} {v:.4f}" for k, v in r["auroc"].items())
                print(
                    f"{name} seed {seed} class {c} ({r['label']}): {scores}  ({r['train_seconds']:.0f} s)", flush=True
                )
                save()
    for name, per_score in sweep_summary(rows).items():
        for score in SWEEP_SCORES:
            d = per_score.get(score)
            if d is not None and d["mean_auroc"] is not None:
                print(
                    f"{name:14s} {score:12s} mean AUROC {d['mean_auroc']:.4f} ± {d['std_over_seeds']:.4f} "
                    f"(seeds {per_score['seeds']}), weakest class {d['min_class_auroc']:.4f}"
                )


def run_article(args) -> dict:
    """Part 1: the article's experiment, each mode with each of ``--seeds``."""
    ones = hg.datasets.one_vs_rest(hg.datasets.load("mnist"), normal=[1])
    print(
        f"MNIST, digit 1 normal: {len(ones.x_train)} training images; test {int((ones.y_test == 0).sum())} "
        f"normal vs {int(ones.y_test.sum())} anomalous"
    )
    article = {}
    for mode in MODES:
        runs = [article_run(ones, mode, seed, args.epochs, args.steps) for seed in args.seeds]
        article[mode] = {
            "runs": runs,
            "article_threshold": summary(runs, "article_threshold"),
            "training_threshold": summary(runs, "training_threshold"),
            "article_reported": dict(zip(("normal_accuracy", "anomaly_accuracy"), ARTICLE[mode])),
        }
        s = article[mode]["article_threshold"]
        print(
            f"{mode:17s} normal {s['normal_accuracy']['mean']:6.2f} % ± {s['normal_accuracy']['std']:.2f}  "
            f"anomaly {s['anomaly_accuracy']['mean']:6.2f} % ± {s['anomaly_accuracy']['std']:.2f}  "
            f"AUROC {s['auroc']['mean']:.4f} ± {s['auroc']['std']:.4f}   (article: {ARTICLE[mode][0]} / "
            f"{ARTICLE[mode][1]}); {np.mean([r['train_seconds'] for r in runs]):.0f} s per run",
            flush=True,
        )
    return article


if __name__ == "__main__":
    main()
