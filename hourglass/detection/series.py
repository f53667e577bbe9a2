"""Anomalies in long recordings: one score per time step from an autoencoder over sliding windows.

:class:`SeriesDetector` owns the whole pipeline a user would otherwise write by hand: per-channel
scaling fitted on the training part (median and interquartile range, so anomalies inside it do not
set the scale), the window length (the period, :func:`hourglass.find_period`), windows, a sequence
model trained on them (:func:`hourglass.fit`), each window scored by how far what its
reconstruction leaves lies from the nearest residual of a training window (or by its error), each
step's score averaged over the windows that cover it, and a threshold fitted on the step scores of
a held-out stretch of the training part; :meth:`SeriesDetector.score_channels` says which channel
an anomaly is in.
The windows are scored by an ordinary :class:`~hourglass.Detector` (``sd.detector_``), so the
model's scoring path, saving and ONNX export are those of every detector; :meth:`stream` scores
a recording chunk by chunk with the same result.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from hourglass import display
from hourglass.detection.detector import Detector
from hourglass.detection.events import Event, events_from_scores
from hourglass.detection.pipeline import Pipeline
from hourglass.detection.range_metrics import recording_metrics
from hourglass.detection.thresholds import FixedFPR, Threshold, threshold_from_dict
from hourglass.errors import InvalidInputError, NotFittedError
from hourglass.models.base import Autoencoder
from hourglass.models.registry import create_model
from hourglass.progress import bar as progress_bar
from hourglass.saving import SavedState, float64_array, prefixed, under
from hourglass.threads import fixed as fixed_threads
from hourglass.threads import parse_threads
from hourglass.training import FitOptions
from hourglass.transforms.period import find_period
from hourglass.transforms.scalers import StandardScaler
from hourglass.transforms.windows import scores_to_steps, windows
from hourglass.validation import check_fraction, check_positive_int, is_frame

SEQUENCE_MODELS = ("conv1d", "lstm", "dense", "stacked", "dense-ensemble")
MAX_TRAIN_WINDOWS = 20000  # beyond this the training stride grows: more windows repeat what is there
# training windows whose error lies this many interquartile ranges above the median are not kept as
# normal residuals: anomalies inside the training part would otherwise be their own nearest
# neighbours. Compared in a prototype on the suite and the TSB-AD files: of the cuts that kept the
# suite's worst AUROC above 0.85 (the worst 10 %, 3 IQR, 6 IQR), 6 IQR cost MGAB the least VUS-PR
# (0.53 -> 0.41; keeping every window: worst AUROC 0.48; docs/decisions/series-defaults.md)
MEMORY_OUTLIER_IQRS = 6.0
# a window's score averages its distances to this many nearest training residuals: a shape that the
# training part holds only once or twice (an anomaly inside it) is then still far from "normal"
# (benchmarks/tsbad.py: 1 neighbour fails the suite's subtle shape anomalies with 3-6 % of them in
# the training part, AUROC 0.72-0.80; 10 keep them at 0.97-0.99, for 0.05 of VUS-PR on TSB-AD)
AUTO_NEIGHBORS = 10


class SeriesDetector:
    """Flag the time steps of long recordings that an autoencoder over windows reconstructs badly.

    Parameters
    ----------
    window : "auto" or int, default "auto"
        Steps per window. ``"auto"``: the period of the training part (autocorrelation,
        :func:`hourglass.find_period`), repeated to span ``min_window`` steps.
    min_window : int, default 48
        With ``window="auto"``, the window is the fewest whole periods that span at least this
        many steps. A short period (an hourly cycle sampled every 5 minutes: 12 steps) makes a
        window too short to tell a noisy stretch from noise; 0 keeps one period. Chosen on the
        robustness suite (``benchmarks/recordings.py --suite``, its short-period variants).
    model : str or Autoencoder, default "dense-ensemble"
        A sequence model by name, built for ``(channels, window)`` inputs with ``model_options``:
        ``"dense-ensemble"`` (six dense autoencoders on the flattened windows, trained together,
        each with a code of an eighth of the window), ``"dense"`` / ``"stacked"``, ``"conv1d"``,
        ``"lstm"``; or an untrained model whose ``input_shape`` is ``(channels, window)``. The
        default was chosen on a robustness suite (``benchmarks/recordings.py --suite``): a
        model whose code is not much smaller than the window learns to copy, and then scores
        the anomalies easiest to copy (flat lines, smooth stretches) lowest of all.
    model_options : dict, optional
        Passed to :func:`hourglass.create_model` (e.g. ``{"latent_dim": 16}``).
    stride : "auto" or int, default "auto"
        Steps between window starts when scoring (``"auto"``: a tenth of the window, at least 1):
        each step's score is the mean of its errors in the ``window / stride`` windows that cover
        it. Training windows start every step, or further apart on long training parts (at most
        20,000 windows).
    epochs, batch_size, lr : training budget (:func:`hourglass.fit`); early stopping on the
        held-out stretch ends it sooner.
    trim : float, default 0.2
        Each batch's loss ignores its worst-reconstructed share of windows: the training part of a
        real recording can hold anomalies, and the model should not learn them (chosen on the
        robustness suite among 0.1-0.4: ``benchmarks/results/recordings_defaults.json``).
    score : {"mse", "mae"}, default "mse"
        The error of each reconstructed step.
    score_by : {"window", "step"}, default "window"
        A step's score is the mean over the windows that cover it of: each window's score
        (``"window"``: smooth, one event per anomaly) or the window's error at that step
        (``"step"``: sharper edges, noisier).
    neighbors : "auto", int or None, default "auto"
        A window's score: with a number ``k``, the mean distance from what its reconstruction
        leaves (the residual ``x - x_hat``, scaled) to the ``k`` nearest residuals of the
        training windows (``Detector(score="residual-knn")``; at most 10,000 of them, leaving out
        those whose error lies more than 6 interquartile ranges above the median: anomalies in
        the training part); None: the window's mean reconstruction error. A chaotic or slowly
        varying signal, or a beat of the normal amplitude but the wrong shape, is reconstructed
        about as well as a normal window, yet leaves a residual no normal window leaves: on the
        17 TSB-AD files the mean VUS-PR goes from 0.52 to 0.64, on MGAB from 0.06 to 0.32
        (``benchmarks/tsbad.py``; ``docs/decisions/series-defaults.md``). ``"auto"``: 10 with
        ``score_by="window"`` (a shape the training part holds once or twice, an anomaly in it,
        stays far from normal; 1 scores MGAB higher but anomalies inside the training part
        lower), None with ``"step"``.
    nearest : "auto" or bool, default "auto"
        With ``neighbors`` above 1: score a window by the larger of its distance to the single
        nearest training residual and the mean distance to the ``neighbors`` nearest, each scaled
        on the held-out stretch (``Detector(nearest=True)``). The nearest residual tells new
        dynamics best (MGAB); the mean of 10 is not fooled by an anomaly the training part holds.
        On the 17 TSB-AD files the mean VUS-PR goes from 0.644 to 0.653 and MGAB from 0.30 / 0.35
        to 0.36 / 0.43, with the same worst case on the robustness suite. ``"auto"``: True where
        ``neighbors`` resolves to more than 1.
    threshold : Threshold, default ``FixedFPR(0.01)``
        Fitted on the step scores of the held-out stretch (the last ``calibration`` share of the
        training part, which the model does not train on).
    calibration : float, default 0.2
        Share of the training part held out for early stopping and the threshold.
    random_state : int, default 0
    device : str, default "auto"
    progress : "auto" or bool, default "auto"
        Progress bars for training and for scoring long recordings: "auto" where a person is
        watching (a terminal or a notebook), once the work has run for two seconds
        (:mod:`hourglass.progress`); True always, False never.
    threads : "auto" or int, default "auto"
        CPU threads for training and scoring (:mod:`hourglass.threads`): "auto" runs one thread
        for the small window models, so that other work on the machine does not stall them.

    Attributes
    ----------
    window_, stride_ : int
        The window length and scoring stride used.
    center_, scale_ : ndarray (channels,)
        Per-channel median and interquartile range of the training part.
    detector_ : Detector
        Scores windows (shape ``(channels, window_)``, raw units); its threshold is on window scores.
    threshold_ : float
        Step scores above it are flagged.
    calibration_scores_ : ndarray
        The held-out stretch's step scores, sorted.
    channel_scale_ : ndarray (channels,)
        Each channel's median step error on the held-out stretch (:meth:`score_channels`).
    channel_names : list of str or None
        A DataFrame's column names, matched by name when scoring frames.

    Examples
    --------
    >>> import numpy as np, hourglass as hg
    >>> t = np.arange(6000)
    >>> signal = np.sin(2 * np.pi * t / 50) + 0.05 * np.random.default_rng(0).normal(size=6000)
    >>> signal[4000:4030] += 1.5                                       # an anomaly
    >>> sd = hg.SeriesDetector(epochs=5).fit(signal[:3000])
    >>> sd.window_
    50
    >>> scores = sd.score_steps(signal)                              # one per step
    >>> bool(scores[4000:4030].mean() > 10 * np.median(scores))
    True
    """

    def __init__(
        self,
        window="auto",
        min_window: int = 48,
        model="dense-ensemble",
        model_options: dict | None = None,
        stride="auto",
        epochs: int = 30,
        batch_size: int = 64,
        lr: float = 1e-3,
        trim: float = 0.2,
        score: str = "mse",
        score_by: str = "window",
        neighbors="auto",
        nearest="auto",
        threshold: Threshold | None = None,
        calibration: float = 0.2,
        random_state: int | None = 0,
        device="auto",
        progress="auto",
        threads="auto",
    ):
        self.window = window
        self.min_window = min_window
        self.model = model
        self.model_options = model_options
        self.stride = stride
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.trim = trim
        self.score = score
        self.score_by = score_by
        self.neighbors = neighbors
        self.nearest = nearest
        self.threshold = threshold if threshold is not None else FixedFPR(0.01)
        self.calibration = calibration
        self.random_state = random_state
        self.device = device
        self.progress = progress
        self.threads = threads
        self.channel_names = None

    # -- input -------------------------------------------------------------------------------
    def _steps(self, x, name: str = "recording", allow_empty: bool = False) -> np.ndarray:
        """``x`` as float32 ``(time, channels)``: a Recording's values, a DataFrame's columns (by
        name once fitted on a frame), a ``(time,)`` or ``(time, channels)`` array."""
        if hasattr(x, "values") and hasattr(x, "train_end") and not is_frame(x):  # a Recording
            x = x.values
        if is_frame(x):
            if self.channel_names is None:
                return _as_steps(x.to_numpy(), name, allow_empty)
            missing = [c for c in self.channel_names if c not in x.columns]
            if missing:
                raise InvalidInputError(f"{name} lacks the channel column(s) {missing} the detector was fitted on")
            x = x[list(self.channel_names)].to_numpy()
        arr = _as_steps(x, name, allow_empty)
        n_channels = getattr(self, "n_channels_", None)
        if n_channels is not None and arr.shape[1] != n_channels and (len(arr) or arr.ndim != 2):
            raise InvalidInputError(f"{name} has {arr.shape[1]} channel(s); the detector was fitted on {n_channels}")
        return arr

    def _training_parts(self, recordings) -> list[np.ndarray]:
        items = recordings if isinstance(recordings, (list, tuple)) else [recordings]
        if not items:
            raise InvalidInputError("fit needs at least one recording")
        parts = []
        for i, item in enumerate(items):
            name = "recording" if len(items) == 1 else f"recording {i}"
            if hasattr(item, "train_end") and not is_frame(item):  # a Recording: its protocol's training part
                item = item.x_train
            elif is_frame(item) and i == 0:  # a refit on frames takes their names afresh
                self.channel_names = [str(c) for c in item.columns]
            parts.append(self._steps(item, name))
        if len({p.shape[1] for p in parts}) > 1:
            raise InvalidInputError(f"the recordings have different channel counts: {[p.shape[1] for p in parts]}")
        return parts

    def _check_params(self) -> None:
        check_positive_int(self.epochs, "epochs")
        check_positive_int(self.batch_size, "batch_size")
        check_fraction(self.calibration, "calibration")
        if not 0 <= float(self.trim) < 0.5:
            raise InvalidInputError(f"trim must lie in [0, 0.5), got {self.trim!r}")
        if self.score_by not in ("window", "step"):
            raise InvalidInputError(f"score_by must be 'window' or 'step', got {self.score_by!r}")
        if self.score not in ("mse", "mae"):
            raise InvalidInputError(f"score must be 'mse' or 'mae', got {self.score!r}")
        k = self._n_neighbors()
        self._nearest()
        if k is not None and self.score_by == "step":
            raise InvalidInputError("score_by='step' scores each step's error: it needs neighbors=None")
        if self.window != "auto":
            check_positive_int(self.window, "window")
            if self.window < 2:
                raise InvalidInputError(f"window must be at least 2 steps, got {self.window}")
        if self.stride != "auto":
            check_positive_int(self.stride, "stride")
        if (
            isinstance(self.min_window, bool)
            or not isinstance(self.min_window, (int, np.integer))
            or self.min_window < 0
        ):
            raise InvalidInputError(f"min_window must be a whole number of steps >= 0, got {self.min_window!r}")
        if not isinstance(self.threshold, Threshold):
            raise InvalidInputError(f"threshold must be an hourglass threshold, got {self.threshold!r}")
        parse_threads(self.threads)
        if isinstance(self.model, str) and self.model not in SEQUENCE_MODELS:
            raise InvalidInputError(f"model must be one of {SEQUENCE_MODELS} or an Autoencoder, got {self.model!r}")

    def _n_neighbors(self) -> int | None:
        """The ``neighbors`` option resolved: a count, or None for the reconstruction error."""
        if isinstance(self.neighbors, str) and self.neighbors == "auto":
            return AUTO_NEIGHBORS if self.score_by == "window" else None
        return None if self.neighbors is None else check_positive_int(self.neighbors, "neighbors")

    def _nearest(self) -> bool:
        """The ``nearest`` option resolved: whether the window score also takes the nearest residual."""
        k = self._n_neighbors()
        if isinstance(self.nearest, str) and self.nearest == "auto":
            return k is not None and k > 1
        if not isinstance(self.nearest, bool):
            raise InvalidInputError(f"nearest must be 'auto', True or False, got {self.nearest!r}")
        if self.nearest and k is None:
            raise InvalidInputError("nearest=True needs a neighbour score: set neighbors to a number")
        return self.nearest

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, recordings, y=None) -> SeriesDetector:
        """Learn from one recording or a list of them (their training parts, for
        :class:`~hourglass.datasets.Recording` objects): ``(time,)`` or ``(time, channels)``
        arrays or DataFrames whose rows are time steps. ``y`` is ignored (unsupervised)."""
        self._check_params()
        with fixed_threads(self.threads):
            return self._fit(recordings)

    def _fit(self, recordings) -> SeriesDetector:
        parts = self._training_parts(recordings)
        self.n_channels_ = parts[0].shape[1]
        joined = np.concatenate(parts)
        self.center_, self.scale_ = _robust_center_scale(joined)
        self.window_ = self._find_window(parts[0]) if self.window == "auto" else int(self.window)
        self.stride_ = max(1, self.window_ // 10) if self.stride == "auto" else int(self.stride)
        train, held = self._split(parts)
        unsplit = self._warn_if_unsplit(train, held)
        model = self._build_model()
        x_train = self._training_windows(train)
        x_held = np.concatenate([windows(p.T, self.window_, self.stride_) for p in held])
        pipeline = self._pipeline()
        scaler = self._window_scaler()
        pipeline.train(
            lambda k, seed: model, scaler.transform(x_train), [self.random_state], validation=scaler.transform(x_held)
        )
        det = pipeline.detector([model], scaler)
        det.fit(x_held, calibration=x_held)  # windows held out: the window detector's own threshold
        k = self._n_neighbors()
        if k is not None:
            # held-out windows in the memory would be their own nearest: with an unsplit part, the
            # neighbour score's levels come from the fit windows, each left out of its own neighbours
            errors = det.score_samples(x_train)
            with warnings.catch_warnings():  # the window detector's own FixedFPR: warned of above
                warnings.simplefilter("ignore", UserWarning)
                det = self._neighbor_detector(model, scaler, errors, x_train, None if unsplit else x_held, k)
        self.detector_ = det
        held_scores = np.concatenate([self._score_steps(p) for p in held])
        self.threshold.fit(held_scores)
        self.threshold_ = float(self.threshold.value_)
        self.calibration_scores_ = np.sort(held_scores.astype(np.float64))
        held_channels = np.concatenate([self._channel_errors(p) for p in held])
        typical = np.median(held_channels, axis=0)
        self.channel_scale_ = np.where(typical > 0, typical, 1.0)
        return self

    def _warn_if_unsplit(self, train, held) -> bool:
        """Whether a part was too short to split (it is its own held-out stretch, so its windows are
        in the memory), warning if so."""
        unsplit = any(h is t for h, t in zip(held, train))
        if unsplit:
            warnings.warn(
                f"a training part is too short to hold out a stretch (its last {self.calibration:.0%} is under one "
                f"window of {self.window_} steps): the threshold is fitted on windows the model trained on and "
                f"will flag too many steps; give at least {math.ceil(self.window_ / float(self.calibration))} steps",
                UserWarning,
                stacklevel=4,
            )
        return unsplit

    def _neighbor_detector(self, model, scaler, errors, x_train, x_held, k: int) -> Detector:
        """Windows scored by their nearest training residuals; the memory leaves out the training
        windows whose error is an outlier (``MEMORY_OUTLIER_IQRS``). ``x_held`` None: calibrated
        on the training windows themselves."""
        q25, median, q75 = np.percentile(errors, [25, 50, 75])
        keep = errors <= median + MEMORY_OUTLIER_IQRS * (q75 - q25)
        if keep.sum() <= k:
            keep[:] = True
        det = Detector(
            model, score="residual-knn", n_neighbors=k, nearest=self._nearest(), threshold=FixedFPR(0.01), scaler=scaler
        )
        return det.fit(x_train[keep], calibration=x_held)

    def _find_window(self, first: np.ndarray) -> int:
        """The period of the first recording's training part, repeated to span ``min_window`` steps."""
        period = find_period((first - self.center_) / self.scale_)
        return period * max(1, math.ceil(int(self.min_window) / period))

    def _pipeline(self) -> Pipeline:
        """The library's pipeline with this detector's options: training on scaled windows (the
        held-out stretch's windows stop it early, patience 5), a window detector whose own
        threshold (FixedFPR 0.01) is fitted on the held-out windows."""
        options = FitOptions(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            loss=self.score,
            trim=float(self.trim),
            early_stopping=5,
            device=self.device,
            progress=self.progress,
        )
        return Pipeline(options, detection={"score": self.score}, threshold=FixedFPR(0.01))

    def _split(self, parts) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Each part's first ``1 - calibration`` for training, the rest held out (a part too
        short to split trains whole and is scored as held out too)."""
        train, held = [], []
        for p in parts:
            cut = int(round(len(p) * (1 - float(self.calibration))))
            if min(cut, len(p) - cut) < self.window_:
                if len(p) < self.window_:
                    raise InvalidInputError(
                        f"a training part of {len(p)} steps is shorter than the window {self.window_}"
                    )
                train.append(p)
                held.append(p)
                continue
            train.append(p[:cut])
            held.append(p[cut:])
        return train, held

    def _training_windows(self, train) -> np.ndarray:
        total = sum(len(p) - self.window_ + 1 for p in train if len(p) >= self.window_)
        stride = max(1, math.ceil(total / MAX_TRAIN_WINDOWS))
        return np.concatenate([windows(p.T, self.window_, stride) for p in train if len(p) >= self.window_])

    def _build_model(self) -> Autoencoder:
        shape = (self.n_channels_, self.window_)
        if isinstance(self.model, Autoencoder):
            if tuple(self.model.input_shape) != shape:
                raise InvalidInputError(
                    f"the model takes inputs of shape {tuple(self.model.input_shape)}; windows here are {shape} "
                    "(channels, window): build it with that input_shape, or pass the model's name"
                )
            return self.model
        opts = {"output_activation": "none", "seed": self.random_state, **(self.model_options or {})}
        if self.model in ("dense", "stacked", "dense-ensemble"):
            opts.setdefault("hidden", (max(8, self.window_ // 2),))
            opts.setdefault("latent_dim", max(4, self.window_ // 8))
        return create_model(self.model, input_shape=shape, **opts)

    def _window_scaler(self) -> StandardScaler:
        """The per-channel scaling as a fitted StandardScaler over windows (channels, window), so
        the window detector (and its ONNX export) takes raw windows."""
        scaler = StandardScaler()
        scaler.mean_ = np.repeat(self.center_[:, None], self.window_, axis=1).astype(np.float32)
        scaler.scale_ = np.repeat(self.scale_[:, None], self.window_, axis=1).astype(np.float32)
        return scaler

    # -- scoring -----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "detector_"):
            raise NotFittedError("this SeriesDetector is not fitted; call fit(recording) first")

    def _over_windows(self, steps: np.ndarray, fn) -> np.ndarray:
        """``fn`` over the scoring windows of a checked ``(time, channels)`` array of at least one
        window, concatenated: in chunks, so that scoring a long recording shows progress (the same
        numbers as whole), under the detector's thread policy."""
        if len(steps) < self.window_:
            raise InvalidInputError(f"the recording has {len(steps)} steps, fewer than the window ({self.window_})")
        wins = windows(steps.T, self.window_, self.stride_)
        chunk, parts = 16384, []
        with (
            fixed_threads(getattr(self, "threads", "auto")),
            progress_bar(getattr(self, "progress", "auto"), total=len(wins), unit="window", desc="score") as bar,
        ):
            for i in range(0, len(wins), chunk):
                parts.append(fn(wins[i : i + chunk]))
                bar.update(len(parts[-1]))
        return np.concatenate(parts)

    def _score_steps(self, steps: np.ndarray) -> np.ndarray:
        """Step scores of a checked ``(time, channels)`` array of at least one window."""
        per_window = self._over_windows(steps, self._window_errors)
        return scores_to_steps(per_window, len(steps), self.window_, self.stride_)

    def _window_errors(self, wins: np.ndarray) -> np.ndarray:
        """``(n, window)`` float64: each window's error per step (channels averaged), or with
        ``score_by="window"`` the window's score (mean error, or residual distance) at each of its steps."""
        if self.detector_.score == "residual-knn":  # one score per window
            scores = np.asarray(self.detector_.score_samples(wins), dtype=np.float64)
            return np.repeat(scores[:, None], wins.shape[-1], axis=1)
        errors = np.asarray(self.detector_.score_map(wins), dtype=np.float64).mean(axis=1)
        if self.score_by == "window":
            errors = np.repeat(errors.mean(axis=1, keepdims=True), errors.shape[1], axis=1)
        return errors

    def score_steps(self, recording) -> np.ndarray:
        """One anomaly score per time step, float64 ``(time,)``; higher = more anomalous."""
        self._check_fitted()
        return self._score_steps(self._steps(recording))

    def score_channels(self, recording) -> np.ndarray:
        """One score per step and channel, float64 ``(time, channels)``: which channel is
        anomalous. A step's score in a channel is the mean, over the windows that cover it, of the
        window's squared reconstruction error in that channel, over that channel's median on the
        held-out stretch (``channel_scale_``): 1 is a channel's usual error, so a channel the
        model reconstructs less well does not stand out for that. :meth:`score_steps` ranks the
        steps; this says which channels drive an event (:meth:`event_channels`; the report
        lists them)."""
        self._check_fitted()
        return self._channel_errors(self._steps(recording)) / self.channel_scale_

    def _channel_errors(self, steps: np.ndarray) -> np.ndarray:
        """``(time, channels)``: each channel's squared error mapped to the steps, unscaled."""
        per_window = self._over_windows(  # (windows, channels)
            steps, lambda wins: np.asarray(self.detector_.score_map(wins), dtype=np.float64).mean(axis=2)
        )
        out = np.empty((len(steps), self.n_channels_))
        for c in range(self.n_channels_):
            out[:, c] = scores_to_steps(per_window[:, c], len(steps), self.window_, self.stride_)
        return out

    def event_channels(self, events, channel_scores, top: int = 3) -> list[list[tuple[str, float]]]:
        """Per event, its ``top`` channels by their share of the event's channel scores
        (:meth:`score_channels`), highest first: ``[(name, share), ...]``."""
        names = self.channel_names or [f"channel {c}" for c in range(self.n_channels_)]
        out = []
        for e in events:
            mean = np.asarray(channel_scores[e.start : e.stop]).mean(axis=0)
            share = mean / mean.sum() if mean.sum() > 0 else np.full(len(mean), 1 / len(mean))
            order = np.argsort(-share)[:top]
            out.append([(str(names[c]), float(share[c])) for c in order])
        return out

    def predict_steps(self, recording) -> np.ndarray:
        """1 for the steps whose score is above ``threshold_``, else 0."""
        return (self.score_steps(recording) > self.threshold_).astype(np.int64)

    def events(self, recording, *, min_gap: int | None = None) -> list[Event]:
        """The flagged stretches of ``recording``; stretches less than ``min_gap`` steps apart
        (default: half a window) are one event."""
        return self.events_of_scores(self.score_steps(recording), min_gap=min_gap)

    def events_of_scores(self, scores, *, min_gap: int | None = None) -> list[Event]:
        """:meth:`events` from step scores already computed (by :meth:`score_steps` or a stream)."""
        self._check_fitted()
        return events_from_scores(scores, self.threshold_, self.window_ // 2 if min_gap is None else min_gap)

    def evaluate(self, recording, labels=None) -> dict:
        """Point-wise, range-aware (VUS with buffers up to one window) and event metrics of the
        step scores against ``labels`` (a Recording's own when not given)."""
        if labels is None:
            labels = getattr(recording, "labels", None)
            if labels is None or is_frame(recording):
                raise InvalidInputError("evaluate needs labels (one 0 / 1 per step) or a labelled Recording")
        return recording_metrics(labels, self.score_steps(recording), self.threshold_, self.window_)

    def stream(self):
        """A :class:`~hourglass.detection.series_stream.SeriesStream` that scores a recording chunk
        by chunk (bounded memory) with the result of :meth:`score_steps` on the whole."""
        from hourglass.detection.series_stream import SeriesStream

        self._check_fitted()
        return SeriesStream(self)

    def fitted_detector(self, action: str = "using it") -> Detector:
        """The window detector (for :func:`hourglass.export_onnx` and the like)."""
        self._check_fitted()
        return self.detector_

    # -- saved state -------------------------------------------------------------------------
    def to_saved(self) -> SavedState:
        self._check_fitted()
        inner = self.detector_.to_saved()
        meta = {
            "kind": "series",
            "series": {
                "window": self.window_,
                "stride": self.stride_,
                "n_channels": self.n_channels_,
                "channel_names": self.channel_names,
                "threshold": self.threshold.to_dict(),
                "threshold_value": self.threshold_,
                "settings": {
                    k: getattr(self, k)
                    for k in ("min_window", "epochs", "batch_size", "lr", "trim", "score", "score_by", "calibration")
                }
                | {"neighbors": self._n_neighbors(), "nearest": self._nearest()},
                "random_state": self.random_state,
            },
            "window_detector": inner.meta,
        }
        arrays = {
            "center": float64_array(self.center_),
            "scale": float64_array(self.scale_),
            "calibration_scores": float64_array(self.calibration_scores_),
            "channel_scale": float64_array(self.channel_scale_),
            **prefixed(inner.arrays, "window_detector/"),
        }
        return SavedState(meta=meta, weights=inner.weights, arrays=arrays)

    @classmethod
    def from_saved(cls, state: SavedState, device="cpu") -> SeriesDetector:
        s = state.meta["series"]
        inner = SavedState(state.meta["window_detector"], state.weights, under(state.arrays, "window_detector/"))
        det = Detector.from_saved(inner, device)
        # folders before 0.2 scored by the error; before nearest, by the mean of the neighbours alone
        settings = {"neighbors": None, "nearest": False, **s["settings"]}
        sd = cls(window=int(s["window"]), stride=int(s["stride"]), **settings, random_state=s["random_state"])
        sd.model = det.model.name
        sd.threshold = threshold_from_dict(s["threshold"])
        sd.threshold_ = float(s["threshold_value"])
        sd.window_, sd.stride_, sd.n_channels_ = int(s["window"]), int(s["stride"]), int(s["n_channels"])
        sd.channel_names = s.get("channel_names")
        sd.center_ = state.arrays["center"].astype(np.float32)
        sd.scale_ = state.arrays["scale"].astype(np.float32)
        sd.calibration_scores_ = state.arrays["calibration_scores"]
        # folders before score_channels: each channel's error unscaled
        sd.channel_scale_ = state.arrays.get("channel_scale", np.ones(sd.n_channels_))
        sd.detector_ = det
        if tuple(det.model.input_shape) != (sd.n_channels_, sd.window_):
            raise ValueError(
                f"a series detector of windows {(sd.n_channels_, sd.window_)} with a model for {det.model.input_shape}"
            )
        return sd

    def __repr__(self) -> str:
        fitted = f", window_={self.window_}" if hasattr(self, "window_") else ""
        model = self.model if isinstance(self.model, str) else self.model.name
        return f"SeriesDetector(window={self.window!r}, model={model!r}{fitted})"

    def _repr_html_(self) -> str:
        if not hasattr(self, "detector_"):
            return display.card("SeriesDetector", f"<p>{display.escape(repr(self))}: not fitted (call fit)</p>")
        rows = [
            ("model", self.detector_.model.name),
            ("window", self.window_),
            ("stride", self.stride_),
            ("channels", self.n_channels_),
            ("window score", self.detector_.score),
            ("threshold", repr(self.threshold)),
            ("threshold value", self.threshold_),
            ("held-out steps", len(self.calibration_scores_)),
        ]
        return display.card("SeriesDetector", display.table(rows, ["", ""]))


def _as_steps(x, name: str, allow_empty: bool = False) -> np.ndarray:
    arr = np.asarray(x)
    if allow_empty and arr.size == 0 and arr.ndim in (1, 2):
        return arr.reshape(0, arr.shape[1] if arr.ndim == 2 else 1).astype(np.float32)
    if arr.dtype.kind not in "biuf":
        raise InvalidInputError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim == 2 and not arr.size:
        raise InvalidInputError(f"{name} is empty (shape {arr.shape}); expected at least one window of steps")
    if arr.ndim != 2:
        raise InvalidInputError(
            f"{name} must be (time,) or (time, channels) with rows as time steps, got shape {arr.shape}"
        )
    arr = arr.astype(np.float32, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        step, channel = (int(v) for v in np.argwhere(bad)[0])
        raise InvalidInputError(
            f"{name} holds {int(bad.sum())} NaN / inf values, first at time step {step} (channel {channel}); "
            "impute or cut them out first"
        )
    return arr


def _robust_center_scale(steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per channel: the median, and the interquartile range over 1.349 (the standard deviation of
    normal data), falling back to the standard deviation, then 1, for a flat channel."""
    center = np.median(steps, axis=0)
    q75, q25 = np.percentile(steps, [75, 25], axis=0)
    spread = (q75 - q25) / 1.349
    std = steps.std(axis=0)
    scale = np.where(spread > 1e-8, spread, np.where(std > 1e-8, std, 1.0))
    return center.astype(np.float32), scale.astype(np.float32)
