"""Preprocessing: scalers fitted on training data, and corruptions for denoising training."""

from hourglass.transforms.corruptions import GaussianNoise, MaskingNoise
from hourglass.transforms.scalers import MinMaxScaler, StandardScaler

__all__ = ["GaussianNoise", "MaskingNoise", "MinMaxScaler", "StandardScaler"]
