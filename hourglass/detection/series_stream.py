"""Scoring a recording as it arrives: :meth:`SeriesDetector.stream`.

A step's score is the mean of its windows' scores (the windows that cover it), so it is final once no
later window can reach it: with ``m`` steps seen, every step before ``m - window`` (the last
window of the recording starts at ``n - window >= m - window``). :meth:`SeriesStream.update`
scores the windows that fit in what it has seen and returns the scores that became final;
:meth:`SeriesStream.flush` adds the recording's last window (as :func:`hourglass.windows` does) and
returns the rest. Together they give :meth:`SeriesDetector.score_steps` of the whole recording
(to float32 rounding: the model's arithmetic depends a little on the size of the batch).
The stream keeps only the steps later windows need and the pending steps' sums: memory is bounded
by the window and the chunk, not the recording.
"""

from __future__ import annotations

import numpy as np

from hourglass.errors import InvalidInputError


class SeriesStream:
    """Chunk-by-chunk scoring by a fitted :class:`~hourglass.SeriesDetector`.

    Examples
    --------
    >>> import numpy as np, hourglass as hg
    >>> t = np.arange(4000)
    >>> signal = np.sin(2 * np.pi * t / 40) + 0.05 * np.random.default_rng(0).normal(size=4000)
    >>> sd = hg.SeriesDetector(epochs=2).fit(signal[:2000])
    >>> stream = sd.stream()
    >>> parts = [stream.update(chunk) for chunk in np.array_split(signal, 7)] + [stream.flush()]
    >>> np.allclose(np.concatenate(parts), sd.score_steps(signal), rtol=1e-5, atol=1e-5)
    True
    """

    def __init__(self, detector):
        self.detector = detector
        self.window, self.stride = detector.window_, detector.stride_
        self.seen = 0  # steps received
        self.emitted = 0  # steps whose score has been returned
        self._next = 0  # the next regular window's start
        self._buf = np.zeros((0, detector.n_channels_), np.float32)
        self._buf_start = 0  # the step buf[0] holds
        self._total = np.zeros(0)  # sums and counts of the pending steps, from step `emitted`
        self._count = np.zeros(0)
        self._closed = False

    def update(self, chunk) -> np.ndarray:
        """Take the next ``chunk`` of steps (``(time,)`` or ``(time, channels)``, any length);
        return the scores of the steps that became final (possibly none), in order."""
        if self._closed:
            raise InvalidInputError("this stream was flushed; start another with detector.stream()")
        steps = self.detector._steps(chunk, "chunk", allow_empty=True)
        self._buf = np.concatenate([self._buf, steps])
        self.seen += len(steps)
        self._grow()
        last = self.seen - self.window
        if last >= self._next:
            starts = np.arange(self._next, last + 1, self.stride)
            self._score(starts)
            self._next = int(starts[-1]) + self.stride
        out = self._emit(max(self.emitted, self.seen - self.window))
        keep = min(self._next, max(0, self.seen - self.window))  # later windows start here or after
        self._buf = self._buf[keep - self._buf_start :]
        self._buf_start = keep
        return out

    def flush(self) -> np.ndarray:
        """The scores of the remaining steps, after the recording's last window."""
        if self._closed:
            raise InvalidInputError("this stream was already flushed")
        if self.seen < self.window:
            raise InvalidInputError(f"the stream got {self.seen} steps, fewer than the window ({self.window})")
        final = self.seen - self.window
        if self._next - self.stride != final:  # the last regular window does not end at the last step
            self._score(np.array([final]))
        self._closed = True
        return self._emit(self.seen)

    def _grow(self) -> None:
        extra = self.seen - self.emitted - len(self._total)
        if extra > 0:
            self._total = np.concatenate([self._total, np.zeros(extra)])
            self._count = np.concatenate([self._count, np.zeros(extra)])

    def _score(self, starts: np.ndarray) -> None:
        """Add the errors of the windows starting at ``starts`` to their steps' sums, window by
        window in order (the summation order of :func:`hourglass.scores_to_steps`)."""
        index = (starts - self._buf_start)[:, None] + np.arange(self.window)[None, :]
        wins = np.ascontiguousarray(np.moveaxis(self._buf[index], 1, 2))  # (n, channels, window)
        errors = self.detector._window_errors(wins)
        at = (starts - self.emitted)[:, None] + np.arange(self.window)[None, :]
        np.add.at(self._total, at, errors)
        np.add.at(self._count, at, 1.0)

    def _emit(self, upto: int) -> np.ndarray:
        k = upto - self.emitted
        if k <= 0:
            return np.zeros(0)
        out = self._total[:k] / self._count[:k]
        self._total, self._count = self._total[k:], self._count[k:]
        self.emitted = upto
        return out
