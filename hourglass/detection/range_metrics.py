"""Metrics for scores of a long recording, one per time step: point-wise, range-aware, by event.

A recording's anomalies are stretches of consecutive steps, and a detector's score rises a little
before or after them (a window that covers an anomaly scores high everywhere it reaches).
Point-wise AUROC / AUPRC count every step alone; the range-aware **VUS-ROC / VUS-PR** (Volume
Under the Surface: Paparrizos et al., VLDB 2022, the measure of the TSB-UAD and TSB-AD
benchmarks) give partial credit to steps just outside a labelled stretch, rewarding a detector that
finds each stretch, and average that over buffer lengths 0 .. ``window``; event metrics count
stretches found and flagged stretches that are true.

Written from the published definition and checked against the values of the TSB-AD package's
metric code (``benchmarks/recordings.py --check-vus``). For every buffer length ``w`` (0 ..
``window``) each labelled stretch ``[s, e]`` gets soft labels ``sqrt(1 - d / w)`` at distance
``d <= w // 2`` before and after it (overlaps capped at 1), and at each of ``thresholds`` score
levels (the sorted scores at evenly spaced ranks; a step is flagged when its score is at least the
level):

- ``TP`` = the soft labels of the flagged steps; ``P'`` = (labelled steps + labelled steps + the
  soft labels of the flagged buffer steps) / 2;
- ``TPR`` = min(TP / P', 1) x the share of (buffer-extended, merged) stretches with a flagged step;
- ``FPR`` = (flagged steps - TP) / (steps - P'); ``precision`` = TP / flagged steps;

the ROC area (from (0, 0) to (1, 1), trapezoids) and the PR area (precision times the TPR
increments) at ``w``, averaged over the ``window + 1`` buffer lengths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hourglass.detection.metrics import Metrics
from hourglass.errors import InvalidInputError
from hourglass.prepare import binary_labels
from hourglass.validation import check_positive_int


def _labels_and_scores(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise InvalidInputError(f"scores must be 1-D, one per time step; got shape {scores.shape}")
    if not np.isfinite(scores).all():
        raise InvalidInputError(f"scores hold NaN / inf, first at step {int(np.flatnonzero(~np.isfinite(scores))[0])}")
    return binary_labels(labels, len(scores), name="labels"), scores


def label_stretches(labels) -> np.ndarray:
    """The labelled stretches as an ``(n, 2)`` array of ``[start, end]`` (``end`` inclusive)."""
    y = np.asarray(labels).astype(bool).view(np.int8)
    edges = np.diff(np.concatenate([[0], y, [0]]))
    return np.stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1], axis=1)


def _merged(stretches: np.ndarray, half: int, n: int) -> np.ndarray:
    """``stretches`` widened by ``half`` steps each side (clipped to the recording), those that
    then touch or overlap merged."""
    if half == 0:
        return stretches
    separate = stretches[:-1, 1] + half < stretches[1:, 0] - half
    starts = np.concatenate([[stretches[0, 0]], stretches[1:, 0][separate]]) - half
    ends = np.concatenate([stretches[:-1, 1][separate], [stretches[-1, 1]]]) + half
    return np.stack([np.maximum(starts, 0), np.minimum(ends, n - 1)], axis=1)


def _soft_labels(y: np.ndarray, stretches: np.ndarray, w: int) -> np.ndarray:
    """1 on the labelled steps, ``sqrt(1 - d / w)`` at distance ``d`` up to ``w // 2`` outside."""
    soft = y.astype(np.float64)
    half, n = w // 2, len(y)
    if half == 0:
        return soft
    d = np.arange(1, half + 1)
    for s, e in stretches:  # one pass per stretch, vectorised inside: stretches are few
        after = e + d
        keep = after < n
        soft[after[keep]] += np.sqrt(1.0 - d[keep] / w)
        before = s - d
        keep = before >= 0
        soft[before[keep]] += np.sqrt(1.0 - d[keep] / w)
    return np.minimum(soft, 1.0)


