"""The anomaly detector: a trained autoencoder, a score, a threshold and an optional scaler."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from hourglass.detection.metrics import detection_metrics
from hourglass.detection.scores import VARIATIONAL_SCORES, check_score, error_map, feature_scale, sample_scores
from hourglass.detection.thresholds import FixedFPR, MeanStd, Threshold
from hourglass.errors import InvalidInputError, NotFittedError
from hourglass.inference import batched, prepare_input
from hourglass.streaming import row_chunks, should_stream
from hourglass.models.base import Autoencoder
from hourglass.transforms.corruptions import Downsample
from hourglass.devices import model_device
from hourglass.validation import as_float_array, check_positive_int


class Detector:
    """Flag samples the autoencoder reconstructs badly.

    Parameters
    ----------
    model : Autoencoder
        A model already trained (with :func:`hourglass.fit`) on normal data.
    score : {"mae", "mse", "l2", "elbo", "nll"}, default "mae"
        Per-sample reconstruction error: mean absolute or mean squared over all elements, or
        the Euclidean distance after dividing each element's error by its standard deviation on
        the data passed to :meth:`fit` (see :mod:`hourglass.detection.scores`). For a VAE also
        ``"elbo"`` (negative ELBO) and ``"nll"`` (importance-weighted -log p(x)), in nats.
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

    def __init__(self, model: Autoencoder, score: str = "mae", threshold: Threshold | None = None,
                 scaler=None, batch_size: int = 1024, feature_names=None, n_samples: int = 64,
                 input_transform=None):
        self.model = model
        self.score = score
        self.threshold = threshold if threshold is not None else MeanStd(k=1.0)
        self.scaler = scaler
        self.batch_size = batch_size
        self.feature_names = feature_names
        self.n_samples = n_samples
        self.input_transform = input_transform

    # -- fitting -------------------------------------------------------------------------
    def fit(self, x, y=None, *, calibration=None) -> "Detector":
        """Fit the scaler (if not fitted), the ``l2`` scale, and the threshold.

        ``x`` is the normal training data. The threshold is fitted on the scores of
        ``calibration`` when given (held-out normal data, as :class:`FixedFPR` needs), else on
        those of ``x``; ``y`` (1 = anomaly, labels of the data the threshold is fitted on) is
        needed only by label-using thresholds such as :class:`BestF1`.
        """
        if not isinstance(self.model, Autoencoder):
            raise InvalidInputError(f"model must be an hourglass Autoencoder, got {type(self.model).__name__}")
        check_score(self.score, self.model)
        check_positive_int(self.n_samples, "n_samples")
        if self.model.conditional:
            raise InvalidInputError(f"the conditional {self.model.name!r} model needs a class for every sample; "
                                    "score it with hg.reconstruct(model, x, labels=...), or detect with a vae")
        self._check_input_transform()
        if not isinstance(self.threshold, Threshold):
            raise InvalidInputError(f"threshold must be an hourglass threshold such as hg.MeanStd(k=1), got {self.threshold!r}")
        if self.feature_names is not None:
            names = [str(n) for n in self.feature_names]
            if len(names) != int(np.prod(self.model.input_shape)):
                raise InvalidInputError(f"{len(names)} feature_names for samples of "
                                        f"{int(np.prod(self.model.input_shape))} elements")
        if self.scaler is not None and not _is_fitted(self.scaler):
            self.scaler.fit(x)
        self.scale_ = None
        if self.score == "l2":
            self.scale_ = feature_scale(self._input(x)).reshape(self.model.input_shape)
        if calibration is None:
            _warn_if_uncalibrated(self.threshold)
            scores = self._scores(x)
        else:
            scores = self._scores(calibration, "calibration")
        self._fit_threshold(scores, y)
        return self

    def _fit_threshold(self, scores: np.ndarray, y) -> None:
        self.threshold.fit(scores, y)
        self.threshold_ = self.threshold.value_
        self.calibration_scores_ = np.sort(scores.astype(np.float64))
        self.train_scores_ = {"mean": float(scores.mean()), "std": float(scores.std()),
                              "min": float(scores.min()), "max": float(scores.max()), "n": int(len(scores))}

    # -- scoring ---------------------------------------------------------------------------
    def _input(self, x, name: str = "x", offset: int = 0) -> np.ndarray:
        x = as_float_array(x, name, offset)
        if self.scaler is not None:
            x = self.scaler.transform(x)
        return prepare_input(self.model, x, name, offset)

    def _streamed(self, x, name: str, per_chunk) -> np.ndarray:
        """``per_chunk(model_input)`` over ``x``: at once for ordinary data, chunk by chunk for a
        memory-mapped or very long array, so memory stays bounded by the chunk size."""
        if not should_stream(x):
            return per_chunk(self._input(x, name))
        return np.concatenate([per_chunk(self._input(chunk, name, start)) for start, chunk in row_chunks(x)])

    def _scale(self, device) -> torch.Tensor | None:
        scale = getattr(self, "scale_", None)
        return None if scale is None else torch.from_numpy(np.asarray(scale, dtype=np.float32)).to(device)

    def _draws(self, device) -> torch.Tensor:
        """The fixed standard-normal draws (n_samples, latent) behind the variational scores."""
        gen = torch.Generator().manual_seed(0)
        k = check_positive_int(self.n_samples, "n_samples")
        return torch.randn((k, *self.model.latent_shape), generator=gen).to(device)

    def _check_input_transform(self) -> None:
        t = self.input_transform
        if t is None:
            return
        if not isinstance(t, Downsample):
            raise InvalidInputError(f"input_transform must be deterministic, such as hg.Downsample(2); got {t!r} "
                                    "(random corruptions would change a sample's score from call to call)")
        if self.score in VARIATIONAL_SCORES:
            raise InvalidInputError(f"input_transform is for reconstruction scores (mse, mae, l2), not {self.score!r}")

    def _reconstruct(self, xb: torch.Tensor) -> torch.Tensor:
        t = self.input_transform
        return self.model(xb if t is None else t(xb))

    def _scores(self, x, name: str = "x") -> np.ndarray:
        score, model = self.score, self.model
        device = model_device(model)
        if score in VARIATIONAL_SCORES:
            eps = self._draws(device)
            per_sample = model.expected_negative_elbo if score == "elbo" else model.importance_weighted_nll
            return self._streamed(x, name, lambda xs: batched(model, xs, lambda xb: per_sample(xb, eps),
                                                              self.batch_size))
        scale = self._scale(device)
        return self._streamed(x, name, lambda xs: batched(
            model, xs, lambda xb: sample_scores(xb, self._reconstruct(xb), score, scale), self.batch_size))

    def score_samples(self, x) -> np.ndarray:
        """One reconstruction error per sample, shape ``(n,)``; higher = more anomalous."""
        return self._scores(x)

    def score_map(self, x) -> np.ndarray:
        """The error per element (pixel, time step, feature), same shape as ``x``: absolute
        (``mae``), squared (``mse``) or squared standardised (``l2``) error; for ``elbo`` and
        ``nll`` the reconstruction negative log-likelihood in nats, averaged over the draws."""
        shape = np.shape(x)
        score, model = self.score, self.model
        device = model_device(model)
        if score in VARIATIONAL_SCORES:
            eps = self._draws(device)
            out = self._streamed(x, "x", lambda xs: batched(model, xs, lambda xb: model.expected_nll_map(xb, eps),
                                                            self.batch_size))
        else:
            scale = self._scale(device)
            out = self._streamed(x, "x", lambda xs: batched(
                model, xs, lambda xb: error_map(xb, self._reconstruct(xb), score, scale), self.batch_size))
        return out.reshape(shape)

    def p_values(self, x) -> np.ndarray:
        """Conformal p-values: ``(1 + #{calibration scores >= s}) / (n + 1)`` for each score ``s``.

        When the calibration data (``fit(..., calibration=...)``) are held-out normal samples and
        a new normal sample is exchangeable with them, ``P(p <= a) <= a`` for every ``a``: flagging
        ``p <= a`` keeps the false-positive rate at most ``a``. Small p-values = anomalous.
        """
        self._check_fitted()
        return self.p_values_of_scores(self._scores(x))

    def p_values_of_scores(self, scores) -> np.ndarray:
        """:meth:`p_values` from scores already computed by :meth:`score_samples`."""
        self._check_fitted()
        cal = self.calibration_scores_
        scores = np.asarray(scores, dtype=np.float64)
        at_least = len(cal) - np.searchsorted(cal, scores, side="left")
        return (1.0 + at_least) / (len(cal) + 1.0)

    def explain(self, x, top: int = 5) -> "Explanation":
        """The ``top`` elements (features, pixels, time steps) that contribute most to each
        sample's score, largest first, with their share of the sample's total error."""
        top = check_positive_int(top, "top")
        emap = self.score_map(x)
        flat = emap.reshape(len(emap), -1).astype(np.float64)
        top = min(top, flat.shape[1])
        order = np.argsort(-flat, axis=1, kind="stable")[:, :top]
        errors = np.take_along_axis(flat, order, axis=1)
        totals = flat.sum(axis=1, keepdims=True)
        shares = np.divide(errors, totals, out=np.zeros_like(errors), where=totals > 0)
        shape = tuple(self.model.input_shape)
        if self.feature_names is not None:
            names = np.asarray([str(n) for n in self.feature_names], dtype=object)[order]
        elif len(shape) == 1:
            names = np.asarray([f"x{i}" for i in range(shape[0])], dtype=object)[order]
        else:
            positions = np.stack(np.unravel_index(order, shape), axis=-1)
            names = np.asarray([["(" + ", ".join(map(str, p)) + ")" for p in row] for row in positions],
                               dtype=object)
        return Explanation(indices=order, names=names, errors=errors, shares=shares)

    def decision_function(self, x) -> np.ndarray:
        """``score - threshold_``: positive for anomalies."""
        self._check_fitted()
        return self._scores(x) - self.threshold_

    def predict(self, x) -> np.ndarray:
        """1 for anomalies (score above ``threshold_``), 0 for normal samples (PyOD's convention)."""
        self._check_fitted()
        return (self._scores(x) > self.threshold_).astype(np.int64)

    def evaluate(self, x, y_is_anomaly) -> dict:
        """Accuracy, precision, recall, F1 (anomaly = positive), AUROC and AUPRC on labelled data."""
        self._check_fitted()
        return detection_metrics(y_is_anomaly, self._scores(x), self.threshold_)

    def _check_fitted(self):
        if not hasattr(self, "threshold_"):
            raise NotFittedError("this Detector is not fitted; call fit(x_normal) first")

    def __repr__(self) -> str:
        return (f"Detector(model={self.model.name!r}, score={self.score!r}, threshold={self.threshold!r}, "
                f"scaler={self.scaler!r})")


