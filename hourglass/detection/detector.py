"""The anomaly detector: a trained autoencoder, a score, a threshold and an optional scaler."""

from __future__ import annotations

import numpy as np

from hourglass.detection.metrics import detection_metrics
from hourglass.detection.scores import check_score, error_map, sample_scores
from hourglass.detection.thresholds import MeanStd, Threshold
from hourglass.errors import InvalidInputError, NotFittedError
from hourglass.inference import batched, prepare_input
from hourglass.models.base import Autoencoder
from hourglass.validation import as_float_array


class Detector:
    """Flag samples the autoencoder reconstructs badly.

    Parameters
    ----------
    model : Autoencoder
        A model already trained (with :func:`hourglass.fit`) on normal data.
    score : {"mae", "mse"}, default "mae"
        Per-sample reconstruction error: mean absolute or mean squared over all elements.
    threshold : Threshold, default ``MeanStd(k=1.0)``
        Fitted in :meth:`fit` on the scores of the data you pass there.
    scaler : MinMaxScaler or StandardScaler, optional
        Applied to every input before scoring; fitted in :meth:`fit` unless already fitted (pass
        the scaler the training data went through, so raw inputs score correctly).
    batch_size : int, default 1024
        Rows per inference batch.

    Attributes
    ----------
    threshold_ : float
        Scores above it are anomalies.
    train_scores_ : dict
        Mean, std, min, max of the scores seen in ``fit``.

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
                 scaler=None, batch_size: int = 1024):
        self.model = model
        self.score = score
        self.threshold = threshold if threshold is not None else MeanStd(k=1.0)
        self.scaler = scaler
        self.batch_size = batch_size

    # -- fitting -------------------------------------------------------------------------
    def fit(self, x, y=None) -> "Detector":
        """Fit the scaler (if not fitted) and the threshold on the scores of ``x``.

        ``x`` is usually the normal training data; ``y`` (1 = anomaly) is needed only by
        label-using thresholds such as :class:`BestF1`.
        """
        if not isinstance(self.model, Autoencoder):
            raise InvalidInputError(f"model must be an hourglass Autoencoder, got {type(self.model).__name__}")
        check_score(self.score)
        if not isinstance(self.threshold, Threshold):
            raise InvalidInputError(f"threshold must be an hourglass threshold such as hg.MeanStd(k=1), got {self.threshold!r}")
        if self.scaler is not None and not _is_fitted(self.scaler):
            self.scaler.fit(x)
        scores = self._scores(x)
        self.threshold.fit(scores, y)
        self.threshold_ = self.threshold.value_
        self.train_scores_ = {"mean": float(scores.mean()), "std": float(scores.std()),
                              "min": float(scores.min()), "max": float(scores.max()), "n": int(len(scores))}
        return self

    # -- scoring ---------------------------------------------------------------------------
    def _input(self, x) -> np.ndarray:
        x = as_float_array(x)
        if self.scaler is not None:
            x = self.scaler.transform(x)
        return prepare_input(self.model, x)

    def _scores(self, x) -> np.ndarray:
        score = self.score
        return batched(self.model, self._input(x), lambda xb: sample_scores(xb, self.model(xb), score),
                       self.batch_size)

    def score_samples(self, x) -> np.ndarray:
        """One reconstruction error per sample, shape ``(n,)``; higher = more anomalous."""
        return self._scores(x)

    def score_map(self, x) -> np.ndarray:
        """The error per element (pixel, time step, feature), same shape as ``x``."""
        shape = np.shape(x)
        score = self.score
        out = batched(self.model, self._input(x), lambda xb: error_map(xb, self.model(xb), score),
                      self.batch_size)
        return out.reshape(shape)

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


def _is_fitted(scaler) -> bool:
    return any(name.endswith("_") and not name.startswith("_") for name in vars(scaler))
