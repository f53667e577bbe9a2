"""Input corruptions for denoising training: the model sees ``corrupt(x)`` and learns ``x``.

Each corruption is called on a batch tensor with a ``torch.Generator``, on the batch's device, so
that noise is redrawn every step without leaving the device and is reproducible from the seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from hourglass.errors import InvalidInputError


@dataclass(frozen=True)
class GaussianNoise:
    """Add ``std * N(0, 1)`` noise, then optionally clip, as in the classic denoising tutorial.

    Parameters
    ----------
    std : float
        Noise standard deviation (the tutorial's ``noise_factor``, 0.2).
    clip : (float, float) or None
        Clip the noisy input to this range, e.g. ``(0, 1)`` for images.
    """

    std: float
    clip: tuple[float, float] | None = None

    def __post_init__(self):
        if not (float(self.std) >= 0):
            raise InvalidInputError(f"GaussianNoise std must be >= 0, got {self.std!r}")
        if self.clip is not None:
            if len(self.clip) != 2 or not self.clip[0] < self.clip[1]:
                raise InvalidInputError(f"GaussianNoise clip must be (low, high) with low < high, got {self.clip!r}")
            object.__setattr__(self, "clip", (float(self.clip[0]), float(self.clip[1])))

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        out = x + self.std * noise
        if self.clip is not None:
            out = out.clamp_(self.clip[0], self.clip[1])
        return out


@dataclass(frozen=True)
class MaskingNoise:
    """Set a random fraction ``rate`` of the input's elements to ``value`` (dropout noise)."""

    rate: float
    value: float = 0.0

    def __post_init__(self):
        if not 0.0 <= float(self.rate) < 1.0:
            raise InvalidInputError(f"MaskingNoise rate must lie in [0, 1), got {self.rate!r}")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        keep = torch.rand(x.shape, generator=generator, device=x.device) >= self.rate
        return torch.where(keep, x, torch.as_tensor(self.value, dtype=x.dtype, device=x.device))


CORRUPTIONS = {cls.__name__: cls for cls in (GaussianNoise, MaskingNoise)}


def corruption_to_dict(c) -> dict | None:
    if c is None:
        return None
    return {"type": type(c).__name__, **asdict(c)}
