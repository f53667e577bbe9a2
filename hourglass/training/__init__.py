"""Training: the one fit loop (:func:`fit`), its options (:class:`FitOptions`) and :class:`History`."""

from hourglass.devices import resolve_device
from hourglass.history import History
from hourglass.training import callbacks
from hourglass.training.options import FitOptions
from hourglass.training.trainer import TrainingError, fit

__all__ = ["FitOptions", "History", "TrainingError", "callbacks", "fit", "resolve_device"]
