"""Name -> thing tables for whatever users pick by name: models, thresholds, corruptions, scalers,
data sets (timm's ``create_model("name")`` / ``list_models("pattern*")`` pattern).

Each table is a :class:`Registry`; the modules that own the things register them where they are
defined (a decorator or one line), and expose ``list_*`` / lookup functions built on it. An
unknown name is a clear error that lists what exists and suggests the closest name.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from hourglass.errors import InvalidInputError

T = TypeVar("T")


class Registry(Generic[T]):
    """Registered things by name, with optional hidden aliases (accepted, not listed).

    Parameters
    ----------
    kind : str
        What the table holds, in the words of its error messages ("model", "threshold").
    error : exception class
        Raised for an unknown name (default :class:`~hourglass.InvalidInputError`).

    Examples
    --------
    >>> colours = Registry("colour")
    >>> _ = colours.register("red", 0xFF0000)
    >>> colours["red"], colours.names()
    (16711680, ['red'])
    >>> colours["rde"]
    Traceback (most recent call last):
    ...
    hourglass.errors.InvalidInputError: unknown colour 'rde'; did you mean 'red'? (available: red)
    """

    def __init__(self, kind: str, error: type[Exception] = InvalidInputError):
        self.kind = kind
        self.error = error
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, obj: T, *, aliases: Iterable[str] = ()) -> T:
        """Add ``obj`` under ``name`` (and ``aliases``); returns ``obj`` so it works inline."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} needs a non-empty name to be registered, got {name!r}")
        self._items[name] = obj
        for alias in aliases:
            self._aliases[alias] = name
        return obj

    def decorator(self, name: str | None = None, *, aliases: Iterable[str] = ()) -> Callable[[T], T]:
        """``@registry.decorator()`` registers a class under ``name`` (default: its ``name``
        attribute, else its class name)."""

        def add(obj: T) -> T:
            key = name or getattr(obj, "name", None) or getattr(obj, "__name__", None)
            return self.register(key, obj, aliases=aliases)

        return add

    def names(self, pattern: str | None = None) -> list[str]:
        """Registered names, sorted, optionally filtered by a glob ``pattern`` such as ``"conv*"``."""
        names = sorted(self._items)
        return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names

    def resolve(self, name: str) -> str:
        """The registered name ``name`` stands for (itself or an alias's target), or a clear error."""
        if isinstance(name, str):
            if name in self._items:
                return name
            if name in self._aliases:
                return self._aliases[name]
        raise self.error(self.unknown_message(name))

    def unknown_message(self, name) -> str:
        available = self.names()
        candidates = {n.lower(): n for n in [*available, *self._aliases]}
        close = difflib.get_close_matches(str(name).lower(), list(candidates), n=1, cutoff=0.6)
        hint = f"; did you mean {self.resolve(candidates[close[0]])!r}?" if close else ""
        return f"unknown {self.kind} {name!r}{hint} (available: {', '.join(available)})"

    def __getitem__(self, name: str) -> T:
        return self._items[self.resolve(name)]

    def __contains__(self, name) -> bool:
        return isinstance(name, str) and (name in self._items or name in self._aliases)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.names())})"
