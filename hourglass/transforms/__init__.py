"""Preprocessing: scalers fitted on training data, and corruptions for denoising training."""

from hourglass.transforms.corruptions import Downsample, GaussianNoise, MaskingNoise, SaltAndPepper
from hourglass.transforms.scalers import MinMaxScaler, StandardScaler
from hourglass.transforms.windows import scores_to_steps, stretches, windows

__all__ = ["Downsample", "GaussianNoise", "MaskingNoise", "SaltAndPepper", "MinMaxScaler", "StandardScaler", "scores_to_steps", "stretches", "windows"]
