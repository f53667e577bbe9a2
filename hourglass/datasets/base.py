"""The :class:`Dataset` every loader returns, and the registry loaders join by name."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hourglass.errors import DatasetNotFoundError, InvalidInputError
from hourglass.registry import Registry

# name -> loader(**fetch_kw, **options) -> Dataset; a loader module registers with
# ``@register_dataset(NAME)`` and is imported by hourglass/datasets/__init__.py.
DATASETS: Registry = Registry("data set", error=DatasetNotFoundError)
register_dataset = DATASETS.decorator


def label_name(class_names, label) -> str:
    """The name of ``label``: ``class_names`` is a dict, a sequence indexed by label, or None;
    a label it does not name is shown as itself."""
    label = label.item() if isinstance(label, np.generic) else label
    if isinstance(class_names, dict):
        return str(class_names.get(label, label))
    if class_names is not None and isinstance(label, int) and 0 <= label < len(class_names):
        return str(class_names[label])
    return str(label)


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
    class_names : tuple of str, or dict
        Human-readable label names, where known: indexed by label, or a dict label -> name where
        the labels do not count from 0 (ECG5000's classes are 1-5). See :func:`label_name`.
    info : dict
        Provenance: source files, protocol, scaling applied.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    normal_labels: tuple[int, ...] | None = None
    class_names: tuple[str, ...] | dict = ()
    info: dict = field(default_factory=dict)

    def label_name(self, label) -> str:
        return label_name(self.class_names, label)

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
            f"{type(self).__name__}({self.name!r}, x_train={self.x_train.shape}, x_test={self.x_test.shape}, "
            f"normal_labels={self.normal_labels})"
        )
