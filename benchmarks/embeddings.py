"""image2vec on Fashion-MNIST: are 64-dimensional autoencoder codes features worth using?

Each method turns the 60,000 training and 10,000 test images into vectors, without labels:
- ``dense``: the tutorial's dense autoencoder, 784-64-784 (its ReLU code);
- ``conv``: the ``conv`` model with channels (32, 64) and a linear 64-d bottleneck (``latent_dim=64``);
- ``vae``: the dense ``vae`` (784-512-256-64, Bernoulli likelihood), its mean code;
- ``pca``: scikit-learn's PCA with 64 components;
- ``pixels``: the 784 raw pixels.
Then a logistic regression (scikit-learn, L-BFGS, on standardised features) learns the 10 classes
from the training vectors; the score is its accuracy on the test vectors. Same run, same split.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/embeddings.py [--epochs 20] [--quick]

Writes benchmarks/results/embeddings.json.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import write_json
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import hourglass as hg

DIM = 64
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


def linear_probe(z_train, y_train, z_test, y_test, max_iter: int) -> float:
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    clf.fit(z_train.reshape(len(z_train), -1), y_train)
    return float(clf.score(z_test.reshape(len(z_test), -1), y_test))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-iter", type=int, default=1000, help="logistic regression iterations")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5,000 images, 2 epochs")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    ds = hg.datasets.load("fashion-mnist")
    x_train, y_train, x_test, y_test = ds.x_train, ds.y_train, ds.x_test, ds.y_test
    if args.quick:
        x_train, y_train, x_test, y_test = x_train[:5000], y_train[:5000], x_test[:1000], y_test[:1000]
        args.epochs, args.max_iter = 2, 200
    rows = []
    for method in ("pixels", "pca", *AUTOENCODERS):
        start = time.perf_counter()
        extra = {}
        if method == "pixels":
            z_train, z_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
        elif method == "pca":
            pca = PCA(n_components=DIM, random_state=args.seed).fit(x_train.reshape(len(x_train), -1))
            z_train = pca.transform(x_train.reshape(len(x_train), -1))
            z_test = pca.transform(x_test.reshape(len(x_test), -1))
            extra = {"explained_variance": float(pca.explained_variance_ratio_.sum())}
        else:
            z_train, z_test, extra = autoencoder_codes(method, x_train, x_test, args.epochs, args.seed)
        embed_seconds = time.perf_counter() - start
        start = time.perf_counter()
        accuracy = linear_probe(z_train, y_train, z_test, y_test, args.max_iter)
        row = {
            "method": method,
            "dimensions": int(np.prod(z_train.shape[1:])),
            "test_accuracy": accuracy,
            "embed_seconds": round(embed_seconds, 1),
            "probe_seconds": round(time.perf_counter() - start, 1),
            **extra,
        }
        print(row, flush=True)
        rows.append(row)
    by = {r["method"]: r["test_accuracy"] for r in rows}
    best = max(AUTOENCODERS, key=by.get)
    summary = {
        "best_autoencoder": best,
        "best_autoencoder_accuracy": by[best],
        "pca_accuracy": by["pca"],
        "pixels_accuracy": by["pixels"],
        "best_autoencoder_beats_pca": by[best] > by["pca"],
    }
    print(summary)
    write_json(
        "embeddings",
        {
            "protocol": __doc__,
            "epochs": args.epochs,
            "seed": args.seed,
            "n_train": len(x_train),
            "n_test": len(x_test),
            "rows": rows,
            "summary": summary,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
