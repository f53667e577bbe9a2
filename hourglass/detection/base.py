"""What every detector shares: scoring through its scorer (batched, streamed, on the model's
device), a threshold fitted on calibration scores, conformal p-values, ``predict``,
``decision_function``, ``evaluate`` and ``explain``.

:class:`~hourglass.Detector` (one model) and :class:`~hourglass.DetectorEnsemble` (several) are
siblings below :class:`BaseDetector`: each says how it is fitted, which scorer it scores with
(:mod:`hourglass.detection.scorer`), and what it saves.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from hourglass import display
from hourglass.detection.lazy import is_dask, lazy
from hourglass.detection.metrics import Metrics, detection_metrics
from hourglass.detection.thresholds import FixedFPR, Threshold
from hourglass.errors import InvalidInputError, NotFittedError
from hourglass.inference import batched
from hourglass.streaming import row_chunks, should_stream
from hourglass.validation import as_float_array, check_model_input, check_positive_int, frame_to_array, is_frame


class BaseDetector:
    """Base of the detectors. A subclass provides ``model`` (the model whose input shape samples
    take), ``scorer()``, ``_models()``, ``_scalers()``, ``score_map`` and ``fit``, and calls
    :meth:`_fit_threshold`."""

    threshold: Threshold
    batch_size: int
    feature_names = None

    # -- what a subclass provides ----------------------------------------------------------
    def scorer(self) -> torch.nn.Module:
        """The module that scores a batch of raw inputs (``scores(x)``, ``forward(x)``)."""
        raise NotImplementedError

    def _models(self) -> list:
        raise NotImplementedError

    def _scalers(self) -> list:
        return []

    def _repr_html_(self) -> str:
        """A notebook's view: the model, the score, the threshold and what it was fitted on."""
        name = type(self).__name__
        if not hasattr(self, "threshold_"):
            return display.card(name, f"<p>{display.escape(repr(self))}: not fitted (call fit)</p>")
        models = self._models()
        members = self.model.n_members or len(models)
        rows = [
            ("model", self.model.name),
            ("input shape", str(tuple(self.model.input_shape))),
            ("members", members),
            ("parameters", sum(p.numel() for m in models for p in m.parameters())),
            ("score", getattr(self, "score", None)),
            ("threshold", repr(self.threshold)),
            ("threshold value", self.threshold_),
            ("calibration scores", len(getattr(self, "calibration_scores_", ()))),
        ]
        if self.feature_names is not None:
            names = [str(n) for n in self.feature_names]
            rows.append(("features", ", ".join(names[:8]) + (f", ... ({len(names)})" if len(names) > 8 else "")))
        return display.card(name, display.table([r for r in rows if r[1] is not None], ["", ""]))

    # -- scoring -------------------------------------------------------------------------------
    def _input(self, x, name: str = "x", offset: int = 0) -> np.ndarray:
        """Raw ``x`` checked (finite, numbers, the shape the scalers and the model take) and laid
        out in the model's input shape; scaling happens in the scorer."""
        if is_frame(x):  # columns matched by name to the features the detector was fitted on
            x = frame_to_array(x, self.feature_names, name)
        x = as_float_array(x, name, offset)
        for scaler in self._scalers():
            scaler.check_features(x)
        return check_model_input(self.model, x, name, offset)

    def _streamed(self, x, name: str, per_chunk) -> np.ndarray:
        """``per_chunk(checked input)`` over ``x``: at once for ordinary data, chunk by chunk for a
        memory-mapped or very long array, so memory stays bounded by the chunk size."""
        if not should_stream(x):
            return per_chunk(self._input(x, name))
        return np.concatenate([per_chunk(self._input(chunk, name, start)) for start, chunk in row_chunks(x)])

    def _fit_input(self, x, name: str = "x"):
        """What ``fit`` trains on: a DataFrame's values, its column names becoming the detector's
        ``feature_names`` when it has none (then matched by name whenever it scores a frame)."""
        if not is_frame(x):
            return x
        if self.feature_names is None:
            size = int(np.prod(self.model.input_shape))
            if x.shape[1] != size:
                raise InvalidInputError(f"{name} has {x.shape[1]} columns; the model takes {size} features")
            self.feature_names = [str(c) for c in x.columns]
        return frame_to_array(x, self.feature_names, name)

    def _run(self, x, method: str, name: str = "x"):
        """The scorer's ``method`` over ``x``, batched on the model's device."""
        fn = getattr(self.scorer(), method)
        return self._streamed(x, name, lambda xs: batched(self._models(), xs, fn, self.batch_size))

    def _finite_run(self, x, method: str, name: str = "x") -> np.ndarray:
        """:meth:`_run`, refusing non-finite results: a NaN score sorts anywhere and flags nothing,
        so none is handed on (scores, and the error maps that step and channel scores come from)."""
        out = self._run(x, method, name)
        bad = np.flatnonzero(~np.isfinite(out).reshape(len(out), -1).all(axis=1))  # the rows holding one
        if len(bad):
            raise InvalidInputError(
                f"the detector gave non-finite scores (NaN / inf) for {len(bad)} of {len(out)} rows of "
                f"{name}, first at row {int(bad[0])}: the model's weights hold NaN "
                "(training diverged: lower lr) or the rows hold values too large for float32"
            )
        return out

    def _scores(self, x, name: str = "x") -> np.ndarray:
        return self._finite_run(x, "scores", name)

    def score_samples(self, x) -> np.ndarray:
        """One anomaly score per sample, shape ``(n,)``; higher = more anomalous. A Dask array
        or DataFrame gives a lazy Dask result (so do :meth:`predict`, :meth:`decision_function`
        and :meth:`p_values`; see :mod:`hourglass.detection.lazy`)."""
        if is_dask(x):
            return lazy(self, x, "score_samples")
        return self._scores(x)

    def reconstruct(self, x) -> np.ndarray:
        """The reconstruction of each raw sample, in the input's units (the scaler undone), shaped
        as the model's input; an ensemble's is the mean of its members'."""
        return self._run(x, "forward")[0]

    def model_input(self, x) -> np.ndarray:
        """``x`` as the model sees it: checked, laid out in the model's shape, scaled."""
        return self._run(x, "model_input")

    # -- thresholds ------------------------------------------------------------------------
    def _check_threshold(self) -> None:
        if not isinstance(self.threshold, Threshold):
            raise InvalidInputError(
                f"threshold must be an hourglass threshold such as hg.MeanStd(k=1), got {self.threshold!r}"
            )

    def _check_feature_names(self) -> None:
        if self.feature_names is not None:
            size = int(np.prod(self.model.input_shape))
            if len(list(self.feature_names)) != size:
                raise InvalidInputError(f"{len(self.feature_names)} feature_names for samples of {size} elements")

    def _fit_threshold(self, scores: np.ndarray, y) -> None:
        self.threshold.fit(scores, y)
        self.threshold_ = self.threshold.value_
        self.calibration_scores_ = np.sort(scores.astype(np.float64))
        self.train_scores_ = {
            "mean": float(scores.mean()),
            "std": float(scores.std()),
            "min": float(scores.min()),
            "max": float(scores.max()),
            "n": int(len(scores)),
        }

    def _check_fitted(self):
        if not hasattr(self, "threshold_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted; call fit(x_normal) first")

    def p_values(self, x) -> np.ndarray:
        """Conformal p-values: ``(1 + #{calibration scores >= s}) / (n + 1)`` for each score ``s``.

        When the calibration data (``fit(..., calibration=...)``) are held-out normal samples and
        a new normal sample is exchangeable with them, ``P(p <= a) <= a`` for every ``a``: flagging
        ``p <= a`` keeps the false-positive rate at most ``a``. Small p-values = anomalous.
        """
        self._check_fitted()
        if is_dask(x):
            return lazy(self, x, "p_values")
        return self.p_values_of_scores(self._scores(x))

    def p_values_of_scores(self, scores) -> np.ndarray:
        """:meth:`p_values` from scores already computed by :meth:`score_samples`."""
        self._check_fitted()
        cal = self.calibration_scores_
        scores = np.asarray(scores, dtype=np.float64)
        at_least = len(cal) - np.searchsorted(cal, scores, side="left")
        return (1.0 + at_least) / (len(cal) + 1.0)

    def decision_function(self, x) -> np.ndarray:
        """``score - threshold_``: positive for anomalies."""
        self._check_fitted()
        if is_dask(x):
            return lazy(self, x, "decision_function")
        return self._scores(x) - self.threshold_

    def predict(self, x) -> np.ndarray:
        """1 for anomalies (score above ``threshold_``), 0 for normal samples (PyOD's convention)."""
        self._check_fitted()
        if is_dask(x):
            return lazy(self, x, "predict")
        return (self._scores(x) > self.threshold_).astype(np.int64)

    def evaluate(self, x, y_is_anomaly) -> Metrics:
        """Accuracy, precision, recall, F1 (anomaly = positive), AUROC and AUPRC on labelled data."""
        self._check_fitted()
        return detection_metrics(y_is_anomaly, self._scores(x), self.threshold_)

    def explain(self, x, top: int = 5) -> Explanation:
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
        return Explanation(
            indices=order,
            names=element_names(order, self.model.input_shape, self.feature_names),
            errors=errors,
            shares=shares,
            index=x.index if is_frame(x) else None,
        )

    def score_frame(self, x):
        """Per-row results as a pandas DataFrame: ``score`` (higher = more anomalous),
        ``is_anomaly`` (0 / 1, :meth:`predict`) and ``p_value`` (:meth:`p_values`), from one
        scoring pass. For a DataFrame ``x`` the rows keep its index; otherwise 0 .. n-1. (The
        other methods return NumPy arrays, in row order, whatever ``x`` is.) Needs pandas."""
        self._check_fitted()
        scores = self._scores(x)
        return display.frame(
            {
                "score": scores,
                "is_anomaly": (scores > self.threshold_).astype(np.int64),
                "p_value": self.p_values_of_scores(scores),
            },
            index=x.index if is_frame(x) else None,
        )


