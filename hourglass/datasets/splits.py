"""Splits for anomaly detection: turn a labelled data set into a one-class problem."""

from __future__ import annotations

import numpy as np

from hourglass.datasets.base import Dataset
from hourglass.errors import InvalidInputError


def one_vs_rest(ds: Dataset, normal) -> Dataset:
    """The one-class split of image anomaly detection: train on the ``normal`` classes only,
    test on every test sample labelled 1 (anomaly: any other class) or 0 (normal).

    Parameters
    ----------
    ds : Dataset
        A labelled data set, e.g. ``hg.datasets.load("mnist")``.
    normal : int or sequence of int
        The label(s) that count as normal.

    Returns
    -------
    Dataset
        ``x_train``: the normal training samples (``y_train`` all 0); ``x_test``: all test samples,
        ``y_test`` 1 for anomalies; ``is_anomaly(y)`` is the identity on these labels.

    Examples
    --------
    >>> import hourglass as hg
    >>> ones = hg.datasets.one_vs_rest(hg.datasets.load("mnist"), normal=[1])
    >>> len(ones.x_train), int((ones.y_test == 0).sum()), int(ones.y_test.sum())
    (6742, 1135, 8865)
    """
    if not isinstance(ds, Dataset):
        raise InvalidInputError(f"one_vs_rest takes an hourglass Dataset, got {type(ds).__name__}")
    classes = np.atleast_1d(np.asarray(normal))
    if classes.size == 0 or classes.dtype.kind not in "iu":
        raise InvalidInputError(f"normal must be one or more integer labels, got {normal!r}")
    present = np.unique(np.concatenate([ds.y_train, ds.y_test]))
    missing = sorted(set(classes.tolist()) - set(present.tolist()))
    if missing:
        raise InvalidInputError(
            f"normal label(s) {missing} do not occur in {ds.name}; its labels are {present.tolist()}"
        )
    train_normal = np.isin(ds.y_train, classes)
    y_test = np.isin(ds.y_test, classes, invert=True).astype(np.int64)
    if not train_normal.any():
        raise InvalidInputError(f"{ds.name} has no training samples of the normal label(s) {classes.tolist()}")
    if y_test.all() or not y_test.any():
        raise InvalidInputError(
            f"with normal={classes.tolist()} the test set of {ds.name} holds only one class; "
            "a one-class evaluation needs both normal and anomalous test samples"
        )
    names = [ds.label_name(c) for c in classes.tolist()]
    return Dataset(
        name=f"{ds.name}/one-vs-rest({','.join(map(str, classes.tolist()))})",
        x_train=ds.x_train[train_normal],
        y_train=np.zeros(int(train_normal.sum()), dtype=np.int64),
        x_test=ds.x_test,
        y_test=y_test,
        normal_labels=(0,),
        class_names=("normal", "anomaly"),
        info={**ds.info, "source": ds.name, "normal_labels": classes.tolist(), "normal_names": names},
    )
