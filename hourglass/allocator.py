"""Where glibc's malloc finds a training step's large blocks: from the heap while hourglass runs.

Why: a step allocates and frees the same few tensors of 0.1-30 MB again and again. glibc serves a
block above its *mmap threshold* with a fresh ``mmap`` that the next ``free`` unmaps, so every
step faults in new zeroed pages. By default the threshold adapts (it rises to the largest block
freed, up to 32 MiB), and that costs nothing. But setting any of ``MALLOC_TRIM_THRESHOLD_``,
``MALLOC_TOP_PAD_``, ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_MMAP_MAX_`` or their ``GLIBC_TUNABLES``
turns the adaptation off, and every Dask worker starts with ``MALLOC_TRIM_THRESHOLD_=65536``
(Dask's ``distributed.nanny.pre-spawn-environ``; after a ``LocalCluster`` has run, processes the
parent starts later, joblib's workers say, inherit it too). There the threshold stays at 128 KiB
and the default tabular detector fitted 2.0-2.5x slower (``docs/decisions/allocator.md``).

:func:`large_blocks_from_heap`, entered by every :class:`~hourglass.threads.ThreadPolicy` on the
CPU (so by every fit and scoring pass), does what glibc's adaptation would have done while it
runs (mmap threshold 32 MiB, trim threshold 64 MiB, through glibc's public ``mallopt``) and puts
back the fixed values the process started with when the last one leaves, then returns the freed
memory to the system (``malloc_trim``), as the user's setting asks. Where the adaptation is on, on
other C libraries and on other systems, it changes nothing.

>>> with large_blocks_from_heap():
...     pass
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import threading
from contextlib import contextmanager
from pathlib import Path

#: glibc's defaults for the two thresholds when adaptation is off (``malloc.c``:
#: DEFAULT_MMAP_THRESHOLD_MIN and DEFAULT_TRIM_THRESHOLD), and the values used while hourglass
#: runs: the adaptive threshold's own ceiling on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX) and twice it
#: for trimming, as the adaptation sets them.
GLIBC_DEFAULTS = {"mmap_threshold": 128 * 1024, "trim_threshold": 128 * 1024}
WHILE_RUNNING = {"mmap_threshold": 32 * 1024 * 1024, "trim_threshold": 64 * 1024 * 1024}

_ENV = {  # the variables and tunables that fix a threshold (and so turn adaptation off)
    "MALLOC_MMAP_THRESHOLD_": "mmap_threshold",
    "MALLOC_TRIM_THRESHOLD_": "trim_threshold",
    "MALLOC_TOP_PAD_": "top_pad",
    "MALLOC_MMAP_MAX_": "mmap_max",
}
_MALLOPT = {"trim_threshold": -1, "mmap_threshold": -3}  # M_TRIM_THRESHOLD, M_MMAP_THRESHOLD

_lock = threading.Lock()
_depth = 0
_restore: dict[str, int] | None = None


def fixed_thresholds(environ: dict[str, str]) -> dict[str, int] | None:
    """The thresholds glibc keeps fixed in a process started with ``environ``, or None where it
    adapts them (nothing set). Values it would ignore (not a number) count as not set."""
    settings = {}
    for name, key in _ENV.items():
        if name in environ:
            settings[key] = environ[name]
    for item in environ.get("GLIBC_TUNABLES", "").split(":"):
        name, _, value = item.partition("=")
        if name.startswith("glibc.malloc.") and name[len("glibc.malloc.") :] in _ENV.values():
            settings[name[len("glibc.malloc.") :]] = value
    numbers = {k: int(v) for k, v in settings.items() if v.strip().isdigit()}
    if not numbers:
        return None
    return {k: numbers.get(k, default) for k, default in GLIBC_DEFAULTS.items()}


def _start_environ() -> dict[str, str]:
    """The environment this process started with, which glibc read (``os.environ`` may have
    changed since: Dask's ``LocalCluster`` writes ``MALLOC_TRIM_THRESHOLD_`` into its parent's)."""
    try:
        raw = Path("/proc/self/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.decode("utf-8", "replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


def _glibc():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _glibc()
_FIXED = fixed_thresholds(_start_environ()) if _LIBC is not None else None


def _set(values: dict[str, int]) -> None:
    for key, value in values.items():
        _LIBC.mallopt(_MALLOPT[key], ctypes.c_int(value))


@contextmanager
def large_blocks_from_heap():
    """While inside, large blocks come from the heap where the process fixed glibc's thresholds
    below what its adaptation would reach; the fixed values are back when the last caller leaves.
    Re-entrant and safe across threads."""
    global _depth, _restore
    with _lock:
        if _depth == 0 and _FIXED is not None:
            raised = {k: v for k, v in WHILE_RUNNING.items() if _FIXED[k] < v}
            if raised:
                _restore = {k: _FIXED[k] for k in raised}
                _set(raised)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _restore is not None:
                _set(_restore)
                _restore = None
                _LIBC.malloc_trim(ctypes.c_size_t(0))
