"""Training: the one fit loop (:func:`fit`), its options (:class:`FitOptions`) and :class:`History`."""

from hourglass.devices import resolve_device
from hourglass.history import History
from hourglass.training.options import FitOptions
from hourglass.training.trainer import TrainingError, fit

__all__ = ["FitOptions", "History", "TrainingError", "fit", "resolve_device"]