def _first_level(scores: np.ndarray, thresholds: int) -> np.ndarray:
    """Per step, the index of the first of the ``thresholds`` levels (highest first) it reaches;
    ``thresholds`` when it reaches none. A step is flagged at level ``t`` iff its index <= t."""
    desc = -np.sort(-scores)
    levels = desc[np.linspace(0, len(scores) - 1, thresholds).astype(int)]
    return np.searchsorted(-levels, -scores, side="left")


def _at_levels(values: np.ndarray, first: np.ndarray, thresholds: int) -> np.ndarray:
    """For each level t, the sum of ``values`` over the steps flagged at t."""
    return np.cumsum(np.bincount(first, weights=values, minlength=thresholds + 1)[:thresholds])


@dataclass
class _Ranked:
    """What every buffer length shares: the labels, their stretches, each step's first level."""

    y: np.ndarray
    stretches: np.ndarray
    first: np.ndarray
    flagged: np.ndarray  # steps flagged at each level
    flagged_labelled: np.ndarray  # labelled steps flagged at each level
    thresholds: int


def _ranked(labels, scores, thresholds: int) -> _Ranked:
    y, scores = _labels_and_scores(labels, scores)
    stretches, n = label_stretches(y), len(y)
    if not len(stretches) or len(stretches) == 1 and stretches[0, 1] - stretches[0, 0] + 1 == n:
        raise InvalidInputError("range-aware curves need both labelled (1) and unlabelled (0) steps")
    first = _first_level(scores, thresholds)
    flagged = _at_levels(np.ones(n), first, thresholds)
    return _Ranked(y, stretches, first, flagged, _at_levels(y.astype(np.float64), first, thresholds), thresholds)


