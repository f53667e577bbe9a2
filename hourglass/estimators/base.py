"""What the scikit-learn estimators share: validation, scaling, the models they train (one by one or
as one DenseEnsemble) through the detection pipeline, and their tabular architecture."""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from hourglass.detection.pipeline import Pipeline
from hourglass.errors import InvalidInputError
from hourglass.models.registry import create_model, model_class
from hourglass.models.vae import VariationalAutoencoder
from hourglass.prepare import make_scaler
from hourglass.progress import check_progress
from hourglass.training import FitOptions
from hourglass.validation import check_finite, check_fraction, check_positive_int, is_frame


def member_features(n_features: int, n_members: int, fraction: float, rng) -> np.ndarray | None:
    """(members, features) 0 / 1: each member sees ``fraction`` of the features (at least 2, or
    all), drawn at random; a feature no member drew goes to the member that sees fewest. None when
    every member sees every feature."""
    k = min(n_features, max(2, int(round(fraction * n_features))))
    if k >= n_features:
        return None
    mask = np.zeros((n_members, n_features), dtype=np.float32)
    for member in range(n_members):
        mask[member, rng.choice(n_features, k, replace=False)] = 1
    for feature in np.flatnonzero(mask.sum(0) == 0):
        mask[int(np.argmin(mask.sum(1))), feature] = 1
    return mask


def member_scaling(x: np.ndarray, n_members: int, names) -> tuple[np.ndarray, np.ndarray] | None:
    """Each member's own scaling of the (already scaled) training rows ``x``: member k takes
    ``names[k % len(names)]`` (a scaler name, fitted on ``x``), as (shift, scale) arrays of shape
    (members, features). None: every member sees ``x`` as it is."""
    if names is None:
        return None
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise InvalidInputError("member_scalers must name at least one scaler (or be None)")
    fitted = {}
    for name in set(names):
        scaler = make_scaler(name)
        if scaler is None:
            fitted[name] = (np.zeros(x.shape[1], np.float32), np.ones(x.shape[1], np.float32))
        else:
            offset, span = scaler.fit(x).offset_and_span()
            fitted[name] = (np.broadcast_to(offset, x.shape[1:]), np.broadcast_to(span, x.shape[1:]))
    shift = np.stack([fitted[names[k % len(names)]][0] for k in range(n_members)])
    scale = np.stack([fitted[names[k % len(names)]][1] for k in range(n_members)])
    return shift.astype(np.float32), scale.astype(np.float32)


def tabular_architecture(n_features: int, member: int = 0) -> dict:
    """The default ``stacked`` models for ``n_features`` columns; ensemble members alternate
    between two shapes of the same depth (so that they train together as one DenseEnsemble) that
    fail on different anomalies.

    Even members are narrow: two hidden layers of about half the width and a code of about a
    quarter (at least 2). They cannot copy their input, so they learn the structure most rows
    share and fail on rows that break it. Odd members are wide (64 -> 32 -> code 32, PyOD's default
    size): they reproduce rows inside the range they were trained on and fail on values unlike
    any seen. Chosen by ``benchmarks/adbench_defaults.py`` (candidates on one half of the 20
    ADBench sets, confirmed on the other).
    """
    if member % 2:
        return {"hidden": (64, 32), "latent_dim": 32}
    latent = max(2, math.ceil(n_features / 4))
    hidden = max(latent + 1, math.ceil(n_features / 2))
    return {"hidden": (hidden, hidden), "latent_dim": latent}


# below this many training rows a fit warns (and keeps no validation rows for early stopping)
MIN_ROWS = 20


