"""The anomaly detector: a trained autoencoder, a score, a threshold and an optional scaler."""

from __future__ import annotations

import math

import numpy as np
import torch

from hourglass.detection.base import BaseDetector, Explanation, warn_if_uncalibrated  # noqa: F401 (Explanation: its home was here)
from hourglass.detection.neighbors import NEIGHBOR_SCORES, NeighborMemory, fit_levels
from hourglass.detection.scorer import Scorer
from hourglass.detection.scores import (  # noqa: F401 (robust_standardisation: its home was here)
    VARIATIONAL_SCORES,
    FeatureScale,
    MemberStandardisation,
    robust_standardisation,
    worst_count,
)
from hourglass.detection.spec import ScoreSpec
from hourglass.detection.thresholds import MeanStd, Threshold, threshold_from_dict
from hourglass.devices import model_device
from hourglass.errors import InvalidInputError
from hourglass.models.base import Autoencoder
from hourglass.saving import SavedState, float64_array
from hourglass.transforms.scalers import scaler_from_dict
from hourglass.validation import as_float_array, check_model_input


def _spec_option(name: str) -> property:
    """A :class:`ScoreSpec` field read (and replaced, validated again) as the detector's attribute."""

    def get(self):
        return getattr(self.spec, name)

    def set_(self, value):
        self.spec = self.spec.replace(**{name: value})

    return property(get, set_, doc=f"The spec's ``{name}`` (:class:`~hourglass.detection.spec.ScoreSpec`).")


