"""Class labels for conditional models (a CVAE encodes and decodes with a class per sample)."""

from __future__ import annotations

import numpy as np

from hourglass.errors import InvalidInputError
from hourglass.prepare import class_labels


def check_labels(model, labels, n: int, name: str = "labels") -> np.ndarray | None:
    """Class labels for a conditional model: integers in ``[0, n_classes)``, one per sample (a
    single class is repeated). ``None`` for an unconditional model, which refuses labels."""
    if not model.conditional:
        if labels is not None:
            raise InvalidInputError(f"the {model.name!r} model is not conditional; call it without {name}")
        return None
    n_classes = model.config.n_classes
    if labels is None:
        raise InvalidInputError(
            f"the conditional {model.name!r} model needs {name}: one class per sample, integers in [0, {n_classes})"
        )
    arr = np.asarray(labels)
    if arr.ndim == 0:
        arr = np.full(n, arr)
    if arr.ndim != 1 or len(arr) != n:
        raise InvalidInputError(f"{name} must hold one class per sample ({n}), got shape {np.shape(labels)}")
    try:
        arr = class_labels(arr, name=name)
    except InvalidInputError:
        raise InvalidInputError(f"{name} must be integers in [0, {n_classes}), got dtype {arr.dtype}") from None
    bad = (arr < 0) | (arr >= n_classes)
    if bad.any():
        raise InvalidInputError(
            f"{name} must lie in [0, {n_classes}) for this model (n_classes={n_classes}); "
            f"got {arr[bad][0]} at position {int(np.argmax(bad))}"
        )
    return arr
