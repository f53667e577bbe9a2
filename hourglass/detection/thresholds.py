"""Thresholds on anomaly scores: a score above the threshold is an anomaly.

Each threshold is fitted on scores the user hands over (``fit(scores, y=None)``), keeps its value
in ``value_`` and round-trips through a JSON dict, so it is saved with the detector. Thresholds are
registered by class name (:func:`list_thresholds`, :func:`create_threshold`); a new one is a
:class:`Threshold` subclass with ``@register_threshold()``.
"""

from __future__ import annotations

import math

import numpy as np

from hourglass.errors import InvalidInputError, NotFittedError
from hourglass.prepare import binary_labels
from hourglass.registry import Registry
from hourglass.validation import as_float_array, check_fraction

THRESHOLDS: Registry = Registry("threshold")
register_threshold = THRESHOLDS.decorator


class Threshold:
    """Base class: subclasses store their arguments in ``__init__`` and write ``_compute``."""

    _params: tuple[str, ...] = ()
    needs_labels = False

    def fit(self, scores, y=None) -> Threshold:
        scores = as_float_array(scores, "scores").ravel().astype(np.float64)
        if y is not None:
            y = binary_labels(y, len(scores))
        elif self.needs_labels:
            raise InvalidInputError(f"{type(self).__name__} needs labels: fit(scores, y) with y = 1 for anomalies")
        self.value_ = float(self._compute(scores, y))
        return self

    def _compute(self, scores: np.ndarray, y: np.ndarray | None) -> float:
        raise NotImplementedError

    @property
    def value(self) -> float:
        if not hasattr(self, "value_"):
            raise NotFittedError(f"{self!r} is not fitted")
        return self.value_

    def to_dict(self) -> dict:
        d = {"type": type(self).__name__, **{p: getattr(self, p) for p in self._params}}
        if hasattr(self, "value_"):
            d["value"] = self.value_
        return d

    def __repr__(self) -> str:
        args = ", ".join(f"{p}={getattr(self, p)!r}" for p in self._params)
        return f"{type(self).__name__}({args})"


@register_threshold()
class MeanStd(Threshold):
    """``mean + k * std`` of the scores (the classic tutorial's rule, k = 1, on normal data)."""

    _params = ("k",)

    def __init__(self, k: float = 1.0):
        self.k = k

    def _compute(self, scores, y):
        if not math.isfinite(float(self.k)):
            raise InvalidInputError(f"MeanStd k must be a finite number, got {self.k!r}")
        return scores.mean() + float(self.k) * scores.std()


@register_threshold()
class Percentile(Threshold):
    """The ``q``-th percentile (0-100) of the scores."""

    _params = ("q",)

    def __init__(self, q: float = 95.0):
        self.q = q

    def _compute(self, scores, y):
        if not 0 <= float(self.q) <= 100:
            raise InvalidInputError(f"Percentile q must lie in [0, 100], got {self.q!r}")
        return np.percentile(scores, float(self.q))


@register_threshold()
class Contamination(Threshold):
    """Flag the top ``rate`` fraction of the scores (PyOD's ``contamination``)."""

    _params = ("rate",)

    def __init__(self, rate: float = 0.1):
        self.rate = rate

    def _compute(self, scores, y):
        rate = check_fraction(self.rate, "Contamination rate", high_open=False)
        return np.quantile(scores, 1.0 - rate)


@register_threshold()
class BestF1(Threshold):
    """The threshold that maximises F1 on labelled scores (y = 1 for anomalies)."""

    needs_labels = True

    def _compute(self, scores, y):
        from sklearn.metrics import precision_recall_curve

        if y.min() == y.max():
            raise InvalidInputError("BestF1 needs both normal (0) and anomalous (1) labels")
        precision, recall, cuts = precision_recall_curve(y, scores)
        f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        best = int(np.argmax(f1[:-1]))
        # predict() flags score > threshold; the curve's cut is inclusive (>=), so step just below it.
        return float(np.nextafter(cuts[best], -np.inf))


@register_threshold()
class FixedFPR(Threshold):
    """Split-conformal threshold: on new normal data exchangeable with the calibration scores,
    the false-positive rate is at most ``rate``.

    Fit it on scores of held-out normal samples the model was not trained on. With ``n``
    calibration scores the threshold is the ``ceil((n + 1)(1 - rate))``-th smallest; when that
    exceeds ``n`` (too few samples for the rate) nothing can be flagged and the threshold is inf.
    """

    _params = ("rate",)

    def __init__(self, rate: float = 0.05):
        self.rate = rate

    def _compute(self, scores, y):
        rate = check_fraction(self.rate, "FixedFPR rate")
        if y is not None:
            scores = scores[y == 0]
        n = len(scores)
        k = math.ceil((n + 1) * (1 - rate))
        return math.inf if k > n else float(np.sort(scores)[k - 1])


def list_thresholds(pattern: str | None = None) -> list[str]:
    """Registered threshold names (their class names), optionally filtered by a glob pattern."""
    return THRESHOLDS.names(pattern)


def threshold_parameters(name: str) -> list[str]:
    """The parameters the threshold ``name`` takes."""
    return list(THRESHOLDS[name]._params)


def create_threshold(name: str, **params) -> Threshold:
    """A threshold by name: ``create_threshold("FixedFPR", rate=0.01)``."""
    cls = THRESHOLDS[name]
    unknown = set(params) - set(cls._params)
    if unknown:
        raise InvalidInputError(f"{name} takes {list(cls._params) or 'no parameters'}, not {sorted(unknown)}")
    return cls(**params)


def threshold_from_dict(d: dict) -> Threshold:
    """Rebuild a threshold (and its fitted value) from :meth:`Threshold.to_dict`'s description."""
    try:
        cls = THRESHOLDS[d["type"]]
        obj = cls(**{p: d[p] for p in cls._params})
    except (KeyError, TypeError) as exc:
        raise InvalidInputError(f"unknown threshold description {d!r} ({exc})") from None
    if "value" in d:
        obj.value_ = float(d["value"])
    return obj
