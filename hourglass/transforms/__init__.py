"""Preprocessing: scalers fitted on training data, and corruptions for denoising training."""

from hourglass.transforms.corruptions import (
    Downsample,
    GaussianNoise,
    MaskingNoise,
    SaltAndPepper,
    create_corruption,
    list_corruptions,
    register_corruption,
)
from hourglass.transforms.period import find_period
from hourglass.transforms.scalers import (
    MinMaxScaler,
    RobustScaler,
    StandardScaler,
    create_scaler,
    list_scalers,
    scaler_from_dict,
)
from hourglass.transforms.windows import scores_to_steps, stretches, windows

__all__ = [
    "create_corruption",
    "create_scaler",
    "list_corruptions",
    "list_scalers",
    "register_corruption",
    "scaler_from_dict",
    "Downsample",
    "GaussianNoise",
    "MaskingNoise",
    "SaltAndPepper",
    "MinMaxScaler",
    "RobustScaler",
    "StandardScaler",
    "find_period",
    "scores_to_steps",
    "stretches",
    "windows",
]
