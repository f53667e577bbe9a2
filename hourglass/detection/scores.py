"""Reconstruction errors: per element (pixel, time step, feature) and per sample."""

from __future__ import annotations

import torch

from hourglass.errors import InvalidInputError

SCORES = ("mse", "mae")


def check_score(score: str) -> str:
    if score not in SCORES:
        raise InvalidInputError(f"score must be one of {SCORES}, got {score!r}")
    return score


def error_map(x: torch.Tensor, x_hat: torch.Tensor, score: str) -> torch.Tensor:
    """Element-wise error, same shape as ``x``: squared (``"mse"``) or absolute (``"mae"``)."""
    diff = x_hat - x
    return diff.square() if score == "mse" else diff.abs()


def sample_scores(x: torch.Tensor, x_hat: torch.Tensor, score: str) -> torch.Tensor:
    """One error per sample: the mean of :func:`error_map` over all but the batch axis."""
    return error_map(x, x_hat, score).flatten(1).mean(dim=1)
