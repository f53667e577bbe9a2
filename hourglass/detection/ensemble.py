"""Several detectors voting as one: each member's score is standardised robustly on the fit data
(minus its median, over its interquartile range) and the standardised scores are averaged.

Autoencoders trained from different initial weights, or with different widths, fail on different
normal rows; averaging their standardised errors keeps what they agree on. On the ADBench sets
(``benchmarks/adbench.py``) this is what lifts hourglass's default above a single model.
"""

from __future__ import annotations

import numpy as np
import torch

from hourglass.detection.base import BaseDetector, warn_if_uncalibrated
from hourglass.detection.detector import Detector
from hourglass.detection.scorer import EnsembleScorer, combine_scores
from hourglass.detection.scores import MemberStandardisation
from hourglass.detection.thresholds import MeanStd, Threshold, threshold_from_dict
from hourglass.devices import model_device
from hourglass.errors import InvalidInputError, NotFittedError
from hourglass.models.base import Autoencoder
from hourglass.saving import SavedState, float64_array, prefixed, under


class DetectorEnsemble(BaseDetector):
    """Average of robustly standardised member scores; the threshold, p-values, ``predict``,
    ``evaluate`` and ``explain`` work on that average as :class:`Detector`'s do on one score.

    Parameters
    ----------
    detectors : sequence of Detector
        Members over models of the same input shape; fitted in :meth:`fit` if they are not.
    threshold : Threshold, default ``MeanStd(k=1.0)``
    batch_size : int, default 1024
    feature_names : sequence of str, optional

    Attributes
    ----------
    center_, spread_ : ndarray, one value per member
        Median and interquartile range of each member's scores on the ``fit`` data.
    """

    score = "ensemble"  # what the detector's score is, in reports and descriptions
    scaler = None
    input_transform = None
    n_samples = 64

    def __init__(self, detectors, threshold: Threshold | None = None, batch_size: int = 1024, feature_names=None):
        self.detectors = list(detectors)
        if not self.detectors or not all(isinstance(d, Detector) for d in self.detectors):
            raise InvalidInputError("DetectorEnsemble needs a non-empty list of hg.Detector")
        shapes = {tuple(d.model.input_shape) for d in self.detectors}
        if len(shapes) > 1:
            raise InvalidInputError(f"ensemble members take different input shapes: {sorted(shapes)}")
        self.threshold = threshold if threshold is not None else MeanStd(k=1.0)
        self.batch_size = batch_size
        self.feature_names = feature_names

    @property
    def model(self) -> Autoencoder:
        """The first member's model (the input shape every member takes)."""
        return self.detectors[0].model

    def fit(self, x, y=None, *, calibration=None) -> DetectorEnsemble:
        """Fit unfitted members on ``x``, standardise each member on its scores of ``x``, and fit
        the threshold on the averaged scores of ``calibration`` (if given) or ``x``."""
        self._check_threshold()
        x = self._fit_input(x)
        if calibration is not None:
            calibration = self._fit_input(calibration, "calibration")
        self._check_feature_names()
        fresh = [not hasattr(d, "threshold_") for d in self.detectors]
        for d, new in zip(self.detectors, fresh):
            if new:
                d.fit(x)
        # a member fitted here just now scores x as its own fit data (neighbour scores: leaving
        # each row out of its own neighbours); one fitted before scores x as any data
        raw = np.stack([(d._fit_scores(x) if new else d.score_samples(x)) for d, new in zip(self.detectors, fresh)])
        raw = raw.astype(np.float64)
        self.members_ = MemberStandardisation.fit(raw)
        if calibration is None:
            warn_if_uncalibrated(self.threshold)
            scores = combine_scores(list(torch.from_numpy(raw)), *self.members_.tensors("cpu")).numpy()
        else:
            scores = self._scores(calibration, "calibration")
        self._fit_threshold(scores, y)
        return self

    def scorer(self, *, device=None, rows: int | None = 16384) -> EnsembleScorer:
        if getattr(self, "members_", None) is None:
            raise NotFittedError("this DetectorEnsemble is not fitted; call fit(x_normal) first")
        device = model_device(self.model) if device is None else device
        members = [d.scorer(device=device, rows=rows) for d in self.detectors]
        # (never .to() a scorer: it holds the user's models, which must stay where they are)
        return EnsembleScorer(members, *self.members_.tensors(device))

    @property
    def center_(self) -> np.ndarray:
        return self.members_.center

    @property
    def spread_(self) -> np.ndarray:
        return self.members_.spread

    def _models(self) -> list:
        return [d.model for d in self.detectors]

    def _scalers(self) -> list:
        return [d.scaler for d in self.detectors if d.scaler is not None]

    def score_map(self, x) -> np.ndarray:
        """Each member's error map over its spread, averaged: the elements' contributions in the
        units of the ensemble's score."""
        self._check_fitted()
        maps = [d.score_map(x) / s for d, s in zip(self.detectors, self.spread_)]
        return np.mean(maps, axis=0).astype(np.float32)

    # -- saved state -----------------------------------------------------------------------
    def description(self) -> dict:
        return {
            "score": self.score,
            "batch_size": self.batch_size,
            "threshold": self.threshold.to_dict(),
            "threshold_value": self.threshold_,
            "scaler": None,
            "train_scores": self.train_scores_,
            "feature_names": None if self.feature_names is None else [str(n) for n in self.feature_names],
            "n_samples": self.n_samples,
            "input_transform": None,
        }

    def to_saved(self) -> SavedState:
        """Each member's weights and arrays under ``member<k>/``; the standardisation and the
        ensemble's own calibration scores; the first member's model and history at the top."""
        self._check_fitted()
        members = [d.to_saved() for d in self.detectors]
        meta = {
            "kind": "ensemble",
            "detector": self.description(),
            "members": [{"model": m.meta["model"], "detector": m.meta["detector"]} for m in members],
            "model": members[0].meta["model"],
        }
        if "history" in members[0].meta:
            meta["history"] = members[0].meta["history"]
        state = SavedState(meta)
        for k, member in enumerate(members):
            state.weights.update(prefixed(member.weights, f"member{k}/"))
            state.arrays.update(prefixed(member.arrays, f"member{k}/"))
        state.arrays.update(self.members_.to_arrays(), calibration_scores=float64_array(self.calibration_scores_))
        return state

    @classmethod
    def from_saved(cls, state: SavedState, device="cpu") -> DetectorEnsemble:
        members = []
        for k, m in enumerate(state.meta["members"]):
            prefix = f"member{k}/"
            meta = {"model": m["model"], "detector": m["detector"]}
            if k == 0 and "history" in state.meta:  # saved at the top, for the first member's model
                meta["history"] = state.meta["history"]
            members.append(
                Detector.from_saved(SavedState(meta, under(state.weights, prefix), under(state.arrays, prefix)), device)
            )
        d = state.meta["detector"]
        det = cls(
            members,
            threshold=threshold_from_dict(d["threshold"]),
            batch_size=int(d.get("batch_size", 1024)),
            feature_names=d.get("feature_names"),
        )
        det.members_ = MemberStandardisation.from_arrays(state.arrays, len(members))
        det.threshold_ = float(d["threshold_value"])
        det.train_scores_ = d.get("train_scores", {})
        det.calibration_scores_ = state.arrays.get("calibration_scores", np.zeros(0))
        return det

    def __repr__(self) -> str:
        return f"DetectorEnsemble({len(self.detectors)} members, threshold={self.threshold!r})"
