"""hourglass: autoencoders on PyTorch, for compression, denoising and anomaly detection.

>>> import hourglass as hg
>>> ds = hg.datasets.load("ecg5000", split="tutorial")
>>> model = hg.create_model("stacked", input_shape=(140,), hidden=(32, 16), latent_dim=8, seed=0)
>>> history = hg.fit(model, ds.x_train[ds.y_train == 1], epochs=2, batch_size=512, loss="mae", progress=False)
"""

import logging

from hourglass import datasets, recipes
from hourglass.detection import (
    BaseDetector,
    BestF1,
    Contamination,
    Detector,
    DetectorEnsemble,
    FixedFPR,
    MeanStd,
    Percentile,
    SeriesDetector,
    Threshold,
    create_threshold,
    event_metrics,
    list_thresholds,
    point_adjusted_f1,
    vus,
)
from hourglass.errors import (
    ChecksumError,
    DataFileError,
    DatasetNotFoundError,
    HourglassError,
    InvalidInputError,
    MissingDependencyError,
    ModelFileError,
    NotFittedError,
    SaveError,
)
from hourglass.export import export_onnx
from hourglass.inference import decode, encode, interpolate, reconstruct, sample
from hourglass.io import load, save
from hourglass.models import Autoencoder, create_model, list_models, register_model
from hourglass.recipes import run_recipe
from hourglass.reports.html import report
from hourglass.training import FitOptions, History, TrainingError, callbacks, fit
from hourglass.transforms import (
    Downsample,
    GaussianNoise,
    MaskingNoise,
    MinMaxScaler,
    RobustScaler,
    SaltAndPepper,
    StandardScaler,
    create_corruption,
    create_scaler,
    find_period,
    list_corruptions,
    list_scalers,
    scores_to_steps,
    stretches,
    windows,
)
from hourglass.version import __version__, check_no_name_clash

# a library's logger stays silent until the application configures logging (one INFO line per
# epoch: logging.basicConfig(level=logging.INFO), or logging.getLogger("hourglass").setLevel(...))
logging.getLogger("hourglass").addHandler(logging.NullHandler())

# scikit-learn takes about a second to import: the estimators load on first use
_LAZY = ("AutoencoderDetector", "AutoencoderTransformer")


def __getattr__(name):
    if name == "estimators":  # hg.estimators.X, as in 0.1.0
        import importlib

        return importlib.import_module("hourglass.estimators")
    if name in _LAZY:
        from hourglass.estimators import AutoencoderDetector, AutoencoderTransformer

        globals().update(AutoencoderDetector=AutoencoderDetector, AutoencoderTransformer=AutoencoderTransformer)
        return globals()[name]
    raise AttributeError(f"module 'hourglass' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | {"estimators"})


__all__ = [
    "Autoencoder",
    "AutoencoderDetector",
    "BaseDetector",
    "create_corruption",
    "create_scaler",
    "create_threshold",
    "list_corruptions",
    "list_scalers",
    "list_thresholds",
    "AutoencoderTransformer",
    "BestF1",
    "ChecksumError",
    "Contamination",
    "DataFileError",
    "DatasetNotFoundError",
    "Detector",
    "DetectorEnsemble",
    "Downsample",
    "FitOptions",
    "FixedFPR",
    "GaussianNoise",
    "History",
    "HourglassError",
    "InvalidInputError",
    "MaskingNoise",
    "MeanStd",
    "MinMaxScaler",
    "RobustScaler",
    "ModelFileError",
    "SaveError",
    "NotFittedError",
    "Percentile",
    "SaltAndPepper",
    "SeriesDetector",
    "event_metrics",
    "find_period",
    "point_adjusted_f1",
    "vus",
    "StandardScaler",
    "Threshold",
    "MissingDependencyError",
    "TrainingError",
    "callbacks",
    "create_model",
    "datasets",
    "decode",
    "encode",
    "export_onnx",
    "fit",
    "interpolate",
    "list_models",
    "load",
    "reconstruct",
    "recipes",
    "register_model",
    "report",
    "run_recipe",
    "sample",
    "save",
    "scores_to_steps",
    "stretches",
    "windows",
    "__version__",
]

check_no_name_clash()
