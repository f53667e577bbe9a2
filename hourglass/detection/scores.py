"""Reconstruction errors: per element (pixel, time step, feature) and per sample.

``mse`` and ``mae`` average the squared / absolute error over a sample's elements. ``l2`` is the
Euclidean distance between a sample and its reconstruction after standardisation: each element's
error is divided by that element's standard deviation on the normal training data (the scale
:class:`~hourglass.Detector` learns in ``fit``), so that a feature measured in large units does
not drown the others. PyOD's AutoEncoder scores this way after its StandardScaler.

``code-knn``, ``feature-knn`` and ``residual-knn`` score by where a sample's encoding (or what its
reconstruction leaves) falls among the normal data's (:mod:`hourglass.detection.neighbors`); their
``score_map`` is the squared reconstruction error, the per-element picture they lack.

A VAE also scores by its probability model: ``elbo`` is the negative ELBO (reconstruction
negative log-likelihood averaged over k codes drawn from q(z | x), plus the KL), ``nll`` the
importance-weighted estimate of -log p(x) from k draws, both in nats; their ``score_map`` is the
per-element reconstruction NLL. (``mse`` / ``mae`` / ``l2`` on a VAE score the reconstruction
from the mean code.)

``worst_fraction`` keeps only a sample's worst elements: the mean (``l2``: the root of the sum) over
the ``worst_fraction`` of its elements with the largest errors. An anomaly confined to a few
elements (a distorted stretch of a heartbeat, a scratch on an image) is then not diluted by the
many elements it shares with normal samples: on ECG5000, scoring a conv1d by its worst 10 % of
steps raises the AUROC from 0.988 to 0.993 (3 seeds, ``benchmarks/ecg_models.py``; with MSE and
three models, the ``ecg-conv1d`` recipe, 0.996).

``error_blur`` smooths the signed error ``x_hat - x`` with a Gaussian of that standard deviation
(in pixels, or time steps) before it is squared: a structural error. A stroke the reconstruction
draws a pixel off leaves a thin band of positive error beside a band of negative error, which the
blur cancels; a stroke that is missing or added leaves error of one sign, which it keeps. On
one-class MNIST this separates digits that share strokes (8 against 3, 5 and 9) better than the
raw error: mean AUROC over the ten digits 0.960 -> 0.969 with ``error_blur=1``, and with
``worst_fraction=0.05`` 0.963 -> 0.973 (digit 8: 0.883 -> 0.921; 3 seeds,
``benchmarks/mnist_one_class.py``). Images ``(C, H, W)`` are blurred over height and width,
series ``(length,)`` / ``(channels, length)`` along time, channel by channel, with zeros beyond
the edges.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from hourglass.detection.neighbors import ENSEMBLE_NEIGHBOR_SCORES, NEIGHBOR_SCORES
from hourglass.errors import InvalidInputError
from hourglass.models.vae import VariationalAutoencoder

RECONSTRUCTION_SCORES = ("mse", "mae", "l2")
# Scores that need a VAE: its negative ELBO, and an importance-weighted estimate of -log p(x).
VARIATIONAL_SCORES = ("elbo", "nll")
SCORES = RECONSTRUCTION_SCORES + VARIATIONAL_SCORES + NEIGHBOR_SCORES
# What hg.AutoencoderDetector (and the CLI's train command) score by: its threshold is fitted on
# rows it trained on, which a neighbour score would find at distance 0 from themselves.
ESTIMATOR_ERRORS = RECONSTRUCTION_SCORES + VARIATIONAL_SCORES


def check_score(score: str, model=None) -> str:
    if score not in SCORES:
        raise InvalidInputError(f"score must be one of {SCORES}, got {score!r}")
    if score in VARIATIONAL_SCORES and model is not None and not isinstance(model, VariationalAutoencoder):
        raise InvalidInputError(
            f"score={score!r} needs a variational model (vae, conv-vae); the {model.name!r} "
            "model scores with 'mse', 'mae' or 'l2'"
        )
    if (
        score in NEIGHBOR_SCORES
        and score not in ENSEMBLE_NEIGHBOR_SCORES
        and model is not None
        and model.n_members is not None
    ):
        raise InvalidInputError(
            f"score={score!r} is for one model; for the members of a {model.name!r} use "
            "hg.DetectorEnsemble of Detectors over separately trained models"
        )
    return score


def error_map(
    x: torch.Tensor, x_hat: torch.Tensor, score: str, scale: torch.Tensor | None = None, blur: float | None = None
) -> torch.Tensor:
    """Element-wise error, same shape as ``x``: squared (``"mse"``), absolute (``"mae"``), or
    squared after dividing by ``scale`` (``"l2"``; the per-sample score is the root of its sum);
    with ``blur``, of the signed error smoothed by :func:`blur_error` first."""
    diff = x_hat - x
    if blur is not None:
        diff = blur_error(diff, blur)
    if score == "mae":
        return diff.abs()
    if score == "l2" and scale is not None:
        diff = diff / scale
    return diff.square()


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """The normalised 1-D Gaussian of standard deviation ``sigma``, cut at 3 sigma (at least
    three taps)."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    return (kernel / kernel.sum()).float()


