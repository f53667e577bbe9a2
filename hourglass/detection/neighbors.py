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

With ``nearest=True`` (:class:`~hourglass.Detector`'s option) the score is the larger of two, each
scaled on the calibration data (0 at its median, 1 at its 99th percentile): the distance to the
single nearest row and the mean distance to the ``n_neighbors`` nearest. The nearest row alone
tells a new shape or dynamics best, but a shape the memory holds once or twice (an anomaly inside
the training part) is its own match; the mean of several is not fooled by that. On the 17 TSB-AD
files the two together score VUS-PR 0.653 against 0.644 for 10 neighbours alone and 0.691 for one
alone, and keep 10 neighbours' worst case on contaminated training parts (AUROC 0.863 against 0.724
for one; ``benchmarks/tsbad.py``, ``docs/decisions/series-defaults.md``).

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


# where a score's calibration scores put 0 (the median) and 1 (this percentile), with nearest=True
LEVEL_PERCENTILE = 99


def combined(nearest, n_neighbors: int, levels=None):
    """The score from each row's ascending nearest distances ``(B, >= n_neighbors)`` (torch or
    NumPy): their first ``n_neighbors``' mean; with ``levels`` (nearest=True), the larger of the
    nearest distance and that mean, each as ``(d - median) / spread`` of its calibration values."""
    mean = nearest[:, :n_neighbors].mean(1)
    if levels is None:
        return mean
    first = (nearest[:, 0] - levels[0]) / levels[1]
    rest = (mean - levels[2]) / levels[3]
    return torch.maximum(first, rest) if isinstance(first, torch.Tensor) else np.maximum(first, rest)


# the smallest spread, per square root of the encoding's width: below it, distances of an exactly
# repeating signal differ by float32 rounding (~1e-7), which would otherwise be scaled up to scores
LEVEL_FLOOR = 1e-4


def fit_levels(nearest: np.ndarray, n_neighbors: int, width: int) -> np.ndarray:
    """``[median, spread]`` of the nearest distance and of the ``n_neighbors``' mean over the
    calibration rows' ascending distances: spread from the median to the ``LEVEL_PERCENTILE``-th
    percentile, at least ``LEVEL_FLOOR * sqrt(width)``."""
    nearest = np.asarray(nearest, dtype=np.float64)
    floor = LEVEL_FLOOR * np.sqrt(width)
    out = []
    for d in (nearest[:, 0], nearest[:, :n_neighbors].mean(axis=1)):
        mid, top = np.median(d), np.percentile(d, LEVEL_PERCENTILE)
        out += [mid, max(top - mid, floor)]
    return np.asarray(out, dtype=np.float64)


class NeighborDistance(nn.Module):
    """Encodings ``(B, F)`` -> the ``k + extra`` smallest distances to the memory, ascending;
    called, the score (:func:`combined`)."""

    def __init__(self, memory: torch.Tensor, n_neighbors: int, levels: torch.Tensor | None = None):
        super().__init__()
        self.n_neighbors = n_neighbors
        self.register_buffer("memory", memory)
        self.register_buffer("memory_norms", memory.square().sum(dim=1))
        self.register_buffer("levels", None if levels is None else levels.to(memory.dtype))

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
        """One score per sample: the mean distance to the ``n_neighbors`` nearest rows of the
        memory, or with ``levels`` the larger of that and the nearest distance, each scaled."""
        return combined(self.nearest(features), self.n_neighbors, self.levels)


def leave_one_out(nearest: np.ndarray, in_memory: np.ndarray, n_neighbors: int) -> np.ndarray:
    """The fit rows' ``n_neighbors`` nearest distances from their ``n_neighbors + 1``: a row in
    the memory is its own nearest neighbour (distance 0), so it drops the first; any other row the last."""
    nearest = np.asarray(nearest, dtype=np.float64)
    return np.where(in_memory[:, None], nearest[:, 1 : n_neighbors + 1], nearest[:, :n_neighbors])


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

    def __init__(self, memory: np.ndarray, n_neighbors: int, rows: np.ndarray | None = None, levels=None):
        self.memory = np.ascontiguousarray(memory, dtype=np.float32)
        self.n_neighbors = int(n_neighbors)
        self.rows = rows  # the fit rows kept (known after fit, not after loading)
        self.levels = None if levels is None else np.asarray(levels, dtype=np.float64)  # nearest=True: fit_levels

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

    def fit_nearest(self, nearest_plus_one: np.ndarray) -> np.ndarray:
        """The fit rows' ``n_neighbors`` nearest distances, each row left out of its own neighbours."""
        in_memory = np.zeros(len(nearest_plus_one), dtype=bool)
        in_memory[self.rows] = True
        return leave_one_out(nearest_plus_one, in_memory, self.n_neighbors)

    def fit_scores(self, nearest_plus_one: np.ndarray) -> np.ndarray:
        """The fit rows' own scores, each left out of its own neighbours."""
        return combined(self.fit_nearest(nearest_plus_one), self.n_neighbors, self.levels)

    def module(self, device) -> NeighborDistance:
        levels = None if self.levels is None else torch.as_tensor(self.levels).to(device)
        return NeighborDistance(torch.as_tensor(self.memory).to(device), self.n_neighbors, levels)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"memory": self.memory} | ({} if self.levels is None else {"neighbor_levels": self.levels})

    @classmethod
    def from_arrays(cls, arrays: dict, n_neighbors: int, features: int, nearest: bool = False) -> NeighborMemory:
        if "memory" not in arrays:
            raise ValueError("a neighbour score without its memory array")
        levels = arrays.get("neighbor_levels")
        if nearest and (levels is None or np.shape(levels) != (4,) or not np.all(np.isfinite(levels))):
            raise ValueError("a neighbour score with nearest=True needs its four finite neighbor_levels")
        return cls(check_memory(arrays["memory"], features), n_neighbors, levels=levels if nearest else None)
