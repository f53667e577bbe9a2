"""Anomaly detection: scores, thresholds, the Detector and its metrics."""

from hourglass.detection.detector import Detector, Explanation
from hourglass.detection.ensemble import DetectorEnsemble
from hourglass.detection.metrics import detection_metrics
from hourglass.detection.thresholds import BestF1, Contamination, FixedFPR, MeanStd, Percentile, Threshold

__all__ = ["BestF1", "Contamination", "Detector", "DetectorEnsemble", "Explanation", "FixedFPR", "MeanStd", "Percentile", "Threshold",
           "detection_metrics"]