def blur_error(diff: torch.Tensor, sigma: float) -> torch.Tensor:
    """``diff`` (batch, *input_shape) smoothed by a Gaussian of ``sigma`` elements, separably and
    channel by channel: over height and width for images (batch, C, H, W), along the last axis
    for series (batch, length) or (batch, channels, length); zero beyond the edges."""
    kernel = gaussian_kernel(sigma).to(device=diff.device, dtype=diff.dtype)
    radius = len(kernel) // 2
    if diff.dim() == 4:
        c = diff.shape[1]
        wide = kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1)
        diff = F.conv2d(diff, wide, padding=(0, radius), groups=c)
        return F.conv2d(diff, wide.transpose(2, 3), padding=(radius, 0), groups=c)
    rows = diff.reshape(-1, 1, diff.shape[-1])
    return F.conv1d(rows, kernel.view(1, 1, -1), padding=radius).reshape(diff.shape)


def check_error_blur(error_blur, score: str, input_shape) -> float | None:
    """``error_blur`` checked: None, or a positive finite number of elements, for the
    reconstruction scores of images or series (the axes it smooths along must be neighbours)."""
    if error_blur is None:
        return None
    if (
        isinstance(error_blur, bool)
        or not isinstance(error_blur, (int, float, np.integer, np.floating))
        or not 0 < error_blur < math.inf
    ):
        raise InvalidInputError(
            f"error_blur must be a positive number (a Gaussian's std in pixels), got {error_blur!r}"
        )
    if score not in RECONSTRUCTION_SCORES:
        raise InvalidInputError(f"error_blur is for reconstruction scores (mse, mae, l2), not {score!r}")
    if input_shape is None:
        return float(error_blur)
    if len(input_shape) not in (1, 2, 3):
        raise InvalidInputError(
            "error_blur smooths images (C, H, W) or series (length,) / (channels, length); "
            f"input shape {tuple(input_shape)}"
        )
    width = max(input_shape[1:]) if len(input_shape) == 3 else input_shape[-1]
    if error_blur > width:
        raise InvalidInputError(
            f"error_blur={error_blur!r} is wider than the input ({width} elements along the axes it smooths); "
            "a Gaussian that wide averages the whole error away"
        )
    return float(error_blur)


def check_worst_fraction(worst_fraction, score: str) -> float | None:
    """``worst_fraction`` checked: None (every element) or a number in (0, 1], for the
    reconstruction scores only."""
    if worst_fraction is None:
        return None
    if (
        isinstance(worst_fraction, bool)
        or not isinstance(worst_fraction, (int, float, np.integer, np.floating))
        or not 0 < worst_fraction <= 1
    ):
        raise InvalidInputError(f"worst_fraction must be a number in (0, 1] or None, got {worst_fraction!r}")
    if score not in RECONSTRUCTION_SCORES:
        raise InvalidInputError(f"worst_fraction is for reconstruction scores (mse, mae, l2), not {score!r}")
    return float(worst_fraction)


def worst_count(worst_fraction: float | None, elements: int) -> int | None:
    """How many of a sample's ``elements`` errors the score keeps (at least one); None: all."""
    if worst_fraction is None:
        return None
    return max(1, min(elements, int(round(worst_fraction * elements))))


