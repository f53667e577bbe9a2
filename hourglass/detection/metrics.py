"""Detection metrics, computed by scikit-learn. Anomaly (1) is the positive class."""

from __future__ import annotations

import math

import numpy as np

from hourglass import display
from hourglass.prepare import binary_labels


class Metrics(dict):
    """The metrics as a plain dict (JSON as it is) that shows itself as a table in a notebook."""

    def _repr_html_(self) -> str:
        rates = [(k, self[k]) for k in ("auroc", "auprc", "accuracy", "precision", "recall", "f1") if k in self]
        counts = [(k, self[k]) for k in ("threshold", "tp", "fp", "tn", "fn", "n", "anomaly_rate") if k in self]
        rest = [(k, v) for k, v in self.items() if k not in dict(rates + counts)]
        return display.card("Detection metrics", display.table(rates + counts + rest, ["metric", "value"]))

    def to_frame(self):
        """One row per metric (pandas)."""
        return display.frame({"value": list(self.values())}, index=list(self), index_name="metric")


def detection_metrics(y_true, scores, threshold: float) -> Metrics:
    """Accuracy, precision, recall, F1 at ``threshold`` and the threshold-free AUROC and AUPRC.

    ``y_true``: 1 = anomaly, 0 = normal. A sample is predicted anomalous when its score exceeds
    ``threshold``. AUROC / AUPRC are NaN when ``y_true`` holds one class only.
    """
    from sklearn import metrics

    scores = np.asarray(scores, dtype=np.float64).ravel()
    y = binary_labels(y_true, len(scores), name="y_true")
    pred = (scores > threshold).astype(np.int64)
    both = y.min() != y.max()
    tn, fp, fn, tp = metrics.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    return Metrics(
        {
            "accuracy": float(metrics.accuracy_score(y, pred)),
            "precision": float(metrics.precision_score(y, pred, zero_division=0)),
            "recall": float(metrics.recall_score(y, pred, zero_division=0)),
            "f1": float(metrics.f1_score(y, pred, zero_division=0)),
            "auroc": float(metrics.roc_auc_score(y, scores)) if both else math.nan,
            "auprc": float(metrics.average_precision_score(y, scores)) if both else math.nan,
            "threshold": float(threshold),
            "tp": int(tp),
            "fp": int(fp),
            "tn": int(tn),
            "fn": int(fn),
            "n": int(len(y)),
            "anomaly_rate": float(y.mean()),
        }
    )
