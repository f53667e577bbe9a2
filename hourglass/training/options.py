"""``hg.fit``'s options: one frozen dataclass, validated once, in ``__post_init__``.

Everything that reads training options takes them from here: ``hg.fit`` (keyword arguments are
``FitOptions`` fields), the recipe schema's ``[training]`` table (every field whose metadata names
a recipe kind, with the same defaults), and the scikit-learn estimators (their parameters that are
``FitOptions`` fields pass straight through). Checks that depend on the model (a loss the model
cannot train with, ``kl_warmup`` on a model without a KL term) are the model's own
(``Autoencoder.prepare_training``).
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields

from hourglass.devices import resolve_device
from hourglass.errors import InvalidInputError
from hourglass.models.base import LOSSES
from hourglass.progress import check_progress
from hourglass.threads import parse_threads

PRECISIONS = ("fp32", "bf16")
GRADIENTS = ("auto", "autograd")
LAYERS = ("auto", "torch")


def _option(default, recipe=None):
    """A field; ``recipe`` is its kind in a recipe's ``[training]`` table ("int", "float", "str",
    "bool" or a tuple of allowed strings), None for options a TOML file cannot hold."""
    return field(default=default, metadata={"recipe": recipe})


class UnknownOptionError(InvalidInputError, TypeError):
    """``hg.fit`` (or ``FitOptions``) was given an option it does not have."""


@dataclass(frozen=True, init=False)
class FitOptions:
    """How :func:`hourglass.fit` trains; see its docstring for what each option does.

    Examples
    --------
    >>> opts = FitOptions(epochs=5, batch_size=64)
    >>> opts.replace(lr=3e-4).lr
    0.0003
    >>> FitOptions(epoch=5)
    Traceback (most recent call last):
    ...
    hourglass.training.options.UnknownOptionError: unknown training option 'epoch'; did you mean 'epochs'?
    """

    epochs: int = _option(10, "int")
    batch_size: int = _option(32, "int")
    steps_per_epoch: int | None = _option(None, "int")
    loss: str | None = _option(None, "str")
    lr: float = _option(1e-3, "float")
    weight_decay: float = _option(0.0, "float")
    shuffle: bool = _option(True, "bool")
    seed: int | None = _option(0, "int")
    device: str = _option("auto", "str")
    precision: str = _option("fp32", PRECISIONS)
    early_stopping: int | None = _option(None, "int")
    min_delta: float = _option(0.0, "float")
    restore_best: bool = _option(True, "bool")
    trim: float = _option(0.0, "float")
    kl_warmup: int = _option(0, "int")
    binarize: bool = _option(False, "bool")
    compile: bool = _option(False, "bool")
    checkpoint_dir: str | None = _option(None, "str")
    checkpoint_every: int = _option(1, "int")
    resume: bool = _option(False, "bool")
    progress: bool | str = _option("auto")
    callbacks: Sequence[Callable] = _option(())
    optimizer: Callable | None = _option(None)
    threads: int | str | None = _option("auto")
    gradients: str = _option("auto", GRADIENTS)
    layers: str = _option("auto", LAYERS)

    def __init__(self, **options):
        """Only keyword options, so that a misspelt one is named with the closest valid name."""
        names = self.names()
        for key in options:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f" (options: {', '.join(names)})"
                raise UnknownOptionError(f"unknown training option {key!r}{hint}")
        for f in fields(self):
            object.__setattr__(self, f.name, options.get(f.name, f.default))
        self.__post_init__()

    def __post_init__(self):
        def set_(name, value):  # a frozen dataclass normalising its own fields
            object.__setattr__(self, name, value)

        set_("epochs", _positive_int(self.epochs, "epochs"))
        set_("batch_size", _positive_int(self.batch_size, "batch_size"))
        set_("checkpoint_every", _positive_int(self.checkpoint_every, "checkpoint_every"))
        for name in ("steps_per_epoch", "early_stopping"):
            if getattr(self, name) is not None:
                set_(name, _positive_int(getattr(self, name), name))
        if self.loss is not None and self.loss not in LOSSES:
            raise InvalidInputError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        set_("lr", _number(self.lr, "lr", positive=True))
        set_("weight_decay", _number(self.weight_decay, "weight_decay"))
        set_("min_delta", _number(self.min_delta, "min_delta"))
        if self.precision not in PRECISIONS:
            raise InvalidInputError(f"precision must be 'fp32' or 'bf16', got {self.precision!r}")
        if self.gradients not in GRADIENTS:
            raise InvalidInputError(f"gradients must be 'auto' or 'autograd', got {self.gradients!r}")
        if self.layers not in LAYERS:
            raise InvalidInputError(f"layers must be 'auto' or 'torch', got {self.layers!r}")
        if isinstance(self.trim, bool) or not isinstance(self.trim, (int, float)) or not 0 <= self.trim < 0.5:
            raise InvalidInputError(f"trim must lie in [0, 0.5), got {self.trim!r}")
        if isinstance(self.kl_warmup, bool) or not isinstance(self.kl_warmup, int) or self.kl_warmup < 0:
            raise InvalidInputError(f"kl_warmup must be an integer number of epochs >= 0, got {self.kl_warmup!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise InvalidInputError(f"seed must be an integer or None, got {self.seed!r}")
        for name in ("shuffle", "restore_best", "compile", "resume", "binarize"):
            set_(name, bool(getattr(self, name)))
        set_("progress", check_progress(self.progress))
        if self.resume and self.checkpoint_dir is None:
            raise InvalidInputError("resume=True needs checkpoint_dir: the folder the interrupted run wrote to")
        resolve_device(self.device)  # a clear error now for a device that does not exist
        callbacks = tuple(self.callbacks or ())
        if not all(callable(cb) for cb in callbacks):
            raise InvalidInputError("callbacks must be callables: callback(epoch, history, model)")
        set_("callbacks", callbacks)
        parse_threads(self.threads)  # "auto" or a count >= 1; a clear error now
        if self.optimizer is not None and not callable(self.optimizer):
            raise InvalidInputError("optimizer must be a callable (params, lr, weight_decay) -> torch optimizer")

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def recipe_schema(cls) -> dict[str, tuple]:
        """``{key: (kind, default)}`` of the options a recipe's ``[training]`` table may set."""
        return {f.name: (f.metadata["recipe"], f.default) for f in fields(cls) if f.metadata.get("recipe")}

    @classmethod
    def from_mapping(cls, mapping: dict, **overrides) -> FitOptions:
        """The options among ``mapping``'s keys (others ignored), updated by ``overrides``."""
        names = set(cls.names())
        return cls(**{**{k: v for k, v in mapping.items() if k in names}, **overrides})

    def replace(self, **changes) -> FitOptions:
        return FitOptions(**{**self.to_dict(), **changes})

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InvalidInputError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _number(value, name: str, positive: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
    if not ok or (value <= 0 if positive else value < 0):
        raise InvalidInputError(f"{name} must be a {'positive' if positive else 'non-negative'} number, got {value!r}")
    return float(value)
