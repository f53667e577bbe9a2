"""A conditional VAE's samples on MNIST, one row per class, to look at.

Trains ``cvae`` (784+10 -> 512 -> 256 -> 8, mirrored; Bernoulli likelihood) on the 60,000 training
images with their labels, then draws 10 samples per class from the prior and writes the grid to
benchmarks/results/cvae_mnist_samples.png. A classifier trained on real images (logistic
regression on 20,000 training images) says how often a sample is recognisably the class it was
asked for; that figure goes to benchmarks/results/cvae_samples.json.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/cvae_samples.py [--epochs 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import RESULTS, write_json
from sklearn.linear_model import LogisticRegression

import hourglass as hg
from hourglass.reports import figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    ds = hg.datasets.load("mnist")
    model = hg.create_model("cvae", hidden=(512, 256), latent_dim=8, seed=args.seed)
    start = time.perf_counter()
    history = hg.fit(
        model, ds.x_train, labels=ds.y_train, epochs=args.epochs, batch_size=128, seed=args.seed, progress=False
    )
    seconds = time.perf_counter() - start
    figures.save_figure(figures.sample_grid(model, n_per_row=10, seed=args.seed), RESULTS / "cvae_mnist_samples.png")

    clf = LogisticRegression(max_iter=500).fit(ds.x_train[:20000].reshape(20000, -1), ds.y_train[:20000])
    wanted = np.repeat(np.arange(10), 100)
    samples = hg.sample(model, len(wanted), labels=wanted, seed=args.seed + 1)
    predicted = clf.predict(samples.reshape(len(samples), -1))
    per_class = {int(c): float((predicted[wanted == c] == c).mean()) for c in range(10)}
    result = {
        "epochs": args.epochs,
        "train_seconds": round(seconds, 1),
        "train_neg_elbo": history.train_loss[-1],
        "samples_recognised_as_their_class": float((predicted == wanted).mean()),
        "per_class": per_class,
        "classifier_test_accuracy_on_real_images": float(clf.score(ds.x_test.reshape(10000, -1), ds.y_test)),
    }
    print(result)
    write_json("cvae_samples", result)


if __name__ == "__main__":
    main()
