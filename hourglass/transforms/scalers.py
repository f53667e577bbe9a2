"""Scalers fitted on training data and stored with a detector, so raw inputs score correctly.

They fit and transform NumPy arrays, serialise to plain JSON (no pickle), which is why they are
not scikit-learn's scalers: those would have to be pickled to be saved with the model, and bring
their own torch form (:meth:`as_module`), which scores batches on the model's device and goes
into an exported ONNX graph. Users pick them by name: ``create_scaler("standard")``,
:func:`list_scalers`.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from hourglass.errors import InvalidInputError, NotFittedError
from hourglass.registry import Registry
from hourglass.validation import as_float_array


class _Scaler:
    #: names of the fitted arrays, saved and loaded as JSON lists
    _state: tuple[str, ...] = ()

    def __init__(self, per_feature: bool = True):
        self.per_feature = per_feature

    def _axes(self, x: np.ndarray):
        return 0 if self.per_feature else None

    def _check_fitted(self):
        if not hasattr(self, self._state[0] + "_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(x_train) first")

    def check_features(self, x: np.ndarray) -> None:
        """A clear error when samples of ``x`` do not have the shape the scaler was fitted on."""
        self._check_fitted()
        ref = getattr(self, self._state[0] + "_")
        if self.per_feature and x.shape[1:] != ref.shape:
            raise InvalidInputError(
                f"{type(self).__name__} was fitted on samples of shape {ref.shape}, got {x.shape[1:]}"
            )

    def fit_transform(self, x) -> np.ndarray:
        return self.fit(x).transform(x)

    def offset_and_span(self) -> tuple[np.ndarray, np.ndarray]:
        """The fitted map as ``(x - offset) / span`` (float32), the form :meth:`as_module` uses."""
        raise NotImplementedError

    def transform(self, x) -> np.ndarray:
        self._check_fitted()
        x = as_float_array(x)
        self.check_features(x)
        offset, span = self.offset_and_span()
        return ((x - offset) / span).astype(np.float32)

    def inverse_transform(self, x) -> np.ndarray:
        offset, span = self.offset_and_span()
        return (np.asarray(x, dtype=np.float32) * span + offset).astype(np.float32)

    def as_module(self, sample_shape) -> ScalerModule:
        """The fitted scaler as a torch module over batches of samples of ``sample_shape``: the
        same float32 arithmetic as :meth:`transform`, on any device and inside an exported graph."""
        offset, span = self.offset_and_span()
        return ScalerModule(offset, span, sample_shape)

    def to_dict(self) -> dict:
        self._check_fitted()
        out = {"type": type(self).__name__, "per_feature": self.per_feature}
        for name in self._state:
            value = np.asarray(getattr(self, name + "_"), dtype=np.float64)
            out[name] = value.tolist()
        return out

    @classmethod
    def from_dict(cls, d: dict) -> _Scaler:
        obj = cls(per_feature=bool(d["per_feature"]))
        for name in cls._state:
            setattr(obj, name + "_", np.asarray(d[name], dtype=np.float32))
        return obj

    def __repr__(self) -> str:
        return f"{type(self).__name__}(per_feature={self.per_feature})"


class MinMaxScaler(_Scaler):
    """Scale to [0, 1] with the minimum and maximum seen in ``fit``.

    Parameters
    ----------
    per_feature : bool, default True
        One min / max per feature (column, time step, pixel); False uses one global min / max, as
        the classic ECG tutorial does.

    Examples
    --------
    >>> import numpy as np
    >>> s = MinMaxScaler().fit(np.array([[0.0, 10.0], [2.0, 30.0]]))
    >>> s.transform(np.array([[1.0, 20.0]]))
    array([[0.5, 0.5]], dtype=float32)
    """

    _state = ("min", "max")

    def fit(self, x) -> MinMaxScaler:
        x = as_float_array(x)
        self.min_ = np.asarray(x.min(axis=self._axes(x)), dtype=np.float32)
        self.max_ = np.asarray(x.max(axis=self._axes(x)), dtype=np.float32)
        return self

    def offset_and_span(self):
        self._check_fitted()
        span = self.max_ - self.min_
        # A constant feature maps to 0 instead of dividing by zero.
        return self.min_, np.where(span > 0, span, 1.0).astype(np.float32)


class StandardScaler(_Scaler):
    """Centre to zero mean and scale to unit variance with statistics from ``fit``."""

    _state = ("mean", "scale")

    def fit(self, x) -> StandardScaler:
        x = as_float_array(x)
        self.mean_ = np.asarray(x.mean(axis=self._axes(x), dtype=np.float64), dtype=np.float32)
        std = np.asarray(x.std(axis=self._axes(x), dtype=np.float64), dtype=np.float32)
        self.scale_ = np.where(std > 0, std, 1.0).astype(np.float32)
        return self

    def offset_and_span(self):
        self._check_fitted()
        return self.mean_, self.scale_


class RobustScaler(_Scaler):
    """Centre on the median and scale by the interquartile range, statistics from ``fit``.

    Unsupervised training data holds anomalies; a few extreme rows move a mean and inflate a
    standard deviation, shrinking every normal row's scaled values, while the median and the
    quartiles stay where the bulk of the data is (scikit-learn's ``RobustScaler``, quartiles
    25 / 75). A feature whose quartiles coincide (mostly one value, e.g. a sparse count) is scaled
    by its standard deviation instead, and a constant one by 1, so that no feature is divided by
    zero and a rare value of a sparse feature is not blown up by a vanishing range.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0], [2.0], [3.0], [4.0], [1000.0]])
    >>> s = RobustScaler().fit(x)
    >>> s.transform(np.array([[3.0], [5.0]])).ravel().tolist()
    [0.0, 1.0]
    """

    _state = ("center", "scale")

    def fit(self, x) -> RobustScaler:
        x = as_float_array(x)
        axes = self._axes(x)
        q25, median, q75 = np.percentile(x, [25, 50, 75], axis=axes)
        iqr = np.asarray(q75 - q25)
        std = np.asarray(x.std(axis=axes, dtype=np.float64))
        scale = np.where(iqr > 0, iqr, np.where(std > 0, std, 1.0))
        self.center_ = np.asarray(median, dtype=np.float32)
        self.scale_ = np.asarray(scale, dtype=np.float32)
        return self

    def offset_and_span(self):
        self._check_fitted()
        return self.center_, self.scale_


class ScalerModule(nn.Module):
    """A fitted scaler as constants: ``forward`` scales a batch, ``inverse`` undoes it. Per-feature
    statistics fitted on flat rows are laid out in the sample's shape (an image model's scaler may
    be fitted on rows of ``C * H * W`` values)."""

    def __init__(self, offset, span, sample_shape):
        super().__init__()
        shape = tuple(int(s) for s in sample_shape)

        def laid_out(a):
            a = np.asarray(a, dtype=np.float32)
            a = a.reshape(shape) if a.size == int(np.prod(shape)) and a.ndim else np.broadcast_to(a, shape)
            return torch.tensor(np.ascontiguousarray(a))

        self.register_buffer("offset", laid_out(offset))
        self.register_buffer("span", laid_out(span))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.offset) / self.span

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.span + self.offset


SCALERS: Registry = Registry("scaler")
SCALERS.register("minmax", MinMaxScaler, aliases=("MinMaxScaler",))
SCALERS.register("minmax-global", functools.partial(MinMaxScaler, per_feature=False))
SCALERS.register("standard", StandardScaler, aliases=("StandardScaler",))
SCALERS.register("robust", RobustScaler, aliases=("RobustScaler",))


def list_scalers(pattern: str | None = None) -> list[str]:
    """Scaler names for :func:`create_scaler` (``"minmax-global"``: one min / max for all values)."""
    return SCALERS.names(pattern)


def create_scaler(name: str) -> _Scaler:
    """A new, unfitted scaler by name (or class name)."""
    return SCALERS[name]()


def scaler_from_dict(d: dict | None):
    """Rebuild a fitted scaler from :meth:`to_dict`'s description (``None`` stays ``None``)."""
    if d is None:
        return None
    try:
        cls = SCALERS[d["type"]]
        return cls.from_dict(d)
    except KeyError as exc:
        raise InvalidInputError(f"unknown scaler description {d!r}: missing {exc}") from None
