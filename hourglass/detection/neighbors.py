"""Nearest-neighbour scores: how far a sample's encoding lies from those of the normal data.

An autoencoder trained on one class of images learns features of that class, yet it also
reconstructs much of what it never saw (a model of shirts redraws a pullover well enough), so the
reconstruction error separates similar classes poorly. Where a sample falls among the normal
data's encodings tells more: the score is the mean Euclidean distance from a sample's encoding to
those of its ``n_neighbors`` nearest normal samples (the *memory*: the data the detector was
fitted on, at most ``memory_size`` of its rows, drawn at random with a fixed seed).

- ``"feature-knn"``: the encoder's last feature maps before its linear bottleneck
  (:meth:`Autoencoder.features <hourglass.models.base.Autoencoder.features>`; a model without
  one compares its codes);
- ``"code-knn"``: the codes (a VAE's: the mean of q(z | x));
- ``"residual-knn"``: what the reconstruction leaves, ``x - x_hat`` in the scaled space (a
  DenseEnsemble's: of its members' mean reconstruction). A window of a recording whose shape or
  dynamics are new leaves a residual unlike any normal window's, even when its error is no larger:
  on the chaotic MGAB series of TSB-AD the nearest-residual distance takes VUS-PR from 0.06 to
  0.33 (10 neighbours; 0.39 with one) where the reconstruction error ranks anomalies barely
  better than chance
  (``benchmarks/tsbad.py``; :class:`~hourglass.SeriesDetector` scores its windows this way).

On Fashion-MNIST, one class normal (conv (32, 64), 16-d code, 10 epochs, 3 seeds;
``benchmarks/mnist_one_class.py``), the mean AUROC over the ten classes is 0.899 with the
reconstruction MSE (weakest class, shirt: 0.809), 0.917 with ``code-knn`` and 0.941 with
``feature-knn`` (shirt: 0.857). On MNIST, where a model of one digit cannot draw the others, the
reconstruction error stays ahead (0.960 against 0.953).

The fit data's own scores (what the threshold is fitted on when no calibration data are given)
leave each sample out of its own neighbours, so they are not biased low. Distances are computed
as ``|a|^2 + |b|^2 - 2 a.b`` with a matrix product and ``torch.topk``: a batch of 1,024 against a
memory of 10,000 is one matmul, on CPU, GPU and in the exported ONNX graph alike; the distances to
the nearest rows found are then computed directly, so a sample's score does not depend on the
batch it is scored in (the expansion's rounding would, for a sample next to a memory row).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hourglass.errors import InvalidInputError
from hourglass.validation import check_positive_int

NEIGHBOR_SCORES = ("code-knn", "feature-knn", "residual-knn")
# the neighbour scores that compare what the members' mean reconstruction leaves, so a model with
# members (a DenseEnsemble) can use them
ENSEMBLE_NEIGHBOR_SCORES = ("residual-knn",)


def check_neighbors(n_neighbors, memory_size) -> tuple[int, int]:
    """``n_neighbors`` and ``memory_size`` checked (positive integers, memory above neighbours)."""
    k = check_positive_int(n_neighbors, "n_neighbors")
    m = check_positive_int(memory_size, "memory_size")
    if m <= k:
        raise InvalidInputError(f"memory_size ({m}) must be larger than n_neighbors ({k})")
    return k, m


def memory_rows(n: int, memory_size: int) -> np.ndarray:
    """Which of ``n`` fit rows the memory keeps: all, or ``memory_size`` of them drawn at random
    (seed 0, so refitting on the same data keeps the same rows), in their order."""
    if n <= memory_size:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, memory_size, replace=False))


class NeighborDistance(nn.Module):
    """Encodings ``(B, F)`` -> the ``k + extra`` smallest distances to the memory, ascending."""

    def __init__(self, memory: torch.Tensor, n_neighbors: int):
        super().__init__()
        self.n_neighbors = n_neighbors
        self.register_buffer("memory", memory)
        self.register_buffer("memory_norms", memory.square().sum(dim=1))

    def nearest(self, features: torch.Tensor, extra: int = 0) -> torch.Tensor:
        features = features.to(self.memory.dtype)
        d2 = features.square().sum(dim=1, keepdim=True) + self.memory_norms - 2 * features @ self.memory.T
        k = min(self.n_neighbors + extra, self.memory.shape[0])
        # the expansion finds the nearest rows; their distances are then taken directly, since for
        # near-equal rows it cancels to rounding noise (its square root ~1e-3, and batch-dependent)
        nearest = torch.topk(d2, k, dim=1, largest=False).indices
        exact = (features[:, None, :] - self.memory[nearest]).square().sum(dim=2).sqrt()
        return exact.sort(dim=1).values

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Mean distance to the ``n_neighbors`` nearest rows of the memory, one per sample."""
        return self.nearest(features).mean(dim=1)