def _curves(r: _Ranked, w: int) -> dict[str, np.ndarray]:
    n, p = len(r.y), float(r.y.sum())
    tp = _at_levels(_soft_labels(r.y, r.stretches, w), r.first, r.thresholds)
    p_new = (p + p + (tp - r.flagged_labelled)) / 2.0
    extended = _merged(r.stretches, w // 2, n)
    found_at = np.cumsum(np.bincount(_first_level_in(r.first, extended), minlength=r.thresholds + 1)[: r.thresholds])
    tpr = np.minimum(tp / p_new, 1.0) * found_at / len(extended)
    fpr = (r.flagged - tp) / (n - p_new)
    return {"tpr": tpr, "fpr": fpr, "precision": tp / r.flagged}


def range_curves(labels, scores, w: int, thresholds: int = 250) -> dict[str, np.ndarray]:
    """TPR, FPR and precision at each score level for the buffer length ``w`` (see the module)."""
    return _curves(_ranked(labels, scores, thresholds), w)


def _first_level_in(first: np.ndarray, stretches: np.ndarray) -> np.ndarray:
    """The first level at which each stretch ``[a, b]`` has a flagged step: the least ``first``
    over it (one ``reduceat`` over the stretches' bounds; the gaps between them are dropped)."""
    bounds = np.stack([stretches[:, 0], stretches[:, 1] + 1], axis=1).ravel()
    padded = np.append(first, first.max() + 1)  # an end bound may be the recording's length
    return np.minimum.reduceat(padded, bounds)[::2]


def _areas(c: dict[str, np.ndarray]) -> tuple[float, float]:
    tpr = np.concatenate([[0.0], c["tpr"], [1.0]])
    fpr = np.concatenate([[0.0], c["fpr"], [1.0]])
    roc = float(np.dot(np.diff(fpr), (tpr[1:] + tpr[:-1]) / 2))
    pr = float(np.dot(np.diff(tpr[:-1]), c["precision"]))
    return roc, pr


def range_auc(labels, scores, w: int, thresholds: int = 250) -> tuple[float, float]:
    """The range-aware ROC and PR areas at one buffer length ``w``."""
    return _areas(range_curves(labels, scores, w, thresholds))


def vus(labels, scores, window: int, thresholds: int = 250) -> dict[str, float]:
    """VUS-ROC and VUS-PR: the range-aware areas averaged over buffer lengths 0 .. ``window``
    (TSB-AD passes the recording's period; :func:`hourglass.find_period`). NaN without both a
    labelled and an unlabelled step.

    Examples
    --------
    >>> import numpy as np, hourglass as hg
    >>> labels = np.zeros(1000, int); labels[500:520] = 1
    >>> scores = np.exp(-0.5 * ((np.arange(1000) - 510) / 30.0) ** 2)   # a bump around the stretch
    >>> m = hg.vus(labels, scores, window=50)
    >>> m["vus_roc"] > 0.95 and m["vus_pr"] > 0.5
    True
    """
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 0:
        raise InvalidInputError(f"window must be an integer >= 0 (the longest buffer), got {window!r}")
    thresholds = check_positive_int(thresholds, "thresholds")
    y, scores = _labels_and_scores(labels, scores)
    if y.min() == y.max():
        return {"vus_roc": math.nan, "vus_pr": math.nan}
    ranked = _ranked(y, scores, thresholds)  # sorted once for every buffer length
    areas = np.array([_areas(_curves(ranked, w)) for w in range(window + 1)])
    return {"vus_roc": float(areas[:, 0].mean()), "vus_pr": float(areas[:, 1].mean())}


def event_metrics(labels, flags) -> dict[str, float]:
    """Event-level precision and recall: recall = the share of labelled stretches with at least one
    flagged step; precision = the share of flagged stretches that touch a labelled stretch."""
    y = binary_labels(labels, len(np.asarray(labels)), name="labels")
    f = binary_labels(flags, len(y), name="flags")
    truth, found = label_stretches(y), label_stretches(f)
    cy, cf = np.concatenate([[0], np.cumsum(f)]), np.concatenate([[0], np.cumsum(y)])
    hit = (cy[truth[:, 1] + 1] - cy[truth[:, 0]]) > 0
    true_flags = (cf[found[:, 1] + 1] - cf[found[:, 0]]) > 0
    recall = float(hit.mean()) if len(truth) else math.nan
    precision = float(true_flags.mean()) if len(found) else math.nan
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {
        "event_precision": precision,
        "event_recall": recall,
        "event_f1": float(f1),
        "events_labelled": len(truth),
        "events_flagged": len(found),
    }


def point_adjusted_f1(labels, flags) -> float:
    """Point-adjusted F1: every step of a labelled stretch counts as found once any of its steps is
    flagged. It rewards one lucky step per stretch (a random detector can score high), so it is
    reported only under this name, next to the unadjusted figures."""
    from sklearn.metrics import f1_score

    y = binary_labels(labels, len(np.asarray(labels)), name="labels")
    f = binary_labels(flags, len(y), name="flags").copy()
    cs = np.concatenate([[0], np.cumsum(f)])
    for s, e in label_stretches(y):
        if cs[e + 1] > cs[s]:
            f[s : e + 1] = 1
    return float(f1_score(y, f, zero_division=0))


def recording_metrics(labels, scores, threshold: float, window: int) -> Metrics:
    """Everything for one recording: point-wise (accuracy, precision, recall, F1 at ``threshold``,
    AUROC, AUPRC), range-aware (VUS-ROC, VUS-PR with buffers up to ``window``), by event, and the
    point-adjusted F1 under its own name."""
    from hourglass.detection.metrics import detection_metrics

    y, scores = _labels_and_scores(labels, scores)
    out = detection_metrics(y, scores, threshold)
    flags = (scores > threshold).astype(np.int64)
    out.update(vus(y, scores, window))
    out.update(event_metrics(y, flags))
    out["point_adjusted_f1"] = point_adjusted_f1(y, flags)
    out["window"] = int(window)
    return out
