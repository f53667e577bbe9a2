"""The :class:`Dataset` every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hourglass.errors import InvalidInputError


@dataclass
class Dataset:
    """A data set split into train and test parts, as plain NumPy arrays.

    Attributes
    ----------
    name : str
        The registry name, e.g. ``"fashion-mnist"``.
    x_train, x_test : ndarray of float32
        Images ``(n, 1, 28, 28)`` in [0, 1], series ``(n, length)``, or tabular rows ``(n, d)``.
    y_train, y_test : ndarray of int
        The data set's own labels (digit, garment class, ECG class 1-5, or 1 = anomaly).
    normal_labels : tuple of int or None
        Which labels count as normal in the data set's anomaly-detection use; ``None`` when the
        data set has no such convention (the image sets: choose with a one-vs-rest split).
    class_names : tuple of str
        Human-readable label names, where known.
    info : dict
        Provenance: source files, protocol, scaling applied.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    normal_labels: tuple[int, ...] | None = None
    class_names: tuple[str, ...] = ()
    info: dict = field(default_factory=dict)

    def is_anomaly(self, y: np.ndarray) -> np.ndarray:
        """Map labels to 1 (anomaly) / 0 (normal) with the data set's normal labels."""
        if self.normal_labels is None:
            raise InvalidInputError(
                f"{self.name} has no built-in normal class; pass the labels you treat as normal "
                "yourself, e.g. np.isin(y, [1], invert=True)"
            )
        return np.isin(np.asarray(y), self.normal_labels, invert=True).astype(np.int64)

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, x_train={self.x_train.shape}, x_test={self.x_test.shape}, "
            f"normal_labels={self.normal_labels})"
        )
