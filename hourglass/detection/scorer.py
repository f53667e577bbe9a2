"""The one scoring path: a batch of raw inputs in, reconstructions and scores out, as torch modules.

:class:`Scorer` is one detector's scoring (its scaler's torch form, its input transform, its model,
its error; for a :class:`~hourglass.models.DenseEnsemble`, every member in one pass of the stacked
network, the members' robustly standardised errors averaged); :class:`EnsembleScorer` runs its
members' scorers on the same batch and combines their robustly standardised scores. ``Detector``
and ``DetectorEnsemble`` score through them, batch by batch on the model's device;
``hg.export_onnx`` traces the same modules into the ONNX scorer; the report shows their
reconstructions. Everything is a tensor operation, so the same code runs on CPU, GPU and in an
exported graph.
"""

from __future__ import annotations

import torch
from torch import nn

from hourglass.detection.neighbors import NeighborDistance
from hourglass.detection.scores import VARIATIONAL_SCORES, error_map, reduce_errors, sample_scores


class Scorer(nn.Module):
    """One detector: raw x -> (reconstruction in the input's units, score per sample).

    Parameters
    ----------
    model : Autoencoder
    score : str
        "mae", "mse", "l2" (reconstruction errors) or "elbo", "nll" (a VAE's).
    scaler : nn.Module, optional
        The fitted scaler's torch form (``scaler.as_module(shape)``): the model sees scaled input.
    scale : Tensor, optional
        Per-element standard deviations for the "l2" score.
    input_transform : callable, optional
        Deterministic transform of the model's input (super-resolution); errors are measured
        against the untransformed input.
    draws : Tensor, optional
        The fixed standard-normal draws (k, latent) behind the variational scores.
    rows : int or None
        Codes a VAE decodes at once (bounds memory); None decodes all draws at once, which an
        exported graph needs.
    center, spread : Tensor, optional
        For a model with members (a DenseEnsemble): each member's median and interquartile range
        of its errors on the detector's fit data; the score is the mean over members of
        ``(error - center) / spread``. Without them ``scores`` is that of the members' mean
        reconstruction (what :meth:`member_scores` needs no center for).
    worst : int, optional
        Score a sample by its ``worst`` largest element errors only (the detector's
        ``worst_fraction`` as a count); None: every element.
    neighbors : NeighborDistance, optional
        For "code-knn" / "feature-knn" / "residual-knn": the memory of the fit data's encodings and the distance
        to the nearest of them (see :mod:`hourglass.detection.neighbors`).
    blur : float, optional
        The detector's ``error_blur``: the signed error is smoothed by a Gaussian of this
        standard deviation (elements) before it is squared (see :func:`~hourglass.detection.scores.blur_error`).
    """

    def __init__(
        self,
        model,
        score: str,
        *,
        scaler: nn.Module | None = None,
        scale: torch.Tensor | None = None,
        input_transform=None,
        draws: torch.Tensor | None = None,
        rows: int | None = 16384,
        center: torch.Tensor | None = None,
        spread: torch.Tensor | None = None,
        worst: int | None = None,
        neighbors: NeighborDistance | None = None,
        blur: float | None = None,
    ):
        super().__init__()
        self.worst = worst
        self.blur = blur
        self.neighbors = neighbors
        self.model = model
        self.score = score
        self.variational = score in VARIATIONAL_SCORES
        self.scaler = scaler
        self.input_transform = input_transform
        self.rows = rows
        # a neighbour score compares the members' mean reconstruction, not their errors
        self.members = model.n_members is not None and center is not None and neighbors is None
        self.register_buffer("scale", scale)
        self.register_buffer("draws", draws)
        self.register_buffer("center", None if center is None else center.double())
        self.register_buffer("spread", None if spread is None else spread.double())

    def model_input(self, x: torch.Tensor) -> torch.Tensor:
        """x as the model sees it: scaled."""
        return x if self.scaler is None else self.scaler(x)

    def encodings(self, x: torch.Tensor) -> torch.Tensor:
        """What the neighbour scores compare, (n, F): the model's features ("feature-knn"),
        codes ("code-knn") or the residual of its reconstruction ("residual-knn") of raw ``x``."""
        return self._encodings(self.model_input(x))

    def _encodings(self, xs: torch.Tensor) -> torch.Tensor:
        if self.score == "residual-knn":
            return (xs - self._reconstruct(xs)).flatten(1)
        xs = self._transformed(xs)
        return self.model.features(xs) if self.score == "feature-knn" else self.model.encode(xs).flatten(1)

    def nearest(self, x: torch.Tensor, extra: int = 0) -> torch.Tensor:
        """The ``n_neighbors + extra`` smallest distances to the memory, ascending, (n, k + extra)."""
        return self.neighbors.nearest(self.encodings(x), extra)

    def nearest_plus_one(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`nearest` with one more: the fit rows' leave-one-out scores need it."""
        return self.nearest(x, 1)

    def _reconstruct(self, xs: torch.Tensor) -> torch.Tensor:
        return self.model(xs if self.input_transform is None else self.input_transform(xs))

    def _variational_score(self, xs: torch.Tensor) -> torch.Tensor:
        per_sample = self.model.expected_negative_elbo if self.score == "elbo" else self.model.importance_weighted_nll
        return per_sample(xs, self.draws, None, self.rows)

    def _member_errors(self, xs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
        """(N, B, F): each member's error per element (flattened), in its own space (with its own
        scaling the ``l2`` scale is the members' own, not the detector's)."""
        targets = self.model.member_targets(xs)  # flattened: (B, F), or (N, B, F) when members scale
        scale = None if self.model.config.member_scaling or self.scale is None else self.scale.flatten()
        return error_map(targets if targets.dim() == 3 else targets[None], outputs.flatten(2), self.score, scale)

    def _member_scores(self, xs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
        """(N, B): each member's error on its own features (all, or its subset)."""
        errors = self._member_errors(xs, outputs)
        if not self.model.config.feature_subsets:
            return reduce_errors(errors, self.score, self.worst)
        mask = self.model.feature_mask[:, None, :]
        total = (errors * mask).sum(dim=2)
        return total.sqrt() if self.score == "l2" else total / mask.sum(dim=2)

    def member_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Each member's raw error, shape (n, N) (a DenseEnsemble's members)."""
        xs = self.model_input(x)
        return self._member_scores(xs, self.model.member_outputs(self._transformed(xs))).T

    def _combined(self, raw: torch.Tensor) -> torch.Tensor:
        return ((raw.double() - self.center[:, None]) / self.spread[:, None]).mean(dim=0)

    def _transformed(self, xs: torch.Tensor) -> torch.Tensor:
        return xs if self.input_transform is None else self.input_transform(xs)

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """One score per sample, shape (n,); higher = more anomalous."""
        xs = self.model_input(x)
        if self.members:
            return self._combined(self._member_scores(xs, self.model.member_outputs(self._transformed(xs))))
        if self.variational:
            return self._variational_score(xs)
        if self.neighbors is not None:
            return self.neighbors(self._encodings(xs))
        return sample_scores(xs, self._reconstruct(xs), self.score, self.scale, self.worst, self.blur)

    def error_map(self, x: torch.Tensor) -> torch.Tensor:
        """The error per element, shaped like the model's input (a VAE: the reconstruction NLL)."""
        xs = self.model_input(x)
        if self.variational:
            return self.model.expected_nll_map(xs, self.draws, None, self.rows)
        if self.members:  # each member's map over its spread, on its features, averaged
            maps = self._member_errors(xs, self.model.member_outputs(self._transformed(xs)))
            maps = (maps / self.spread.view(-1, 1, 1).to(maps.dtype)).view(*maps.shape[:2], *self.model.input_shape)
            return self.model.mean_over_members(maps)
        if self.neighbors is not None:
            return error_map(xs, self._reconstruct(xs), "mse")
        return error_map(xs, self._reconstruct(xs), self.score, self.scale, self.blur)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xs = self.model_input(x)
        if self.members:
            outputs = self.model.member_outputs(self._transformed(xs))
            x_hat = self.model.mean_over_members(self.model.to_input_space(outputs))
            score = self._combined(self._member_scores(xs, outputs))
            return (x_hat if self.scaler is None else self.scaler.inverse(x_hat)), score
        if self.variational:
            score, x_hat = self._variational_score(xs), self.model(xs)  # a VAE reconstructs from its mean code
        elif self.neighbors is not None:
            x_hat, score = self._reconstruct(xs), self.neighbors(self._encodings(xs))
        else:
            x_hat = self._reconstruct(xs)
            score = sample_scores(xs, x_hat, self.score, self.scale, self.worst, self.blur)
        return (x_hat if self.scaler is None else self.scaler.inverse(x_hat)), score


def combine_scores(raw: list[torch.Tensor], center: torch.Tensor, spread: torch.Tensor) -> torch.Tensor:
    """The ensemble's score: each member's score minus its median over its interquartile range,
    averaged, in float64, member by member in order (so a batch's scores do not depend on what
    else is in the batch, and equal 0.1.0's NumPy combination to the last bit)."""
    total = None
    for k, member in enumerate(raw):
        z = (member.double() - center[k]) / spread[k]
        total = z if total is None else total + z
    return total / len(raw)


class EnsembleScorer(nn.Module):
    """Several detectors on one batch: raw x -> (mean reconstruction, combined score)."""

    def __init__(self, members: list[Scorer], center: torch.Tensor, spread: torch.Tensor):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.register_buffer("center", center.double())
        self.register_buffer("spread", spread.double())

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        return combine_scores([m.scores(x) for m in self.members], self.center, self.spread)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = [m(x) for m in self.members]
        score = combine_scores([s for _, s in outputs], self.center, self.spread)
        return torch.stack([r for r, _ in outputs]).mean(dim=0), score
