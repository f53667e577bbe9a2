"""Anomaly detection: scores, thresholds, the Detector and its metrics."""

from hourglass.detection.base import BaseDetector, Explanation
from hourglass.detection.detector import Detector
from hourglass.detection.ensemble import DetectorEnsemble
from hourglass.detection.metrics import detection_metrics
from hourglass.detection.range_metrics import event_metrics, point_adjusted_f1, recording_metrics, vus
from hourglass.detection.scorer import EnsembleScorer, Scorer
from hourglass.detection.series import Event, SeriesDetector
from hourglass.detection.series_stream import SeriesStream
from hourglass.detection.thresholds import (
    BestF1,
    Contamination,
    FixedFPR,
    MeanStd,
    Percentile,
    Threshold,
    create_threshold,
    list_thresholds,
    register_threshold,
)

__all__ = [
    "BaseDetector",
    "BestF1",
    "Contamination",
    "Detector",
    "EnsembleScorer",
    "Scorer",
    "create_threshold",
    "list_thresholds",
    "register_threshold",
    "DetectorEnsemble",
    "Explanation",
    "FixedFPR",
    "MeanStd",
    "Percentile",
    "Threshold",
    "detection_metrics",
    "Event",
    "SeriesDetector",
    "SeriesStream",
    "event_metrics",
    "point_adjusted_f1",
    "recording_metrics",
    "vus",
]
