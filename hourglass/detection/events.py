"""Events: the stretches of time steps a detector flags, each with its peak.

>>> events_from_scores([0, 3, 4, 0, 0, 5, 0], threshold=1, min_gap=2)
[Event(start=1, stop=3, peak=2, peak_score=4.0), Event(start=5, stop=6, peak=5, peak_score=5.0)]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hourglass.transforms.windows import stretches


@dataclass(frozen=True)
class Event:
    """A stretch of flagged steps: ``start`` .. ``stop`` (exclusive, like a slice), the step with
    the highest score in it and that score."""

    start: int
    stop: int
    peak: int
    peak_score: float

    @property
    def length(self) -> int:
        return self.stop - self.start


def events_from_scores(scores, threshold: float, min_gap: int = 0) -> list[Event]:
    """The stretches of steps with score above ``threshold``, those closer than ``min_gap`` joined."""
    scores = np.asarray(scores, dtype=np.float64)
    found = stretches(scores > threshold)
    merged: list[list[int]] = []
    for a, b in found:
        if merged and a - merged[-1][1] < min_gap:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    out = []
    for a, b in merged:
        peak = a + int(np.argmax(scores[a:b]))
        out.append(Event(a, b, peak, float(scores[peak])))
    return out
