"""Input corruptions for denoising training: the model sees ``corrupt(x)`` and learns ``x``.

Each corruption is called on a batch tensor with a ``torch.Generator``, on the batch's device, so
that noise is redrawn every step without leaving the device and is reproducible from the seed. A
corruption is a frozen dataclass (its fields are its JSON description) registered by name
(:func:`list_corruptions`, :func:`create_corruption`), and says whether it is ``deterministic``:
only a deterministic one (the same input always gives the same output) may also transform inputs
at scoring time (``Detector(input_transform=...)``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import ClassVar

import torch
import torch.nn.functional as F

from hourglass.errors import InvalidInputError
from hourglass.registry import Registry

CORRUPTIONS: Registry = Registry("corruption")
register_corruption = CORRUPTIONS.decorator


@register_corruption()
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
    deterministic: ClassVar[bool] = False

    def __post_init__(self):
        if not (float(self.std) >= 0):
            raise InvalidInputError(f"GaussianNoise std must be >= 0, got {self.std!r}")
        if self.clip is not None:
            if len(self.clip) != 2 or not self.clip[0] < self.clip[1]:
                raise InvalidInputError(f"GaussianNoise clip must be (low, high) with low < high, got {self.clip!r}")
            object.__setattr__(self, "clip", (float(self.clip[0]), float(self.clip[1])))

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        # in the noise's own memory where the layouts agree: the same numbers, one tensor fewer a step
        out = noise.mul_(self.std).add_(x) if x.is_contiguous() else x + self.std * noise
        if self.clip is not None:
            out = out.clamp_(self.clip[0], self.clip[1])
        return out


@register_corruption()
@dataclass(frozen=True)
class MaskingNoise:
    """Set a random fraction ``rate`` of the input's elements to ``value`` (dropout noise)."""

    rate: float
    value: float = 0.0
    deterministic: ClassVar[bool] = False

    def __post_init__(self):
        if not 0.0 <= float(self.rate) < 1.0:
            raise InvalidInputError(f"MaskingNoise rate must lie in [0, 1), got {self.rate!r}")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        keep = torch.rand(x.shape, generator=generator, device=x.device) >= self.rate
        return torch.where(keep, x, torch.as_tensor(self.value, dtype=x.dtype, device=x.device))


@register_corruption()
@dataclass(frozen=True)
class SaltAndPepper:
    """Set a random fraction ``rate`` of the elements to ``low`` or ``high`` (half each): the
    impulse noise of scanned images and dead pixels."""

    rate: float
    low: float = 0.0
    high: float = 1.0
    deterministic: ClassVar[bool] = False

    def __post_init__(self):
        if not 0.0 <= float(self.rate) < 1.0:
            raise InvalidInputError(f"SaltAndPepper rate must lie in [0, 1), got {self.rate!r}")
        if not float(self.low) < float(self.high):
            raise InvalidInputError(f"SaltAndPepper needs low < high, got {self.low!r}, {self.high!r}")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        u = torch.rand(x.shape, generator=generator, device=x.device)
        out = torch.where(u < self.rate / 2, torch.as_tensor(self.low, dtype=x.dtype, device=x.device), x)
        return torch.where(
            (u >= self.rate / 2) & (u < self.rate), torch.as_tensor(self.high, dtype=x.dtype, device=x.device), out
        )


@register_corruption()
@dataclass(frozen=True)
class Downsample:
    """Super-resolution training: pool the input down by ``factor`` (``mode`` "max" or "avg")
    and scale it back up to its size by repetition, so the model sees a coarse input of the
    original shape and learns to restore the full resolution. Works with any image model
    ``(n, C, H, W)`` and on series ``(n, C, L)`` or ``(n, L)``; sizes that ``factor`` does not
    divide keep a partial last block. Deterministic: the same input always gives the same output.
    """

    factor: int
    mode: str = "max"
    deterministic: ClassVar[bool] = True

    def __post_init__(self):
        if isinstance(self.factor, bool) or not isinstance(self.factor, int) or self.factor < 2:
            raise InvalidInputError(f"Downsample factor must be an integer >= 2, got {self.factor!r}")
        if self.mode not in ("max", "avg"):
            raise InvalidInputError(f"Downsample mode must be 'max' or 'avg', got {self.mode!r}")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if x.dim() not in (2, 3, 4):
            raise InvalidInputError(
                f"Downsample takes images (n, C, H, W) or series (n, C, L) / (n, L), "
                f"got a batch of shape {tuple(x.shape)}"
            )
        flat = x.dim() == 2
        inp = x.unsqueeze(1) if flat else x
        k = self.factor
        if inp.dim() == 4:
            pool = F.max_pool2d if self.mode == "max" else F.avg_pool2d
            small = pool(inp, k, ceil_mode=True)
            big = small.repeat_interleave(k, dim=2).repeat_interleave(k, dim=3)[..., : inp.shape[2], : inp.shape[3]]
        else:
            pool = F.max_pool1d if self.mode == "max" else F.avg_pool1d
            small = pool(inp, k, ceil_mode=True)
            big = small.repeat_interleave(k, dim=2)[..., : inp.shape[2]]
        # keep the batch's memory layout (hg.fit trains conv models channels-last on CPU)
        channels_last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
        big = big.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        return big.squeeze(1) if flat else big


def list_corruptions(pattern: str | None = None) -> list[str]:
    """Registered corruption names (their class names), optionally filtered by a glob pattern."""
    return CORRUPTIONS.names(pattern)


def corruption_parameters(name: str) -> list[str]:
    """The parameters the corruption ``name`` takes (its dataclass fields)."""
    return [f.name for f in fields(CORRUPTIONS[name])]


def create_corruption(name: str, **params):
    """A corruption by name: ``create_corruption("GaussianNoise", std=0.2, clip=(0, 1))``."""
    return CORRUPTIONS[name](**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})


def is_deterministic(corruption) -> bool:
    """Whether ``corruption`` maps an input to the same output every time (a user's callable
    without a ``deterministic`` attribute is assumed random)."""
    return bool(getattr(corruption, "deterministic", False))


def describe_corruption(corruption) -> dict | str | None:
    """A corruption as JSON: the library's own as a dict (:func:`corruption_from_dict` rebuilds it,
    so a report can show noisy inputs), a user's callable as its repr."""
    if corruption is None:
        return None
    if type(corruption).__name__ in CORRUPTIONS:
        return corruption_to_dict(corruption)
    return repr(corruption)


def corruption_to_dict(c) -> dict | None:
    if c is None:
        return None
    return {"type": type(c).__name__, **asdict(c)}


def corruption_from_dict(d: dict | None):
    """Inverse of :func:`corruption_to_dict`; an unknown type is a clear error."""
    if d is None:
        return None
    d = dict(d)
    return create_corruption(d.pop("type", None), **d)
