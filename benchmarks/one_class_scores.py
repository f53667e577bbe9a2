"""One-class images: which score of a trained autoencoder separates the normal class best?

A pilot for issue 19, item 1 (the method before it becomes a library option). Per class of
Fashion-MNIST (or MNIST): the ``conv`` autoencoder (channels (32, 64), 16-d code; MSE, 10 epochs,
batch 128, seed 0) trains on that class's training images; the whole test set is scored (the other
nine classes are the anomalies) by:

- ``mse``: the reconstruction error (what the built-in recipes use today);
- ``latent-knn``: mean distance to the 5 nearest training codes;
- ``mse+latent-knn``: both, each centred and scaled by its training median and IQR, summed;
- ``feat0-err`` / ``feat1-err``: the error between the encoder's stage-1 / stage-2 feature maps of
  the input and of its reconstruction (a feature-space reconstruction error);
- ``multi-scale``: mse + both feature errors (scaled as above); ``multi+knn``: + latent-knn;
- ``feat1-knn``: mean distance to the 5 nearest training images in the encoder's stage-2 feature
  maps (64 x 7 x 7, every fourth value kept: 784 values);
- ``pixel-knn``: the same on raw pixels (not an autoencoder: the reference).

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/one_class_scores.py [--dataset mnist] [--classes 6 2]

Writes benchmarks/results/one_class_scores.json (per class and the mean).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import write_json
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

import hourglass as hg


def knn_distances(train: np.ndarray, test: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Mean distance to the k nearest training rows: for the training rows themselves (leaving
    each one out) and for the test rows."""
    nn = NearestNeighbors(n_neighbors=k + 1).fit(train)
    d_train, _ = nn.kneighbors(train)
    d_test, _ = nn.kneighbors(test, n_neighbors=k)
    return d_train[:, 1:].mean(1), d_test.mean(1)


def robust_z(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    q1, median, q3 = np.percentile(train, [25, 50, 75])
    return (test - median) / (q3 - q1)


@torch.no_grad()
def stage_features(model, x: np.ndarray) -> list[torch.Tensor]:
    """The encoder's activations after each conv stage (its ReLUs), flattened."""
    h, out = torch.from_numpy(x), []
    for i, layer in enumerate(model.encoder):
        h = layer(h)
        if i in (1, 3):
            out.append(h.flatten(1))
    return out


def one_class(ds, c: int, epochs: int, seed: int) -> dict:
    start = time.perf_counter()
    x_train = ds.x_train[ds.y_train == c]
    x_test, is_anomaly = ds.x_test, (ds.y_test != c).astype(int)
    model = hg.create_model("conv", input_shape=x_train.shape[1:], channels=(32, 64), latent_dim=16, seed=seed)
    hg.fit(model, x_train, epochs=epochs, batch_size=128, loss="mse", seed=seed, progress=False)
    model.eval()
    r_train, r_test = hg.reconstruct(model, x_train), hg.reconstruct(model, x_test)
    mse_train = ((r_train - x_train) ** 2).reshape(len(x_train), -1).mean(1)
    mse_test = ((r_test - x_test) ** 2).reshape(len(x_test), -1).mean(1)
    k_train, k_test = knn_distances(hg.encode(model, x_train), hg.encode(model, x_test))
    f_train, f_test = stage_features(model, x_train), stage_features(model, x_test)
    fr_train, fr_test = stage_features(model, r_train), stage_features(model, r_test)
    fe_train = [((a - b) ** 2).mean(1).numpy() for a, b in zip(f_train, fr_train)]
    fe_test = [((a - b) ** 2).mean(1).numpy() for a, b in zip(f_test, fr_test)]
    multi = robust_z(mse_train, mse_test) + sum(robust_z(a, b) for a, b in zip(fe_train, fe_test))
    fk_train, fk_test = knn_distances(f_train[1].numpy()[:, ::4], f_test[1].numpy()[:, ::4])
    p_train, p_test = knn_distances(x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1))
    scores = {
        "mse": mse_test,
        "latent-knn": k_test,
        "mse+latent-knn": robust_z(mse_train, mse_test) + robust_z(k_train, k_test),
        "feat0-err": fe_test[0],
        "feat1-err": fe_test[1],
        "multi-scale": multi,
        "multi+knn": multi + robust_z(k_train, k_test),
        "feat1-knn": fk_test,
        "pixel-knn": p_test,
    }
    row = {name: float(roc_auc_score(is_anomaly, s)) for name, s in scores.items()}
    return {"class": c, "seed": seed, "auroc": row, "seconds": time.perf_counter() - start}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist", choices=("fashion-mnist", "mnist"))
    parser.add_argument("--classes", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    ds = hg.datasets.load(args.dataset)
    rows = []
    for c in args.classes:
        rows.append(one_class(ds, c, args.epochs, args.seed))
        print(rows[-1], flush=True)
        names = list(rows[0]["auroc"])
        summary = {
            n: {"mean": float(np.mean([r["auroc"][n] for r in rows])), "min": min(r["auroc"][n] for r in rows)}
            for n in names
        }
        record = {"protocol": __doc__, "dataset": args.dataset, "epochs": args.epochs, "rows": rows}
        write_json("one_class_scores", {**record, "summary": summary}, args.out)
    for name, stats in summary.items():
        print(f"{name:16s} mean {stats['mean']:.4f}  weakest class {stats['min']:.4f}")


if __name__ == "__main__":
    main()
