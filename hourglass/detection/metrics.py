"""Detection metrics, computed by scikit-learn. Anomaly (1) is the positive class."""

from __future__ import annotations

import math

import numpy as np

from hourglass.prepare import binary_labels


def detection_metrics(y_true, scores, threshold: float) -> dict:
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
    return {
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