class AutoencoderBase(BaseEstimator):
    """Shared by the detector and the transformer: build, scale, split and train."""

    def __init__(
        self,
        model="auto",
        *,
        hidden=None,
        latent_dim=None,
        model_options=None,
        epochs=100,
        batch_size=64,
        lr=1e-3,
        weight_decay=0.0,
        loss=None,
        corruption=None,
        trim=0.0,
        scaler="standard",
        validation_fraction=0.1,
        patience=10,
        min_steps=None,
        device="auto",
        random_state=None,
        progress="auto",
        threads="auto",
        verbose=None,
    ):
        self.model = model
        self.hidden = hidden
        self.latent_dim = latent_dim
        self.model_options = model_options
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.loss = loss
        self.corruption = corruption
        self.trim = trim
        self.scaler = scaler
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.min_steps = min_steps
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.verbose = verbose
        self.threads = threads

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags

    # -- building ------------------------------------------------------------------------
    def _model_kwargs(self, n_features: int, member: int = 0) -> tuple[str, dict]:
        name = self.model
        if not isinstance(name, str):
            raise InvalidInputError(f"model must be a registered model name such as 'auto' or 'stacked', got {name!r}")
        kwargs = dict(self.model_options or {})
        if name == "auto":
            name = "stacked"
            kwargs = {**tabular_architecture(n_features, member), **kwargs}
        if self.hidden is not None:
            kwargs["hidden"] = tuple(self.hidden)
        if self.latent_dim is not None:
            kwargs["latent_dim"] = self.latent_dim
        # A sigmoid output suits data scaled to [0, 1]; standardised or raw data is not.
        in_unit_range = self.scaler in ("minmax", "minmax-global")
        if issubclass(model_class(name), VariationalAutoencoder):
            # Scaled columns are real values (new rows may leave the training range): a Gaussian
            # likelihood, with a learnt std per column.
            kwargs.setdefault("likelihood", "gaussian")
        else:
            kwargs.setdefault("output_activation", "sigmoid" if in_unit_range else "none")
        return name, kwargs

    def _check_params(self) -> FitOptions:
        """Check the parameters; the training ones (those named as ``hg.fit``'s options) become
        the run's FitOptions."""
        check_positive_int(self.patience, "patience")
        if self.min_steps is not None:
            check_positive_int(self.min_steps, "min_steps")
        check_fraction(self.validation_fraction, "validation_fraction", low_open=False)
        # ``verbose`` is the old spelling of ``progress`` (0.1); given, it still decides
        progress = check_progress(self.progress) if self.verbose is None else bool(self.verbose)
        return FitOptions.from_mapping(
            self.get_params(), early_stopping=self.patience, restore_best=True, progress=progress
        )

    def _budget(self, options: FitOptions, rows: int) -> FitOptions:
        """``epochs`` raised where ``rows`` (a model's training rows) make so few batches that
        ``epochs`` of them fall short of ``min_steps`` optimizer steps; not where the user set
        ``epochs`` and left ``min_steps`` at its default (a default never overrides an option the
        user set). Records the batches per epoch for ``n_steps_``."""
        self._batches_per_epoch = math.ceil(rows / min(options.batch_size, rows))
        if self.min_steps is None or (self._user_set("epochs") and not self._user_set("min_steps")):
            return options
        return options.replace(epochs=max(options.epochs, math.ceil(self.min_steps / self._batches_per_epoch)))

    def _user_set(self, name: str) -> bool:
        """Whether parameter ``name`` differs from this class's default (scikit-learn's test for
        a changed parameter: a default passed explicitly counts as left alone)."""
        default = inspect.signature(type(self).__init__).parameters[name].default
        value = getattr(self, name)
        return not (value is default or (type(value) is type(default) and value == default))

    def _record_run(self, histories) -> None:
        """``n_epochs_`` (the longest run of any model or member) and ``n_steps_`` (its optimizer
        steps): what ran, after early stopping and the ``min_steps`` budget."""
        runs = [m.epochs for h in histories for m in (h.members or [h])]
        self.n_epochs_ = max(runs, default=0)
        self.n_steps_ = self.n_epochs_ * getattr(self, "_batches_per_epoch", 1)

    def _train(self, X: np.ndarray, held_out: int = 0, n_models: int = 1):
        """Scale, split (validation for early stopping; ``held_out`` rows kept out of training
        altogether), train ``n_models`` models on the same split from different seeds. Sets
        ``models_``, ``model_`` (the first), ``scaler_``, ``history_`` (the first model's);
        returns the indices of the training and the held-out rows."""
        options = self._check_params()
        rng = check_random_state(self.random_state)
        rest = len(X) - held_out
        if rest < MIN_ROWS:
            warnings.warn(
                f"fitting on {rest} row(s): too few for an autoencoder to learn what normal rows look like "
                f"(give it at least {MIN_ROWS}); its scores will mostly measure the distance from these rows",
                UserWarning,
                stacklevel=4,
            )
        n_val = int(round(self.validation_fraction * rest))
        if n_val < 1 or rest - n_val < 1 or rest < MIN_ROWS:
            n_val = 0  # too few rows to spare a validation set: train on all, stop on the training loss
        pipeline = self._pipeline(options)
        rows = pipeline.split(len(X), validation=n_val, held_out=held_out, rng=rng)
        self.scaler_ = scaler = pipeline.fit_scaler(X[rows.train])

        def scaled(rows):
            return X[rows] if scaler is None else scaler.transform(X[rows])

        x_train, x_val = scaled(rows.train), scaled(rows.val) if n_val else None
        options = options.replace(batch_size=min(options.batch_size, len(rows.train)))
        if n_models > 1 and self._stackable(X.shape[1]):
            self._train_together(x_train, x_val, options, n_models, rng)
            return rows.train, rows.held
        pipeline.options = self._budget(options, len(rows.train))
        seeds = [int(rng.randint(np.iinfo(np.int32).max)) for _ in range(n_models)]
        self.models_, histories = pipeline.train(self._builder(X.shape[1]), x_train, seeds, validation=x_val)
        self.model_, self.history_ = self.models_[0], histories[0]
        self._record_run(histories)
        return rows.train, rows.held

    def _pipeline(self, options: FitOptions, **detection) -> Pipeline:
        """This estimator's :class:`~hourglass.detection.pipeline.Pipeline` (``detection``: a
        detector's ``threshold`` and score options)."""
        threshold = detection.pop("threshold", None)
        return Pipeline(
            options, scaler=self.scaler, corruption=self.corruption, detection=detection, threshold=threshold
        )

    def _builder(self, n_features: int):
        """``build(k, seed)`` for the pipeline: member k of this estimator's models."""

        def build(k, seed):
            name, kwargs = self._model_kwargs(n_features, k)
            input_shape = tuple(kwargs.pop("input_shape", (n_features,)))
            if int(np.prod(input_shape)) != n_features:
                raise InvalidInputError(
                    f"model_options input_shape={input_shape} does not hold the {n_features} "
                    "features of X (flatten images to rows of channels * height * width)"
                )
            return create_model(name, input_shape=input_shape, seed=seed, **kwargs)

        return build

    def _member_config(self, n_features: int, member: int):
        """Member ``member``'s model config, defaults resolved (None for a model that is not dense)."""
        name, kwargs = self._model_kwargs(n_features, member)
        if name not in ("stacked", "dense") or len(kwargs.get("input_shape", (n_features,))) != 1:
            return None
        return model_class(name).config_class.from_dict({**kwargs, "input_shape": (n_features,)})

    def _stackable(self, n_features: int) -> bool:
        """Whether the members can train together as one DenseEnsemble: dense members of one
        depth on flat rows, without dropout (other models, e.g. a VAE, train one after another)."""
        configs = [self._member_config(n_features, k) for k in range(2)]
        return all(c is not None and not c.dropout for c in configs) and len({len(c.hidden) for c in configs}) == 1

    def _train_together(self, x_train, x_val, options: FitOptions, n_models: int, rng) -> None:
        """The members as one DenseEnsemble (hourglass.models.members): each its own sizes, rows
        (``max_samples``), features (``max_features``), seed, trimmed loss and early stopping."""
        seed = int(rng.randint(np.iinfo(np.int32).max))
        n, n_features = len(x_train), x_train.shape[1]
        configs = [self._member_config(n_features, k) for k in range(n_models)]
        if len({(len(c.hidden), c.activation, c.latent_activation, c.output_activation) for c in configs}) > 1:
            raise InvalidInputError("members trained together must share depth and activations")
        sizes = [(*c.hidden, c.latent_dim) for c in configs]
        model = create_model(
            "dense-ensemble",
            input_shape=(n_features,),
            n_members=n_models,
            member_sizes=tuple(sizes),
            hidden=tuple(max(s[i] for s in sizes) for i in range(len(sizes[0]) - 1)),
            latent_dim=max(s[-1] for s in sizes),
            activation=configs[0].activation,
            latent_activation=configs[0].latent_activation,
            output_activation=configs[0].output_activation,
            seed=seed,
        )
        features = member_features(
            n_features, n_models, check_fraction(self.max_features, "max_features", high_open=False), rng
        )
        if features is not None:
            model.set_feature_mask(features)
        scaling = member_scaling(x_train, n_models, getattr(self, "member_scalers", None))
        if scaling is not None:
            model.set_member_scaling(*scaling)
        m = int(round(check_fraction(self.max_samples, "max_samples", high_open=False) * n))
        rows = None if m >= n else np.stack([rng.choice(n, max(m, 1), replace=False) for _ in range(n_models)])
        pipeline = self._pipeline(self._budget(options, n if rows is None else rows.shape[1]))
        self.models_, histories = pipeline.train(
            lambda k, s: model, x_train, [seed], validation=x_val, member_rows=rows
        )
        self.model_, self.history_ = model, histories[0]
        self._record_run(histories)

    def _validate(self, X, reset: bool):
        """scikit-learn's checks (its messages, which its estimator checks look for), raised as
        the library's :class:`~hourglass.InvalidInputError` (a ``ValueError`` too); a frame's
        text or category columns are named first."""
        if X is None:
            raise InvalidInputError("X is None; expected an array of rows (samples x features)")
        if is_frame(X):
            text = [str(c) for c, dtype in zip(X.columns, X.dtypes) if getattr(dtype, "kind", "O") not in "biufc"]
            if text:
                raise InvalidInputError(
                    f"X has non-numeric columns {text}: encode them as numbers (e.g. one-hot) or drop them"
                )
        try:
            return validate_data(self, X, reset=reset, dtype=[np.float64, np.float32], ensure_min_samples=1)
        except InvalidInputError:
            raise
        except ValueError as exc:
            if "contains NaN" in str(exc) or "contains infinity" in str(exc):  # which row, in one line
                check_finite(np.asarray(X, dtype=np.float64), "X")
            raise InvalidInputError(str(exc)) from exc
