"""Several detectors voting as one: each member's score is standardised robustly on the fit data
(minus its median, over its interquartile range) and the standardised scores are averaged.

Autoencoders trained from different initial weights, or with different widths, fail on different
normal rows; averaging their standardised errors keeps what they agree on. On the ADBench sets
(``benchmarks/adbench.py``) this is what lifts hourglass's default above a single model.
"""

from __future__ import annotations

import numpy as np

from hourglass.detection.detector import Detector, _warn_if_uncalibrated
from hourglass.detection.thresholds import Threshold
from hourglass.errors import InvalidInputError


class DetectorEnsemble(Detector):
    """Average of robustly standardised member scores; the threshold, p-values, ``predict``,
    ``evaluate`` and ``explain`` work on that average as :class:`Detector`'s do on one score.

    Parameters
    ----------
    detectors : sequence of Detector
        Members over models of the same input shape; fitted in :meth:`fit` if they are not.
    threshold : Threshold, default ``MeanStd(k=1.0)``

    Attributes
    ----------
    center_, spread_ : ndarray, one value per member
        Median and interquartile range of each member's scores on the ``fit`` data.
    """

    def __init__(self, detectors, threshold: Threshold | None = None, batch_size: int = 1024, feature_names=None):
        self.detectors = list(detectors)
        if not self.detectors or not all(isinstance(d, Detector) for d in self.detectors):
            raise InvalidInputError("DetectorEnsemble needs a non-empty list of hg.Detector")
        super().__init__(self.detectors[0].model, score="ensemble", threshold=threshold, scaler=None,
                         batch_size=batch_size, feature_names=feature_names)
        shapes = {tuple(d.model.input_shape) for d in self.detectors}
        if len(shapes) > 1:
            raise InvalidInputError(f"ensemble members take different input shapes: {sorted(shapes)}")

    def fit(self, x, y=None, *, calibration=None) -> "DetectorEnsemble":
        """Fit unfitted members on ``x``, standardise each member on its scores of ``x``, and fit
        the threshold on the averaged scores of ``calibration`` (if given) or ``x``."""
        if not isinstance(self.threshold, Threshold):
            raise InvalidInputError(f"threshold must be an hourglass threshold, got {self.threshold!r}")
        for d in self.detectors:
            if not hasattr(d, "threshold_"):
                d.fit(x)
        raw = np.stack([d.score_samples(x).astype(np.float64) for d in self.detectors])
        self.center_ = np.median(raw, axis=1)
        q75, q25 = np.percentile(raw, [75, 25], axis=1)
        spread = q75 - q25
        fallback = raw.std(axis=1)
        self.spread_ = np.where(spread > 1e-12, spread, np.where(fallback > 1e-12, fallback, 1.0))
        if calibration is None:
            _warn_if_uncalibrated(self.threshold)
        scores = self._combine(raw) if calibration is None else self._scores(calibration, "calibration")
        self._fit_threshold(scores, y)
        return self

    def _combine(self, raw: np.ndarray) -> np.ndarray:
        return ((raw - self.center_[:, None]) / self.spread_[:, None]).mean(axis=0)

    def _scores(self, x, name: str = "x") -> np.ndarray:
        if not hasattr(self, "center_"):
            from hourglass.errors import NotFittedError

            raise NotFittedError("this DetectorEnsemble is not fitted; call fit(x_normal) first")
        return self._combine(np.stack([d._scores(x, name).astype(np.float64) for d in self.detectors]))

    def score_map(self, x) -> np.ndarray:
        """Each member's error map over its spread, averaged: the elements' contributions in the
        units of the ensemble's score."""
        self._check_fitted()
        maps = [d.score_map(x) / s for d, s in zip(self.detectors, self.spread_)]
        return np.mean(maps, axis=0).astype(np.float32)

    def __repr__(self) -> str:
        return f"DetectorEnsemble({len(self.detectors)} members, threshold={self.threshold!r})"
