"""Anomaly detection: scores, thresholds, the Detector and its metrics."""

from hourglass.detection.detector import Detector
from hourglass.detection.metrics import detection_metrics
from hourglass.detection.thresholds import BestF1, Contamination, FixedFPR, MeanStd, Percentile, Threshold

__all__ = ["BestF1", "Contamination", "Detector", "FixedFPR", "MeanStd", "Percentile", "Threshold",
           "detection_metrics"]
