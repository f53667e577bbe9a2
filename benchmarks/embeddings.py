"""image2vec on Fashion-MNIST: are 64-dimensional autoencoder codes features worth using?

Each method turns the 60,000 training and 10,000 test images into vectors, without labels:
- ``dense``: the tutorial's dense autoencoder, 784-64-784 (its ReLU code);
- ``conv``: the ``conv`` model with channels (32, 64) and a linear 64-d bottleneck (``latent_dim=64``);
- ``vae``: the dense ``vae`` (784-512-256-64, Bernoulli likelihood), its mean code;
- ``recipe fashion-image2vec``: the built-in recipe, run as a user runs it (``hourglass run
  fashion-image2vec``): the ``conv-bn`` model (conv + batch norm + max-pool, channels (32, 64)) with
  a 64-d linear code, MSE, 10 epochs; then ``hg.encode``;
- ``pca``: scikit-learn's PCA with 64 components;
- ``pixels``: the 784 raw pixels.
Then a logistic regression (scikit-learn, L-BFGS, on standardised features) learns the 10 classes
from the training vectors; the score is its accuracy on the test vectors. Same run, same split.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/embeddings.py [--epochs 20] [--quick] [--methods ...]

Writes benchmarks/results/embeddings.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from common import earlier_rows, write_json
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import hourglass as hg

DIM = 64
RECIPE = "fashion-image2vec"
METHODS = ("pixels", "pca", "dense", "conv", "vae", f"recipe {RECIPE}")
AUTOENCODERS = {
    "dense": ("dense", {"latent_dim": DIM}),
    "conv": ("conv", {"channels": (32, 64), "latent_dim": DIM}),
    "vae": ("vae", {"hidden": (512, 256), "latent_dim": DIM}),
}


def autoencoder_codes(name: str, x_train, x_test, epochs: int, seed: int):
    model_name, options = AUTOENCODERS[name]
    model = hg.create_model(model_name, seed=seed, **options)
    history = hg.fit(model, x_train, epochs=epochs, batch_size=128, seed=seed, progress=False)
    return (
        hg.encode(model, x_train),
        hg.encode(model, x_test),
        {"final_train_loss": history.train_loss[-1], "loss": history.settings["loss"]},
    )


def recipe_codes(x_train, x_test, seed: int, quick: bool):
    """The fashion-image2vec recipe's model (trained on the recipe's data: all 60,000 training
    images; a 5,000-image subset in a quick run), its codes of the benchmark's images."""
    overrides = {"training.seed": seed, "report.enabled": False}
    if quick:
        overrides.update({"training.epochs": 2, "data.max_train": 5000})
    with tempfile.TemporaryDirectory() as out:
        result = hg.run_recipe(RECIPE, out, overrides=overrides, progress=False)
    return (
        hg.encode(result.model, x_train),
        hg.encode(result.model, x_test),
        {"final_train_loss": result.history.train_loss[-1], "loss": "mse", "epochs": result.history.epochs},
    )


def linear_probe(z_train, y_train, z_test, y_test, max_iter: int) -> float:
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    clf.fit(z_train.reshape(len(z_train), -1), y_train)
    return float(clf.score(z_test.reshape(len(z_test), -1), y_test))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--max-iter", type=int, default=1000, help="logistic regression iterations")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5,000 images, 2 epochs")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--resume", action="store_true", help="keep the rows already in the output file, run only the missing ones"
    )
    args = parser.parse_args()

    ds = hg.datasets.load("fashion-mnist")
    x_train, y_train, x_test, y_test = ds.x_train, ds.y_train, ds.x_test, ds.y_test
    if args.quick:
        x_train, y_train, x_test, y_test = x_train[:5000], y_train[:5000], x_test[:1000], y_test[:1000]
        args.epochs, args.max_iter = 2, 200
    rows = earlier_rows("embeddings", args.out) if args.resume else []
    done = {(r["method"], r["seed"]) for r in rows}
    summary = summarise(rows, args.methods)  # what a resumed run already has
    for seed in args.seeds:
        for method in args.methods:
            if method in ("pixels", "pca") and seed != args.seeds[0]:
                continue  # no training: one seed says it all (PCA's solver is exact at this size)
            if (method, seed) in done:
                continue
            rows.append(embed_and_probe(method, x_train, y_train, x_test, y_test, seed, args))
            print(rows[-1], flush=True)
            summary = summarise(rows, args.methods)
            record = {"protocol": __doc__, "epochs": args.epochs, "seeds": args.seeds}
            record.update(n_train=len(x_train), n_test=len(x_test), rows=rows, summary=summary)
            write_json("embeddings", record, args.out)  # after every row: a long run keeps what it measured
    for method, stats in summary.items():
        print(f"{method:28s} {stats['mean']:.4f} ± {stats['std']:.4f} ({stats['seeds']} seeds)")


def summarise(rows: list[dict], methods) -> dict:
    """Per method: mean and spread of the test accuracy over seeds, and the lead over PCA in points."""
    summary = {}
    for method in methods:
        accuracies = [r["test_accuracy"] for r in rows if r["method"] == method]
        if accuracies:
            summary[method] = {
                "mean": float(np.mean(accuracies)),
                "std": float(np.std(accuracies)),
                "seeds": len(accuracies),
            }
    if "pca" in summary:
        for stats in summary.values():
            stats["minus_pca_points"] = 100 * (stats["mean"] - summary["pca"]["mean"])
    return summary


def embed_and_probe(method, x_train, y_train, x_test, y_test, seed, args) -> dict:
    start = time.perf_counter()
    extra = {}
    if method == "pixels":
        z_train, z_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    elif method == "pca":
        pca = PCA(n_components=DIM, random_state=seed).fit(x_train.reshape(len(x_train), -1))
        z_train = pca.transform(x_train.reshape(len(x_train), -1))
        z_test = pca.transform(x_test.reshape(len(x_test), -1))
        extra = {"explained_variance": float(pca.explained_variance_ratio_.sum())}
    elif method in AUTOENCODERS:
        z_train, z_test, extra = autoencoder_codes(method, x_train, x_test, args.epochs, seed)
    else:
        z_train, z_test, extra = recipe_codes(x_train, x_test, seed, args.quick)
    embed_seconds = time.perf_counter() - start
    start = time.perf_counter()
    accuracy = linear_probe(z_train, y_train, z_test, y_test, args.max_iter)
    return {
        "method": method,
        "seed": seed,
        "dimensions": int(np.prod(z_train.shape[1:])),
        "test_accuracy": accuracy,
        "embed_seconds": round(embed_seconds, 1),
        "probe_seconds": round(time.perf_counter() - start, 1),
        **extra,
    }


if __name__ == "__main__":
    main()
