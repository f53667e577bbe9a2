"""Rows in, a fitted detector out: the one pipeline the recipe runner, the estimators, the command
line (through the estimators) and ``SeriesDetector`` run.

Its steps, in order: split the rows (training, validation for early stopping, rows held out to
calibrate the threshold), fit the scaler on the training rows only, train one model per seed
(``hg.fit``, each from its own seed), build the detector (one ``Detector``, or a
``DetectorEnsemble`` of several models that thresholds their averaged score), and fit it on the
raw rows, its threshold on the calibration rows. Each caller keeps only its own policy: which
model, which options, which rows.

>>> import hourglass as hg
>>> from hourglass.detection.pipeline import Pipeline
>>> ds = hg.datasets.load("ecg5000", split="tutorial")
>>> p = Pipeline(hg.FitOptions(epochs=2, progress=False), scaler="standard", detection={"score": "mse"})
>>> rows = p.split(len(ds.x_train), validation=400, held_out=0, rng=np.random.default_rng(0))
>>> scaler = p.fit_scaler(ds.x_train[rows.train])
>>> build = lambda k, seed: hg.create_model("stacked", seed=seed)
>>> models, _ = p.train(build, scaler.transform(ds.x_train[rows.train]), [0])
>>> det = p.detector(models, scaler).fit(ds.x_train[rows.train])
>>> det.predict(ds.x_test).shape
(1000,)
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from hourglass.detection.detector import Detector
from hourglass.detection.ensemble import DetectorEnsemble
from hourglass.detection.thresholds import Threshold
from hourglass.history import History
from hourglass.models.base import Autoencoder
from hourglass.prepare import make_scaler, split_rows
from hourglass.training import FitOptions, fit


@dataclass(frozen=True)
class Rows:
    """Row numbers of a split: ``held`` (calibration, never trained on), ``val`` (early
    stopping) and ``train``."""

    held: np.ndarray
    val: np.ndarray
    train: np.ndarray


@dataclass
class Pipeline:
    """The steps from rows to a fitted detector (see the module's docstring).

    ``options``: ``hg.fit``'s, for every model (each gets its own ``seed``); ``scaler``: a
    registered scaler's name or None; ``corruption``: what training corrupts inputs with (a
    deterministic one, such as ``hg.Downsample``, is also the detector's ``input_transform`` when
    ``transform_scoring`` is set); ``detection``: the :class:`~hourglass.detection.spec.ScoreSpec`
    options of each ``Detector``; ``threshold``: the detector's (an ensemble's, for several).
    """

    options: FitOptions
    scaler: str | None = None
    corruption: object | None = None
    detection: dict = field(default_factory=dict)
    threshold: Threshold | None = None
    transform_scoring: bool = False

    def split(self, n: int, *, validation: int, held_out: int, rng) -> Rows:
        """``n`` rows split at random: ``held_out`` rows, then ``validation`` rows, the rest train."""
        held, val, train = split_rows(n, [held_out, validation], rng)
        return Rows(held, val, train)

    def fit_scaler(self, x_train: np.ndarray):
        """The scaler fitted on the training rows only (None: no scaling)."""
        scaler = make_scaler(self.scaler)
        return None if scaler is None else scaler.fit(x_train)

    def train(
        self,
        build: Callable[[int, int | None], Autoencoder],
        x_train: np.ndarray,
        seeds: Sequence[int | None],
        *,
        per_model: Callable[[int], dict] | None = None,
        **fit_kwargs,
    ) -> tuple[list[Autoencoder], list[History]]:
        """One model per seed, ``build(k, seed)`` for the k-th, trained by ``hg.fit`` on ``x_train`` (scaled) with
        the pipeline's options, its own seed and ``per_model(k)``'s options on top; ``fit_kwargs``
        go to every ``hg.fit`` call (``validation``, ``labels``, ``member_rows``, ...)."""
        models, histories = [], []
        for k, seed in enumerate(seeds):
            model = build(k, seed)
            options = self.options.replace(seed=seed, **(per_model(k) if per_model else {}))
            history = fit(model, x_train, corruption=copy.deepcopy(self.corruption), options=options, **fit_kwargs)
            model.history_ = history
            models.append(model)
            histories.append(history)
        return models, histories

    def detector(self, models: Sequence[Autoencoder], scaler) -> Detector | DetectorEnsemble:
        """One ``Detector`` per model with the pipeline's score options and ``scaler``; several
        make a ``DetectorEnsemble``, which thresholds their averaged score (the members' own
        thresholds go unused)."""
        transform = self.corruption if self.transform_scoring else None
        detectors = [
            Detector(
                m,
                threshold=self.threshold if len(models) == 1 else None,
                scaler=scaler,
                input_transform=transform,
                **self.detection,
            )
            for m in models
        ]
        return detectors[0] if len(detectors) == 1 else DetectorEnsemble(detectors, threshold=self.threshold)
