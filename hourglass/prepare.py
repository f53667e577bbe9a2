"""Preparing users' data for training and scoring: the glue the CLI, the recipes and the
scikit-learn estimators share, written once.

- :func:`is_anomaly`: labels from a file or a data set -> 1 (anomaly) / 0 (normal).
- :func:`class_labels`: a label column -> integer classes (whole floats accepted).
- :func:`binary_labels`: check labels that must already be 0 / 1.
- :func:`split_rows`: held-out rows (validation, calibration) from one random permutation.
- :func:`make_scaler`: a scaler by name (``"standard"``, ``"robust"``, ``"minmax"``, ``"minmax-global"``,
  ``"none"``), from the scaler registry.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hourglass.errors import InvalidInputError
from hourglass.transforms.scalers import create_scaler, list_scalers

NO_SCALER = "none"


def scaler_names() -> list[str]:
    """What :func:`make_scaler` accepts: the registered scalers and ``"none"``."""
    return [NO_SCALER, *list_scalers()]


def make_scaler(name: str | None):
    """A new, unfitted scaler by name; ``None`` or ``"none"`` for no scaling."""
    if name is None or name == NO_SCALER:
        return None
    return create_scaler(name)


def is_anomaly(
    labels, normal=None, *, name: str = "labels", strict: bool = True, how: str = "name the normal label(s)"
) -> np.ndarray | None:
    """Labels -> 1 for anomalies, 0 for normal rows (``None`` stays ``None``).

    Parameters
    ----------
    labels : array-like
        A label per row: classes (numbers or strings), or 0 / 1 already.
    normal : value or sequence of values, optional
        The label(s) of normal rows; every other label is an anomaly. A value given as text
        (from the command line) is compared as a number when the labels are numbers.
    name : str
        What the labels are called in errors (``"label column 'y'"``).
    strict : bool
        Without ``normal``, labels other than 0 / 1 are an error (True), or give ``None`` (False:
        the caller has no anomaly labels, e.g. a recipe reports no metrics).
    how : str
        The error's advice on naming the normal labels, in the caller's terms.

    Examples
    --------
    >>> is_anomaly([1, 2, 1, 5], normal=1).tolist()
    [0, 1, 0, 1]
    >>> is_anomaly(["ok", "bad"], normal="ok").tolist()
    [0, 1]
    """
    if labels is None:
        return None
    y = np.asarray(labels).ravel()
    if normal is not None:
        values = list(normal) if isinstance(normal, (list, tuple, np.ndarray)) else [normal]
        if y.dtype.kind in "USO":
            return np.isin(y.astype(str), [str(v) for v in values], invert=True).astype(np.int64)
        try:
            values = [float(v) for v in values]
        except (TypeError, ValueError):
            raise InvalidInputError(f"{name} holds numbers; the normal label {normal!r} is not one") from None
        return np.isin(y, values, invert=True).astype(np.int64)
    if y.dtype.kind in "biuf" and np.isin(y, (0, 1)).all():
        return y.astype(np.int64)
    if not strict:
        return None
    shown = sorted(map(str, np.unique(y).tolist()))[:10]
    raise InvalidInputError(f"{name} holds {shown}; labels must be 1 (anomaly) / 0 (normal), or {how}")


def binary_labels(y, n: int | None = None, *, name: str = "y") -> np.ndarray:
    """``y`` checked to hold only 1 (anomaly) and 0 (normal), one per sample when ``n`` is given."""
    y = np.asarray(y).ravel()
    if n is not None and len(y) != n:
        raise InvalidInputError(f"{name} has {len(y)} labels for {n} samples")
    if not np.isin(y, (0, 1)).all():
        raise InvalidInputError(
            f"{name}: labels must be 1 (anomaly) or 0 (normal); map your classes first, e.g. dataset.is_anomaly(y)"
        )
    return y.astype(np.int64)


def class_labels(y, *, name: str = "labels") -> np.ndarray:
    """Integer classes from a label array: integers as they are, whole floats (``3.0``, as a CSV
    reader gives) converted; anything else is an error naming ``name``."""
    arr = np.asarray(y)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iub":
        raise InvalidInputError(f"{name} must hold integer classes, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def split_rows(n: int, sizes: Sequence[int], rng) -> list[np.ndarray]:
    """One random permutation of ``n`` row indices cut into parts of ``sizes`` rows, then the rest:
    ``held, rest = split_rows(n, [k], rng)``. ``rng`` is a ``np.random.Generator`` or
    ``RandomState`` (anything with ``permutation``), so callers keep their own random streams."""
    order = rng.permutation(n)
    parts, start = [], 0
    for size in sizes:
        parts.append(order[start : start + size])
        start += size
    return [*parts, order[start:]]