def model_and_detector(obj, action: str) -> tuple[Autoencoder, "Detector | None"]:
    """``(model, detector or None)`` from a model, a fitted Detector / ensemble, or a fitted
    scikit-learn style estimator; ``action`` (e.g. "exporting it") words the errors."""
    if hasattr(obj, "_hourglass_save_"):  # AutoencoderDetector / AutoencoderTransformer
        if not hasattr(obj, "detector_"):
            raise NotFittedError(f"this {type(obj).__name__} is not fitted; call fit(X) before {action}")
        obj = obj.detector_
    if isinstance(obj, Detector):
        obj._check_fitted()
        return obj.model, obj
    if isinstance(obj, Autoencoder):
        return obj, None
    raise InvalidInputError(f"{action} takes an hourglass model or detector, got {type(obj).__name__}")


def _warn_if_uncalibrated(threshold) -> None:
    if isinstance(threshold, FixedFPR):
        warnings.warn("FixedFPR fitted on the training data: the false-positive guarantee holds only for scores "
                      "of held-out normal data; pass calibration=x_heldout_normal", UserWarning, stacklevel=3)


@dataclass
class Explanation:
    """What :meth:`Detector.explain` returns; row ``i`` explains sample ``i``.

    indices : (n, top) flat index of each element within a sample (``np.unravel_index`` with
        the model's input shape gives pixel positions). names : (n, top) feature names, or
        positions such as ``"(0, 13, 7)"`` for images. errors : (n, top) the element's error
        (as in ``score_map``). shares : (n, top) that error over the sample's total error.
    """

    indices: np.ndarray
    names: np.ndarray
    errors: np.ndarray
    shares: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)

    def table(self, i: int = 0) -> str:
        """A small text table of sample ``i``'s top contributors."""
        rows = [f"{'element':>16s} {'error':>12s} {'share':>7s}"]
        for name, err, share in zip(self.names[i], self.errors[i], self.shares[i]):
            rows.append(f"{name:>16s} {err:12.5g} {share:7.1%}")
        return "\n".join(rows)


def _is_fitted(scaler) -> bool:
    return any(name.endswith("_") and not name.startswith("_") for name in vars(scaler))
