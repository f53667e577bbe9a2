"""Training: the one fit loop (:func:`fit`) and its :class:`History`."""

from hourglass.training.trainer import History, TrainingError, fit, resolve_device

__all__ = ["History", "TrainingError", "fit", "resolve_device"]