def reduce_errors(errors: torch.Tensor, score: str, worst: int | None = None) -> torch.Tensor:
    """Per-element errors (..., F) -> one score per row: the mean over the elements (``"l2"``: the
    root of the sum), or over the ``worst`` largest only."""
    if worst is not None and worst < errors.shape[-1]:
        errors = torch.topk(errors, worst, dim=-1, sorted=False).values
    return errors.sum(dim=-1).sqrt() if score == "l2" else errors.mean(dim=-1)


def sample_scores(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    score: str,
    scale: torch.Tensor | None = None,
    worst: int | None = None,
    blur: float | None = None,
) -> torch.Tensor:
    """One error per sample: the mean of :func:`error_map` over all but the batch axis (for
    ``"l2"``: the square root of its sum), or over its ``worst`` largest elements only."""
    return reduce_errors(error_map(x, x_hat, score, scale, blur).flatten(1), score, worst)


def feature_scale(x: np.ndarray) -> np.ndarray:
    """Per-element standard deviation over the samples of ``x``; constant elements get 1 (as
    scikit-learn's StandardScaler does), so they neither vanish nor blow up."""
    std = x.astype(np.float64).std(axis=0)
    std[std < 1e-12 * max(1.0, float(np.abs(x).max()))] = 1.0
    return std.astype(np.float32)


# -- the scores' fitted state: each owns its arrays in a saved folder ------------------------


class FeatureScale:
    """``score="l2"``'s fitted state: each element's standard deviation on the ``fit`` data
    (model input space, after the scaler), saved as the array ``scale``."""

    def __init__(self, scale: np.ndarray):
        self.scale = np.asarray(scale, dtype=np.float32)

    @classmethod
    def fit(cls, x_scaled: np.ndarray, input_shape) -> FeatureScale:
        return cls(feature_scale(x_scaled).reshape(tuple(input_shape)))

    def tensor(self, device) -> torch.Tensor:
        return torch.as_tensor(self.scale).to(device)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"scale": self.scale}

    @classmethod
    def from_arrays(cls, arrays: dict, input_shape) -> FeatureScale:
        if "scale" not in arrays:
            raise ValueError("score 'l2' without its scale array")
        scale = np.asarray(arrays["scale"])
        if scale.shape != tuple(input_shape):
            raise ValueError(f"scale array of shape {scale.shape} for inputs of shape {tuple(input_shape)}")
        return cls(scale)


def robust_standardisation(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's median and interquartile range (its standard deviation where the range is 0,
    else 1), for members' scores of shape (members, samples)."""
    raw = np.asarray(raw, dtype=np.float64)
    center = np.median(raw, axis=1)
    q75, q25 = np.percentile(raw, [75, 25], axis=1)
    spread, fallback = q75 - q25, raw.std(axis=1)
    return center, np.where(spread > 1e-12, spread, np.where(fallback > 1e-12, fallback, 1.0))


class MemberStandardisation:
    """An ensemble's fitted state (a DenseEnsemble's members, a DetectorEnsemble's detectors):
    each member's median (``center``) and interquartile range (``spread``) of its scores on the
    ``fit`` data, by which its scores are standardised before the members are averaged; saved as
    the arrays ``center`` and ``spread``."""

    def __init__(self, center: np.ndarray, spread: np.ndarray):
        self.center = np.asarray(center, dtype=np.float64)
        self.spread = np.asarray(spread, dtype=np.float64)

    @classmethod
    def fit(cls, raw: np.ndarray) -> MemberStandardisation:
        """From the members' raw scores, shape (members, samples)."""
        return cls(*robust_standardisation(raw))

    def tensors(self, device) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.as_tensor(self.center, device=device), torch.as_tensor(self.spread, device=device))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"center": self.center, "spread": self.spread}

    @classmethod
    def from_arrays(cls, arrays: dict, members: int) -> MemberStandardisation:
        center, spread = arrays.get("center"), arrays.get("spread")
        if center is None or spread is None or np.shape(center) != (members,) or np.shape(spread) != (members,):
            raise ValueError(f"a detector of {members} members without their center / spread arrays")
        return cls(center, spread)