def element_names(order: np.ndarray, shape, feature_names=None) -> np.ndarray:
    """Names of the elements at flat indices ``order``: feature names, ``x3`` for table columns,
    or positions such as ``"(0, 13, 7)"`` for images and signals."""
    shape = tuple(shape)
    if feature_names is not None:
        return np.asarray([str(n) for n in feature_names], dtype=object)[order]
    if len(shape) == 1:
        return np.asarray([f"x{i}" for i in range(shape[0])], dtype=object)[order]
    positions = np.stack(np.unravel_index(order, shape), axis=-1)
    return np.asarray([["(" + ", ".join(map(str, p)) + ")" for p in row] for row in positions], dtype=object)


def warn_if_uncalibrated(threshold) -> None:
    if isinstance(threshold, FixedFPR):
        warnings.warn(
            "FixedFPR fitted on the training data: the false-positive guarantee holds only for scores "
            "of held-out normal data; pass calibration=x_heldout_normal",
            UserWarning,
            stacklevel=3,
        )


@dataclass
class Explanation:
    """What :meth:`BaseDetector.explain` returns; row ``i`` explains sample ``i``.

    indices : (n, top) flat index of each element within a sample (``np.unravel_index`` with
        the model's input shape gives pixel positions). names : (n, top) feature names, or
        positions such as ``"(0, 13, 7)"`` for images. errors : (n, top) the element's error
        (as in ``score_map``). shares : (n, top) that error over the sample's total error.
    """

    indices: np.ndarray
    names: np.ndarray
    errors: np.ndarray
    shares: np.ndarray
    index: object = None  # the explained DataFrame's index, for to_frame

    def __len__(self) -> int:
        return len(self.indices)

    def table(self, i: int = 0) -> str:
        """A small text table of sample ``i``'s top contributors."""
        rows = [f"{'element':>16s} {'error':>12s} {'share':>7s}"]
        for name, err, share in zip(self.names[i], self.errors[i], self.shares[i]):
            rows.append(f"{name:>16s} {err:12.5g} {share:7.1%}")
        return "\n".join(rows)

    def to_frame(self, index=None):
        """One row per (sample, rank): columns ``element``, ``error``, ``share``; the index is
        (``sample``, ``rank``), ``sample`` taken from ``index`` when given, else from the
        explained DataFrame's index (kept by :meth:`BaseDetector.explain`), else 0 .. n-1.
        Needs pandas."""
        import pandas as pd  # display.frame has said what to install if this fails

        n, top = self.indices.shape
        index = self.index if index is None else index
        samples = np.arange(n) if index is None else np.asarray(index)
        rows = pd.MultiIndex.from_arrays(
            [np.repeat(samples, top), np.tile(np.arange(1, top + 1), n)], names=["sample", "rank"]
        )
        data = {"element": self.names.ravel(), "error": self.errors.ravel(), "share": self.shares.ravel()}
        return display.frame(data, index=rows)

    def _repr_html_(self) -> str:
        shown = min(len(self), 5)
        parts = []
        for i in range(shown):
            rows = [
                (name, err, f"{share:.1%}") for name, err, share in zip(self.names[i], self.errors[i], self.shares[i])
            ]
            parts.append(f"<p>sample {i}</p>" + display.table(rows, ["element", "error", "share"]))
        more = f"<p>... {len(self) - shown} more samples (to_frame() has them all)</p>" if len(self) > shown else ""
        return display.card(f"Explanation of {len(self)} samples", *parts, more)
