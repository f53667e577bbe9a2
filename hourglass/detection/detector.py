"""The anomaly detector: a trained autoencoder, a score, a threshold and an optional scaler."""

from __future__ import annotations

import math

import numpy as np
import torch

from hourglass.detection.base import BaseDetector, Explanation, warn_if_uncalibrated  # noqa: F401 (Explanation: its home was here)
from hourglass.detection.neighbors import (
    NEIGHBOR_SCORES,
    NeighborDistance,
    check_memory,
    check_neighbors,
    leave_one_out,
    memory_rows,
)
from hourglass.detection.scorer import Scorer
from hourglass.detection.scores import (
    VARIATIONAL_SCORES,
    check_error_blur,
    check_score,
    check_worst_fraction,
    feature_scale,
    worst_count,
)
from hourglass.detection.thresholds import MeanStd, Threshold, threshold_from_dict
from hourglass.devices import model_device
from hourglass.errors import InvalidInputError
from hourglass.models.base import Autoencoder
from hourglass.saving import SavedState, float64_array
from hourglass.transforms.corruptions import corruption_from_dict, corruption_to_dict, is_deterministic
from hourglass.transforms.scalers import scaler_from_dict
from hourglass.validation import as_float_array, check_model_input, check_positive_int


class Detector(BaseDetector):
    """Flag samples the autoencoder reconstructs badly.

    Parameters
    ----------
    model : Autoencoder
        A model already trained (with :func:`hourglass.fit`) on normal data.
    score : {"mae", "mse", "l2", "elbo", "nll", "feature-knn", "code-knn"}, default "mae"
        Per-sample reconstruction error: mean absolute or mean squared over all elements, or
        the Euclidean distance after dividing each element's error by its standard deviation on
        the data passed to :meth:`fit` (see :mod:`hourglass.detection.scores`). For a VAE also
        ``"elbo"`` (negative ELBO) and ``"nll"`` (importance-weighted -log p(x)), in nats.
        ``"feature-knn"``: the mean distance from a sample's encoder feature maps to those of its
        ``n_neighbors`` nearest ``fit`` samples (``"code-knn"``: between codes); on one-class
        images it separates similar classes better than the reconstruction error.
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

    Attributes
    ----------
    threshold_ : float
        Scores above it are anomalies.
    train_scores_ : dict
        Mean, std, min, max of the scores the threshold was fitted on.
    calibration_scores_ : ndarray
        Those scores, sorted: the reference for :meth:`p_values`.
    scale_ : ndarray or None
        Per-element standard deviation of the ``fit`` data (model input space), for ``score="l2"``.
    memory_ : ndarray of shape (rows, F) or None
        The ``fit`` data's encodings, for the neighbour scores.
    center_, spread_ : ndarray, one value per member
        A DenseEnsemble's members' median and interquartile range of their errors on the ``fit``
        data (absent for other models).

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
    ):
        self.model = model
        self.score = score
        self.worst_fraction = worst_fraction
        self.error_blur = error_blur
        self.n_neighbors = n_neighbors
        self.memory_size = memory_size
        self.threshold = threshold if threshold is not None else MeanStd(k=1.0)
        self.scaler = scaler
        self.batch_size = batch_size
        self.feature_names = feature_names
        self.n_samples = n_samples
        self.input_transform = input_transform

    # -- fitting -------------------------------------------------------------------------
    def fit(self, x, y=None, *, calibration=None) -> Detector:
        """Fit the scaler (if not fitted), the ``l2`` scale, and the threshold.

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
        self.scale_ = None
        if self.score == "l2":
            self.scale_ = feature_scale(self._scaled(x)).reshape(self.model.input_shape)
        if getattr(self.model, "n_members", None) is not None:
            self.center_ = self.spread_ = None  # the members' raw errors first, then their standardisation
            self.center_, self.spread_ = robust_standardisation(self._run(x, "member_scores").T)
        self.memory_ = None
        if self.score in NEIGHBOR_SCORES:
            x = x if isinstance(x, np.ndarray) else as_float_array(x)
            if len(x) <= self.n_neighbors:
                raise InvalidInputError(
                    f"score={self.score!r} with n_neighbors={self.n_neighbors} needs more than "
                    f"{self.n_neighbors} rows to fit on, got {len(x)}"
                )
            self._memory_rows = memory_rows(len(x), self.memory_size)
            self.memory_ = self._run(x[self._memory_rows], "encodings")
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
        if self.memory_ is None:
            return self._scores(x)
        in_memory = np.zeros(len(x), dtype=bool)
        in_memory[self._memory_rows] = True
        return leave_one_out(self._run(x, "nearest_plus_one"), in_memory, self.n_neighbors)

    def _check_params(self) -> None:
        if not isinstance(self.model, Autoencoder):
            raise InvalidInputError(f"model must be an hourglass Autoencoder, got {type(self.model).__name__}")
        check_score(self.score, self.model)
        check_worst_fraction(self.worst_fraction, self.score)
        if self.worst_fraction is not None and getattr(self.model.config, "feature_subsets", False):
            raise InvalidInputError(
                "worst_fraction needs members that see every feature; this dense-ensemble has feature_subsets=True"
            )
        check_error_blur(self.error_blur, self.score, self.model.input_shape)
        if self.error_blur is not None and getattr(self.model, "n_members", None) is not None:
            raise InvalidInputError(f"error_blur is for one model's images or series, not a {self.model.name!r}")
        check_positive_int(self.n_samples, "n_samples")
        if self.score in NEIGHBOR_SCORES:
            check_neighbors(self.n_neighbors, self.memory_size)
        if self.model.conditional:
            raise InvalidInputError(
                f"the conditional {self.model.name!r} model needs a class for every sample; "
                "score it with hg.reconstruct(model, x, labels=...), or detect with a vae"
            )
        t = self.input_transform
        if t is not None and not is_deterministic(t):
            raise InvalidInputError(
                f"input_transform must be deterministic, such as hg.Downsample(2); got {t!r} "
                "(random corruptions would change a sample's score from call to call)"
            )
        if t is not None and self.score in VARIATIONAL_SCORES:
            raise InvalidInputError(f"input_transform is for reconstruction scores (mse, mae, l2), not {self.score!r}")
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
        scale = getattr(self, "scale_", None)
        center, spread = getattr(self, "center_", None), getattr(self, "spread_", None)
        return Scorer(
            self.model,
            self.score,
            scaler=None if self.scaler is None else self.scaler.as_module(shape).to(device),
            scale=None if scale is None else torch.as_tensor(np.asarray(scale, dtype=np.float32)).to(device),
            input_transform=self.input_transform,
            draws=self._draws().to(device) if self.score in VARIATIONAL_SCORES else None,
            rows=rows,
            center=None if center is None else torch.as_tensor(np.asarray(center, np.float64), device=device),
            spread=None if spread is None else torch.as_tensor(np.asarray(spread, np.float64), device=device),
            worst=worst_count(self.worst_fraction, math.prod(shape)),
            neighbors=self._neighbors(device),
            blur=None if self.error_blur is None else float(self.error_blur),
        )

    def _neighbors(self, device) -> NeighborDistance | None:
        memory = getattr(self, "memory_", None)
        if memory is None:
            return None
        return NeighborDistance(torch.as_tensor(memory).to(device), int(self.n_neighbors))

    def _draws(self) -> torch.Tensor:
        """The fixed standard-normal draws (n_samples, latent) behind the variational scores."""
        gen = torch.Generator().manual_seed(0)
        k = check_positive_int(self.n_samples, "n_samples")
        return torch.randn((k, *self.model.latent_shape), generator=gen)

    def _models(self) -> list:
        return [self.model]

    def _scalers(self) -> list:
        return [] if self.scaler is None else [self.scaler]

    def score_map(self, x) -> np.ndarray:
        """The error per element (pixel, time step, feature), same shape as ``x``: absolute
        (``mae``), squared (``mse``) or squared standardised (``l2``) error; for ``elbo`` and
        ``nll`` the reconstruction negative log-likelihood in nats, averaged over the draws."""
        return self._run(x, "error_map").reshape(np.shape(x))

    # -- saved state -----------------------------------------------------------------------
    def description(self) -> dict:
        """The detector's settings and fitted threshold as JSON (no arrays, no model)."""
        return {
            "score": self.score,
            "batch_size": self.batch_size,
            "threshold": self.threshold.to_dict(),
            "threshold_value": self.threshold_,
            "scaler": self.scaler.to_dict() if self.scaler is not None else None,
            "train_scores": self.train_scores_,
            "feature_names": None if self.feature_names is None else [str(n) for n in self.feature_names],
            "n_samples": int(self.n_samples),
            "input_transform": corruption_to_dict(self.input_transform),
            **({} if self.worst_fraction is None else {"worst_fraction": float(self.worst_fraction)}),
            **({} if self.error_blur is None else {"error_blur": float(self.error_blur)}),
            **(
                {"n_neighbors": int(self.n_neighbors), "memory_size": int(self.memory_size)}
                if self.score in NEIGHBOR_SCORES
                else {}
            ),
        }

    def to_saved(self) -> SavedState:
        """The model's state plus this detector's description, calibration scores and ``l2`` scale."""
        self._check_fitted()
        state = self.model.to_saved()
        state.meta.update(kind="detector", detector=self.description())
        state.arrays = {"calibration_scores": float64_array(self.calibration_scores_)}
        if getattr(self, "scale_", None) is not None:
            state.arrays["scale"] = np.asarray(self.scale_, dtype=np.float32)
        if getattr(self, "center_", None) is not None:  # a model with members
            state.arrays.update(center=float64_array(self.center_), spread=float64_array(self.spread_))
        if getattr(self, "memory_", None) is not None:
            state.arrays["memory"] = np.ascontiguousarray(self.memory_, dtype=np.float32)
        return state

    @classmethod
    def from_saved(cls, state: SavedState, device="cpu") -> Detector:
        """Inverse of :meth:`to_saved`."""
        model = Autoencoder.from_saved(state, device)
        d = state.meta["detector"]
        det = cls(
            model,
            score=d["score"],
            threshold=threshold_from_dict(d["threshold"]),
            scaler=scaler_from_dict(d.get("scaler")),
            batch_size=int(d.get("batch_size", 1024)),
            feature_names=d.get("feature_names"),
            n_samples=int(d.get("n_samples", 64)),
            input_transform=corruption_from_dict(d.get("input_transform")),
            worst_fraction=check_worst_fraction(d.get("worst_fraction"), d["score"]),
            n_neighbors=int(d.get("n_neighbors", 5)),
            memory_size=int(d.get("memory_size", 10000)),
            error_blur=check_error_blur(d.get("error_blur"), d["score"], model.input_shape),
        )
        det.threshold_ = float(d["threshold_value"])
        det.train_scores_ = d.get("train_scores", {})
        det.calibration_scores_ = state.arrays.get("calibration_scores", np.zeros(0))
        det.scale_ = state.arrays.get("scale")
        if det.score == "l2" and det.scale_ is None:
            raise ValueError("score 'l2' without its scale array")
        if det.scale_ is not None and det.scale_.shape != tuple(model.input_shape):
            raise ValueError(f"scale array of shape {det.scale_.shape} for inputs of shape {model.input_shape}")
        det.memory_ = None
        if det.score in NEIGHBOR_SCORES:
            if "memory" not in state.arrays:
                raise ValueError(f"score {det.score!r} without its memory array")
            probe = np.zeros((1, *model.input_shape), np.float32)
            det.memory_ = check_memory(state.arrays["memory"], det._run(probe, "encodings").shape[1])
        members = getattr(model, "n_members", None)
        if members is not None:
            det.center_, det.spread_ = state.arrays.get("center"), state.arrays.get("spread")
            if det.center_ is None or det.center_.shape != (members,) or det.spread_.shape != (members,):
                raise ValueError(f"a detector of {members} members without their center / spread arrays")
        return det

    def __repr__(self) -> str:
        return (
            f"Detector(model={self.model.name!r}, score={self.score!r}, threshold={self.threshold!r}, "
            f"scaler={self.scaler!r}"
            + ("" if self.worst_fraction is None else f", worst_fraction={self.worst_fraction!r}")
            + ("" if self.error_blur is None else f", error_blur={self.error_blur!r}")
            + ("" if self.score not in NEIGHBOR_SCORES else f", n_neighbors={self.n_neighbors!r}")
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


def robust_standardisation(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's median and interquartile range (its standard deviation where the range is 0,
    else 1), for members' scores of shape (members, samples)."""
    raw = np.asarray(raw, dtype=np.float64)
    center = np.median(raw, axis=1)
    q75, q25 = np.percentile(raw, [75, 25], axis=1)
    spread, fallback = q75 - q25, raw.std(axis=1)
    return center, np.where(spread > 1e-12, spread, np.where(fallback > 1e-12, fallback, 1.0))


def _is_fitted(scaler) -> bool:
    return any(name.endswith("_") and not name.startswith("_") for name in vars(scaler))
