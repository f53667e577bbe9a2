"""Progress bars: one option, ``progress``, everywhere (``hg.fit``, the estimators,
``SeriesDetector``, ``run_recipe``, the command line).

``progress="auto"`` (the default) shows a bar where a person is watching: standard error is a
terminal, or the code runs in a Jupyter kernel; elsewhere (a log file, CI, a pipe, a batch job)
nothing is printed. An automatic bar appears only once its work has run for
:data:`AUTO_DELAY_SECONDS`, so quick fits stay silent and long ones (a long recording's windows,
a large table) show a sign of life. ``True`` always shows it at once, ``False`` never. The
environment variable ``HOURGLASS_PROGRESS`` (``on`` / ``off``) decides for "auto" everywhere.

>>> resolve(False), resolve(True)
(False, True)
"""

from __future__ import annotations

import os
import sys

from hourglass.errors import InvalidInputError

#: How long work under ``progress="auto"`` runs before its bar appears (tqdm's ``delay``).
AUTO_DELAY_SECONDS = 2.0


def check_progress(progress, name: str = "progress"):
    """``progress`` as True, False or "auto"; anything else is an error that names it."""
    if isinstance(progress, str) and progress.strip().lower() == "auto":
        return "auto"
    if isinstance(progress, bool) or progress in (0, 1):
        return bool(progress)
    raise InvalidInputError(f"{name} must be True, False or 'auto', got {progress!r}")


def _from_environment() -> bool | None:
    """``HOURGLASS_PROGRESS``: "1" / "on" shows every automatic bar at once (a log that wants
    them), "0" / "off" none; unset or anything else leaves "auto" to decide."""
    value = os.environ.get("HOURGLASS_PROGRESS", "").strip().lower()
    return True if value in ("1", "true", "on", "yes") else False if value in ("0", "false", "off", "no") else None


def watching() -> bool:
    """Whether a person sees this process's output: a terminal on standard error, or a Jupyter
    (IPython) kernel, whose standard streams are not terminals (``HOURGLASS_PROGRESS`` overrides)."""
    forced = _from_environment()
    if forced is not None:
        return forced
    if "ipykernel" in sys.modules:
        try:
            from IPython import get_ipython

            shell = get_ipython()
        except ImportError:  # pragma: no cover - ipykernel without IPython does not exist
            shell = None
        if shell is not None and hasattr(shell, "kernel"):
            return True
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def resolve(progress) -> bool:
    """Whether a bar is shown for ``progress`` (True, False or "auto") here and now."""
    progress = check_progress(progress)
    return watching() if progress == "auto" else progress


def bar(progress, **tqdm_options):
    """A tqdm bar for ``progress``: disabled where it is not shown, delayed under "auto"."""
    from tqdm.auto import tqdm

    progress = check_progress(progress)
    enabled = resolve(progress)
    delay = AUTO_DELAY_SECONDS if progress == "auto" and _from_environment() is None else 0.0
    return tqdm(disable=not enabled, delay=delay, dynamic_ncols=True, **tqdm_options)
