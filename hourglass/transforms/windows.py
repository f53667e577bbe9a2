"""Long recordings as fixed-length windows, and window scores back on the time axis."""

from __future__ import annotations

import numpy as np

from hourglass.errors import InvalidInputError
from hourglass.validation import check_positive_int


def _check_series(series) -> np.ndarray:
    arr = np.asarray(series)
    if arr.dtype.kind not in "biuf":
        raise InvalidInputError(f"series must hold numbers, got dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise InvalidInputError(f"series must be 1-D (time) or 2-D (channels, time), got shape {arr.shape}")
    arr = arr.astype(np.float32, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        step = int(np.nonzero(bad.reshape(-1, arr.shape[-1]).any(axis=0))[0][0])
        raise InvalidInputError(
            f"series contains {int(bad.sum())} NaN / inf values, first at time step {step}; "
            "impute or cut them out before windowing"
        )
    return arr


def windows(series, length: int, stride: int = 1) -> np.ndarray:
    """Cut a recording into windows of ``length`` time steps, starting every ``stride`` steps.

    ``series`` is ``(time,)`` or ``(channels, time)``; the result is ``(n_windows, length)`` or
    ``(n_windows, channels, length)``, ready for a sequence model. When ``stride`` does not
    divide the remainder, one last window is added that ends at the final step, so every time
    step is covered.

    Examples
    --------
    >>> import numpy as np, hourglass as hg
    >>> hg.windows(np.arange(10), length=4, stride=3).tolist()
    [[0.0, 1.0, 2.0, 3.0], [3.0, 4.0, 5.0, 6.0], [6.0, 7.0, 8.0, 9.0]]
    """
    arr = _check_series(series)
    length, stride = check_positive_int(length, "length"), check_positive_int(stride, "stride")
    n_steps = arr.shape[-1]
    if n_steps < length:
        raise InvalidInputError(f"the series has {n_steps} time steps, fewer than the window length {length}")
    starts = window_starts(n_steps, length, stride)
    view = np.lib.stride_tricks.sliding_window_view(arr, length, axis=-1)  # (..., n_steps - length + 1, length)
    out = view[..., starts, :]
    return np.ascontiguousarray(np.moveaxis(out, -2, 0))


def window_starts(n_steps: int, length: int, stride: int) -> np.ndarray:
    """First time step of each window :func:`windows` cuts."""
    starts = np.arange(0, n_steps - length + 1, stride)
    if starts[-1] != n_steps - length:
        starts = np.append(starts, n_steps - length)
    return starts


def scores_to_steps(scores, n_steps: int, length: int, stride: int = 1) -> np.ndarray:
    """One score per time step: the mean over the windows that cover it.

    ``scores`` holds one value per window (``(n_windows,)``, e.g. ``Detector.score_samples``) or
    one per window and step (``(n_windows, length)`` or ``(n_windows, channels, length)``, e.g.
    ``Detector.score_map``; channels are averaged). ``n_steps``, ``length``, ``stride`` are those
    the windows were cut with.
    """
    n_steps = check_positive_int(n_steps, "n_steps")
    length, stride = check_positive_int(length, "length"), check_positive_int(stride, "stride")
    if n_steps < length:
        raise InvalidInputError(f"n_steps={n_steps} is shorter than the window length {length}")
    starts = window_starts(n_steps, length, stride)
    s = np.asarray(scores, dtype=np.float64)
    if len(s) != len(starts):
        raise InvalidInputError(
            f"{len(s)} window scores, but a series of {n_steps} steps cut into windows of "
            f"{length} every {stride} steps gives {len(starts)} windows"
        )
    if s.ndim == 3:
        s = s.mean(axis=1)
    if s.ndim == 1:
        s = np.repeat(s[:, None], length, axis=1)
    if s.shape[1] != length:
        raise InvalidInputError(f"window score maps must have {length} steps, got shape {np.shape(scores)}")
    total, count = np.zeros(n_steps), np.zeros(n_steps)
    index = starts[:, None] + np.arange(length)[None, :]
    np.add.at(total, index, s)
    np.add.at(count, index, 1.0)
    return total / count


def stretches(flags, min_length: int = 1) -> list[tuple[int, int]]:
    """The runs of consecutive ``True`` time steps in ``flags``, as ``(start, stop)`` pairs
    (``stop`` exclusive, like a slice), keeping runs of at least ``min_length`` steps.

    >>> stretches([0, 1, 1, 0, 0, 1, 0, 1, 1, 1])
    [(1, 3), (5, 6), (7, 10)]
    """
    min_length = check_positive_int(min_length, "min_length")
    mask = np.asarray(flags)
    if mask.ndim != 1:
        raise InvalidInputError(f"flags must be 1-D, one per time step; got shape {mask.shape}")
    edges = np.diff(np.concatenate([[0], mask.astype(bool).view(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(a), int(b)) for a, b in zip(starts, stops) if b - a >= min_length]
