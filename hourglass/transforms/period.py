"""A recording's period, from its autocorrelation: the window length a series detector cuts.

As TSB-AD's ``find_length_rank`` does (rank 1), the period is the lag of the highest local maximum
of the autocorrelation function, looked for among the lags ``min_period .. max_period`` of the
first ``max_steps`` steps; a recording with no such peak (noise, a trend) gets ``default``.
"""

from __future__ import annotations

import numpy as np

from hourglass.errors import InvalidInputError


def autocorrelation(series, max_lag: int) -> np.ndarray:
    """The autocorrelation at lags ``0 .. max_lag`` of a ``(time,)`` or ``(time, channels)``
    series (channels averaged), by FFT."""
    x = np.asarray(series, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    x = x - x.mean(axis=0)
    n = len(x)
    size = 1 << int(np.ceil(np.log2(2 * n)))  # zero padding: a linear, not circular, correlation
    spectrum = np.fft.rfft(x, size, axis=0)
    acov = np.fft.irfft(spectrum * np.conj(spectrum), size, axis=0)[: max_lag + 1]
    var = acov[0]
    acf = np.divide(acov, var, out=np.zeros_like(acov), where=var > 0)
    return acf.mean(axis=1)


def find_period(
    series, *, min_period: int = 3, max_period: int = 400, max_steps: int = 20000, default: int = 125
) -> int:
    """The dominant period of ``series`` (``(time,)`` or ``(time, channels)``) in steps.

    Examples
    --------
    >>> import numpy as np, hourglass as hg
    >>> t = np.arange(5000)
    >>> hg.find_period(np.sin(2 * np.pi * t / 48) + 0.1 * np.random.default_rng(0).normal(size=5000))
    48
    """
    x = np.asarray(series, dtype=np.float64)
    if x.ndim not in (1, 2) or not len(x):
        raise InvalidInputError(f"find_period takes a (time,) or (time, channels) series, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InvalidInputError("find_period: the series holds NaN / inf values")
    if not 1 <= min_period <= max_period:
        raise InvalidInputError(f"need 1 <= min_period <= max_period, got {min_period}, {max_period}")
    x = x[:max_steps]
    max_lag = min(max_period + 1, len(x) // 2)
    if max_lag <= min_period:
        return int(default)
    acf = autocorrelation(x, max_lag)
    inner = acf[1:-1]
    peaks = np.flatnonzero((inner > acf[:-2]) & (inner > acf[2:])) + 1
    peaks = peaks[(peaks >= min_period) & (peaks <= max_period)]
    if not len(peaks) or acf[peaks].max() <= 0:
        return int(default)
    return int(peaks[np.argmax(acf[peaks])])
