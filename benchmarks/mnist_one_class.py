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

Part 2, every class as the normal one in turn, on MNIST and Fashion-MNIST: AUROC per class and
the mean, for the image model that did best in a pilot (``conv`` with channels (32, 64) and a
16-d linear bottleneck; the article's ``conv-bn`` keeps a 784-value spatial code, as large as the
image, and learns to copy anomalies too). MSE loss, 10 epochs, batch 128, seed 0; the whole test set.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/mnist_one_class.py [--quick] [--skip-sweep]

Writes benchmarks/results/mnist_one_class.json.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import write_json

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
SWEEP_MODEL = ("conv", {"channels": (32, 64), "latent_dim": 16})


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


def sweep(name: str, epochs: int, quick: bool) -> dict:
    full = hg.datasets.load(name)
    per_class = {}
    for c in range(10):
        ds = hg.datasets.one_vs_rest(full, normal=[c])
        x_train = ds.x_train[:1000] if quick else ds.x_train
        model_name, options = SWEEP_MODEL
        model = hg.create_model(model_name, seed=0, **options)
        start = time.perf_counter()
        hg.fit(model, x_train, epochs=epochs, batch_size=128, loss="mse", seed=0, progress=False)
        det = hg.Detector(model, score="mse").fit(x_train)
        auroc = det.evaluate(ds.x_test, ds.y_test)["auroc"]
        label = full.class_names[c] if full.class_names else str(c)
        per_class[label] = auroc
        print(
            f"  {name} normal class {c} ({label}): AUROC {auroc:.4f} ({time.perf_counter() - start:.0f} s)", flush=True
        )
    values = np.array(list(per_class.values()))
    return {"per_class": per_class, "mean_auroc": float(values.mean()), "min_auroc": float(values.min())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--steps", type=int, default=10, help="steps per epoch")
    parser.add_argument("--sweep-epochs", type=int, default=10)
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 5 x 2 steps, small sweep")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.epochs, args.steps, args.sweep_epochs = [0], 5, 2, 1

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

    sweeps = {}
    if not args.skip_sweep:
        for name in ("mnist", "fashion-mnist"):
            print(f"every class as the normal one: {name}, {SWEEP_MODEL}")
            sweeps[name] = sweep(name, args.sweep_epochs, args.quick)
            print(f"  mean AUROC {sweeps[name]['mean_auroc']:.4f} (lowest {sweeps[name]['min_auroc']:.4f})")

    write_json(
        "mnist_one_class",
        {
            "protocol": {
                "article": {
                    "model": "conv-bn (channels 32, 16)",
                    "loss": "mae",
                    "epochs": args.epochs,
                    "steps_per_epoch": args.steps,
                    "batch_size": 128,
                    "lr": 1e-3,
                    "seeds": args.seeds,
                    "threshold": "MeanStd(k=3) on normal test errors (article) / on training errors",
                    "modes": {k: repr(v) for k, v in MODES.items()},
                },
                "sweep": {
                    "model": SWEEP_MODEL[0],
                    "options": SWEEP_MODEL[1],
                    "loss": "mse",
                    "score": "mse",
                    "epochs": args.sweep_epochs,
                    "batch_size": 128,
                    "seed": 0,
                },
            },
            "quick": args.quick,
            "article_experiment": article,
            "every_class": sweeps,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