class Detector(BaseDetector):
    """Flag samples the autoencoder reconstructs badly.

    Parameters
    ----------
    model : Autoencoder
        A model already trained (with :func:`hourglass.fit`) on normal data.
    score : {"mae", "mse", "l2", "elbo", "nll", "feature-knn", "code-knn", "residual-knn"}, default "mae"
        Per-sample reconstruction error: mean absolute or mean squared over all elements, or
        the Euclidean distance after dividing each element's error by its standard deviation on
        the data passed to :meth:`fit` (see :mod:`hourglass.detection.scores`). For a VAE also
        ``"elbo"`` (negative ELBO) and ``"nll"`` (importance-weighted -log p(x)), in nats.
        ``"feature-knn"``: the mean distance from a sample's encoder feature maps to those of its
        ``n_neighbors`` nearest ``fit`` samples (``"code-knn"``: between codes); on one-class
        images it separates similar classes better than the reconstruction error.
        ``"residual-knn"``: the same between residuals ``x - x_hat`` (scaled), for any model
        including a DenseEnsemble: what :class:`~hourglass.SeriesDetector` scores windows by.
    threshold : Threshold, default ``MeanStd(k=1.0)``
        Fitted in :meth:`fit` on the scores of the calibration data (``calibration=`` if given,
        else the data passed to ``fit``). For :class:`~hourglass.FixedFPR` pass held-out normal
        data as ``calibration``: its guarantee needs scores of samples the model never saw.
    scaler : MinMaxScaler or StandardScaler, optional
        Applied to every input before scoring; fitted in :meth:`fit` unless already fitted (pass
        the scaler the training data went through, so raw inputs score correctly).
    batch_size : int, default 1024
        Rows per inference batch.
    feature_names : sequence of str, optional
        Names of the input's elements (columns of a table), used by :meth:`explain`.
    n_samples : int, default 64
        Codes drawn from q(z | x) per sample for the ``"elbo"`` and ``"nll"`` scores. The same
        k standard-normal draws (seeded) serve every sample, so a sample's score does not depend
        on what it is batched with, and scoring twice gives the same result.
    input_transform : hg.Downsample, optional
        Applied to each input before the model sees it at scoring time, while the error is still
        measured against the untouched input: a super-resolution model (trained with
        ``corruption=hg.Downsample(k)``) is scored on how well it restores full resolution from
        the coarse input it was trained on. Must be deterministic (random noise would make a
        sample's score change from call to call).
    worst_fraction : float in (0, 1], optional
        Score a sample by its worst elements only: the mean (``l2``: the root of the sum) of the
        largest ``worst_fraction`` of its element errors (0.1: its worst 10 % of time steps or
        pixels), so that an anomaly confined to a few elements is not diluted by the many it
        reconstructs well. None (default): every element. Reconstruction scores only.
    error_blur : float, optional
        Smooth the signed error ``x_hat - x`` with a Gaussian of this standard deviation, in
        pixels (images) or time steps (series), before squaring it: a stroke drawn a pixel off
        then costs little, a missing or extra stroke keeps its cost (see
        :mod:`hourglass.detection.scores`). ``score_map`` shows the smoothed error. None
        (default): the raw error. Reconstruction scores, one model (not a dense-ensemble).
    n_neighbors : int, default 5
        For ``score="feature-knn"`` / ``"code-knn"``: the score is the mean distance to this many
        nearest encodings of the ``fit`` data (see :mod:`hourglass.detection.neighbors`).
    memory_size : int, default 10000
        For those scores: the most ``fit`` rows whose encodings are kept (a random subset, seed 0,
        when there are more); they are saved with the detector.
    nearest : bool, default False
        For those scores: the larger of the distance to the single nearest encoding and the mean
        distance to the ``n_neighbors`` nearest, each scaled on the calibration data (0 at its
        median, 1 at its 99th percentile; see :mod:`hourglass.detection.neighbors`).

    Attributes
    ----------
    threshold_ : float
        Scores above it are anomalies.
    train_scores_ : dict
        Mean, std, min, max of the scores the threshold was fitted on.
    calibration_scores_ : ndarray
        Those scores, sorted: the reference for :meth:`p_values`.
    spec : ScoreSpec
        The scoring options above (all but the model, threshold, scaler and feature names), as
        one frozen, validated dataclass (:mod:`hourglass.detection.spec`); each option is also
        an attribute of the detector, and setting one validates the spec again.
    feature_scale_, neighbors_, members_ : the scores' fitted state, or None
        ``score="l2"``'s per-element scale (``FeatureScale``), a neighbour score's memory
        (``NeighborMemory``), a DenseEnsemble's member standardisation
        (``MemberStandardisation``); each saves its own arrays.
    scale_ : ndarray or None
        Per-element standard deviation of the ``fit`` data (model input space), for ``score="l2"``.
    memory_ : ndarray of shape (rows, F) or None
        The ``fit`` data's encodings, for the neighbour scores.
    center_, spread_ : ndarray, one value per member, or None
        A DenseEnsemble's members' median and interquartile range of their errors on the ``fit``
        data (None for other models).

    Notes
    -----
    With a :class:`~hourglass.models.DenseEnsemble` (``create_model("dense-ensemble")``), each
    member's error is standardised robustly on the ``fit`` data (minus its median, over its
    interquartile range) and the score is their mean, computed in one pass of the stacked network.

    Examples
    --------
    >>> import hourglass as hg
    >>> ds = hg.datasets.load("ecg5000", split="tutorial")
    >>> normal = ds.x_train[ds.y_train == 1]
    >>> model = hg.create_model("stacked", input_shape=(140,), seed=0)
    >>> _ = hg.fit(model, normal, epochs=20, batch_size=512, loss="mae", progress=False)
    >>> det = hg.Detector(model, score="mae", threshold=hg.MeanStd(k=1)).fit(normal)
    >>> det.evaluate(ds.x_test, ds.is_anomaly(ds.y_test))["auroc"] > 0.9
    True
    """

    def __init__(
        self,
        model: Autoencoder,
        score: str = "mae",
        threshold: Threshold | None = None,
        scaler=None,
        batch_size: int = 1024,
        feature_names=None,
        n_samples: int = 64,
        input_transform=None,
        worst_fraction: float | None = None,
        n_neighbors: int = 5,
        memory_size: int = 10000,
        error_blur: float | None = None,
        nearest: bool = False,
    ):
        self.model = model
        self.spec = ScoreSpec(
            score=score,
            batch_size=batch_size,
            n_samples=n_samples,
            input_transform=input_transform,
            worst_fraction=worst_fraction,
            n_neighbors=n_neighbors,
            memory_size=memory_size,
            error_blur=error_blur,
            nearest=nearest,
        )
        self.threshold = threshold if threshold is not None else MeanStd(k=1.0)
        self.scaler = scaler
        self.feature_names = feature_names
        # the scores' fitted state, each saved by itself: l2's scale, a neighbour score's memory,
        # an ensemble's member standardisation (None where the score or model has none)
        self.feature_scale_: FeatureScale | None = None
        self.neighbors_: NeighborMemory | None = None
        self.members_: MemberStandardisation | None = None

    # the spec's options as attributes (0.1's spellings); setting one validates the spec again
    score = _spec_option("score")
    batch_size = _spec_option("batch_size")
    n_samples = _spec_option("n_samples")
    input_transform = _spec_option("input_transform")
    worst_fraction = _spec_option("worst_fraction")
    n_neighbors = _spec_option("n_neighbors")
    memory_size = _spec_option("memory_size")
    error_blur = _spec_option("error_blur")
    nearest = _spec_option("nearest")

    @property
    def scale_(self) -> np.ndarray | None:
        return None if self.feature_scale_ is None else self.feature_scale_.scale

    @property
    def memory_(self) -> np.ndarray | None:
        return None if self.neighbors_ is None else self.neighbors_.memory

    @property
    def center_(self) -> np.ndarray | None:
        return None if self.members_ is None else self.members_.center

    @property
    def spread_(self) -> np.ndarray | None:
        return None if self.members_ is None else self.members_.spread

    # -- fitting -------------------------------------------------------------------------
    def fit(self, x, y=None, *, calibration=None) -> Detector:
        """Fit the scaler (if not fitted), the scores' own state, and the threshold.

        ``x`` is the normal training data. The threshold is fitted on the scores of
        ``calibration`` when given (held-out normal data, as :class:`FixedFPR` needs), else on
        those of ``x``; ``y`` (1 = anomaly, labels of the data the threshold is fitted on) is
        needed only by label-using thresholds such as :class:`BestF1`.
        """
        x = self._fit_input(x)
        if calibration is not None:
            calibration = self._fit_input(calibration, "calibration")
        self._check_params()
        if self.scaler is not None and not _is_fitted(self.scaler):
            self.scaler.fit(x)
        self.feature_scale_ = self.neighbors_ = self.members_ = None
        if self.score == "l2":
            self.feature_scale_ = FeatureScale.fit(self._scaled(x), self.model.input_shape)
        if (
            self.model.n_members is not None and self.score not in NEIGHBOR_SCORES
        ):  # raw errors, then their standardisation
            self.members_ = MemberStandardisation.fit(self._run(x, "member_scores").T)
        if self.score in NEIGHBOR_SCORES:
            x = x if isinstance(x, np.ndarray) else as_float_array(x)
            encode = lambda rows: self._run(rows, "encodings")  # noqa: E731
            self.neighbors_ = NeighborMemory.fit(encode, x, self.n_neighbors, self.memory_size)
            if self.nearest:  # the two distances' levels, on the rows the threshold is fitted on
                nearest = (
                    self.neighbors_.fit_nearest(self._run(x, "nearest_plus_one"))
                    if calibration is None
                    else self._run(calibration, "nearest", "calibration")
                )
                self.neighbors_.levels = fit_levels(nearest, self.n_neighbors, self.neighbors_.memory.shape[1])
        if calibration is None:
            warn_if_uncalibrated(self.threshold)
            scores = self._fit_scores(x)
        else:
            scores = self._scores(calibration, "calibration")
        self._fit_threshold(scores, y)
        return self

    def _fit_scores(self, x) -> np.ndarray:
        """Scores of the data this detector was just fitted on: :meth:`score_samples`, except
        that with a neighbour score a row in the memory is not its own neighbour."""
        if self.neighbors_ is None:
            return self._scores(x)
        return self.neighbors_.fit_scores(self._run(x, "nearest_plus_one"))

    def _check_params(self) -> None:
        if not isinstance(self.model, Autoencoder):
            raise InvalidInputError(f"model must be an hourglass Autoencoder, got {type(self.model).__name__}")
        self.spec.check_for(self.model)
        self._check_threshold()
        self._check_feature_names()

    def _scaled(self, x) -> np.ndarray:
        """``x`` scaled by the fitted scaler (NumPy: the statistics a fit needs)."""
        x = as_float_array(x)
        return check_model_input(self.model, x if self.scaler is None else self.scaler.transform(x))

    # -- scoring ---------------------------------------------------------------------------
    def scorer(self, *, device=None, rows: int | None = 16384) -> Scorer:
        """This detector's scoring as a torch module on the model's device (see
        :mod:`hourglass.detection.scorer`); ``rows=None`` for an exported graph."""
        device = model_device(self.model) if device is None else device
        shape = tuple(self.model.input_shape)
        center, spread = (None, None) if self.members_ is None else self.members_.tensors(device)
        return Scorer(
            self.model,
            self.score,
            scaler=None if self.scaler is None else self.scaler.as_module(shape).to(device),
            scale=None if self.feature_scale_ is None else self.feature_scale_.tensor(device),
            input_transform=self.input_transform,
            draws=self._draws().to(device) if self.score in VARIATIONAL_SCORES else None,
            rows=rows,
            center=center,
            spread=spread,
            worst=worst_count(self.worst_fraction, math.prod(shape)),
            neighbors=None if self.neighbors_ is None else self.neighbors_.module(device),
            blur=self.error_blur,
        )

    def _draws(self) -> torch.Tensor:
        """The fixed standard-normal draws (n_samples, latent) behind the variational scores."""
        gen = torch.Generator().manual_seed(0)
        return torch.randn((self.n_samples, *self.model.latent_shape), generator=gen)

    def _models(self) -> list:
        return [self.model]

    def _scalers(self) -> list:
        return [] if self.scaler is None else [self.scaler]

    def score_map(self, x) -> np.ndarray:
        """The error per element (pixel, time step, feature), same shape as ``x``: absolute
        (``mae``), squared (``mse``) or squared standardised (``l2``) error; for ``elbo`` and
        ``nll`` the reconstruction negative log-likelihood in nats, averaged over the draws."""
        return self._finite_run(x, "error_map").reshape(np.shape(x))

    # -- saved state -----------------------------------------------------------------------
    def description(self) -> dict:
        """The detector's settings and fitted threshold as JSON (no arrays, no model)."""
        return {
            **self.spec.to_dict(),
            "threshold": self.threshold.to_dict(),
            "threshold_value": self.threshold_,
            "scaler": self.scaler.to_dict() if self.scaler is not None else None,
            "train_scores": self.train_scores_,
            "feature_names": None if self.feature_names is None else [str(n) for n in self.feature_names],
        }

    def to_saved(self) -> SavedState:
        """The model's state plus this detector's description, calibration scores and the scores'
        own fitted state (each part writes its arrays)."""
        self._check_fitted()
        state = self.model.to_saved()
        state.meta.update(kind="detector", detector=self.description())
        state.arrays = {"calibration_scores": float64_array(self.calibration_scores_)}
        for part in (self.feature_scale_, self.members_, self.neighbors_):
            if part is not None:
                state.arrays.update(part.to_arrays())
        return state

    @classmethod
    def from_saved(cls, state: SavedState, device="cpu") -> Detector:
        """Inverse of :meth:`to_saved`."""
        model = Autoencoder.from_saved(state, device)
        d = state.meta["detector"]
        spec = ScoreSpec.from_dict(d)
        spec.check_for(model)
        det = cls(
            model,
            threshold=threshold_from_dict(d["threshold"]),
            scaler=scaler_from_dict(d.get("scaler")),
            feature_names=d.get("feature_names"),
        )
        det.spec = spec
        det.threshold_ = float(d["threshold_value"])
        det.train_scores_ = d.get("train_scores", {})
        det.calibration_scores_ = state.arrays.get("calibration_scores", np.zeros(0))
        if spec.score == "l2":
            det.feature_scale_ = FeatureScale.from_arrays(state.arrays, model.input_shape)
        if spec.score in NEIGHBOR_SCORES:
            probe = np.zeros((1, *model.input_shape), np.float32)
            width = det._run(probe, "encodings").shape[1]
            det.neighbors_ = NeighborMemory.from_arrays(state.arrays, spec.n_neighbors, width, spec.nearest)
        if model.n_members is not None and spec.score not in NEIGHBOR_SCORES:
            det.members_ = MemberStandardisation.from_arrays(state.arrays, model.n_members)
        return det

    def __repr__(self) -> str:
        return (
            f"Detector(model={self.model.name!r}, score={self.score!r}, threshold={self.threshold!r}, "
            f"scaler={self.scaler!r}"
            + ("" if self.worst_fraction is None else f", worst_fraction={self.worst_fraction!r}")
            + ("" if self.error_blur is None else f", error_blur={self.error_blur!r}")
            + ("" if self.score not in NEIGHBOR_SCORES else f", n_neighbors={self.n_neighbors!r}")
            + (", nearest=True" if self.nearest else "")
            + ")"
        )


def model_and_detector(obj, action: str) -> tuple[Autoencoder, BaseDetector | None]:
    """``(model, detector or None)`` from a model, a fitted Detector / ensemble, or a fitted
    scikit-learn style estimator; ``action`` (e.g. "exporting it") words the errors."""
    if hasattr(obj, "fitted_detector"):  # a scikit-learn style AutoencoderDetector
        obj = obj.fitted_detector(action)
    if isinstance(obj, BaseDetector):
        obj._check_fitted()
        return obj.model, obj
    if isinstance(obj, Autoencoder):
        return obj, None
    raise InvalidInputError(f"{action} takes an hourglass model or detector, got {type(obj).__name__}")


def _is_fitted(scaler) -> bool:
    return any(name.endswith("_") and not name.startswith("_") for name in vars(scaler))