def leave_one_out(nearest: np.ndarray, in_memory: np.ndarray, n_neighbors: int) -> np.ndarray:
    """The fit rows' scores from their ``n_neighbors + 1`` nearest distances: a row in the memory
    is its own nearest neighbour (distance 0), so it drops the first; any other row the last."""
    nearest = np.asarray(nearest, dtype=np.float64)
    own = nearest[:, 1 : n_neighbors + 1].mean(axis=1)
    other = nearest[:, :n_neighbors].mean(axis=1)
    return np.where(in_memory, own, other)


def check_memory(memory, features: int | None = None) -> np.ndarray:
    """A saved memory array checked: 2-D float, finite, encodings of the model's size."""
    memory = np.asarray(memory)
    if memory.ndim != 2 or not np.issubdtype(memory.dtype, np.floating):
        raise ValueError(f"a neighbour score's memory must be a 2-D float array, got shape {memory.shape}")
    if not np.isfinite(memory).all():
        raise ValueError("a neighbour score's memory holds non-finite values")
    if features is not None and memory.shape[1] != features:
        raise ValueError(f"the memory holds encodings of {memory.shape[1]} values; the model gives {features}")
    return memory.astype(np.float32, copy=False)


class NeighborMemory:
    """A neighbour score's fitted state: the encodings of at most ``memory_size`` of the ``fit``
    rows (which rows: :func:`memory_rows`), saved as the array ``memory``."""

    def __init__(self, memory: np.ndarray, n_neighbors: int, rows: np.ndarray | None = None):
        self.memory = np.ascontiguousarray(memory, dtype=np.float32)
        self.n_neighbors = int(n_neighbors)
        self.rows = rows  # the fit rows kept (known after fit, not after loading)

    @classmethod
    def fit(cls, encode, x: np.ndarray, n_neighbors: int, memory_size: int) -> NeighborMemory:
        """``encode(rows) -> (rows, F)`` encodings; ``x`` the fit data."""
        if len(x) <= n_neighbors:
            raise InvalidInputError(
                f"a neighbour score with n_neighbors={n_neighbors} needs more than {n_neighbors} rows to fit on, "
                f"got {len(x)}"
            )
        rows = memory_rows(len(x), memory_size)
        return cls(encode(x[rows]), n_neighbors, rows)

    def fit_scores(self, nearest_plus_one: np.ndarray) -> np.ndarray:
        """The fit rows' own scores, each left out of its own neighbours."""
        in_memory = np.zeros(len(nearest_plus_one), dtype=bool)
        in_memory[self.rows] = True
        return leave_one_out(nearest_plus_one, in_memory, self.n_neighbors)

    def module(self, device) -> NeighborDistance:
        return NeighborDistance(torch.as_tensor(self.memory).to(device), self.n_neighbors)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"memory": self.memory}

    @classmethod
    def from_arrays(cls, arrays: dict, n_neighbors: int, features: int) -> NeighborMemory:
        if "memory" not in arrays:
            raise ValueError("a neighbour score without its memory array")
        return cls(check_memory(arrays["memory"], features), n_neighbors)
