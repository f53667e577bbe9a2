"""Save and load models and detectors as a folder: safetensors weights plus one JSON file.

The folder (format 1, unchanged since 0.1.0)::

    hourglass.json        format, versions, kind, and the object's own description
    model.safetensors     model weights (an ensemble's members under member<k>/)
    detector.safetensors  a detector's fitted arrays (calibration scores, l2 scale, ensemble
                          standardisation), when it has any

Each saveable class writes and reads its own part (``to_saved`` / ``from_saved``, see
:mod:`hourglass.saving`); this module writes the folder atomically (beside its destination, then
renamed into place, so an interrupted save leaves the previous version intact), reads it back,
checks the format version and looks up which class a folder holds. Nothing is pickled, so loading
a folder from someone else cannot execute code.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import torch

from hourglass.atomic import read_json, strict_json
from hourglass.detection.base import BaseDetector
from hourglass.detection.detector import Detector
from hourglass.detection.ensemble import DetectorEnsemble
from hourglass.detection.series import SeriesDetector
from hourglass.devices import resolve_device
from hourglass.errors import HourglassError, InvalidInputError, ModelFileError
from hourglass.models.base import Autoencoder, WeightsMismatchError
from hourglass.saving import SavedState
from hourglass.version import __version__

FORMAT = "hourglass"
FORMAT_VERSION = 1
CONFIG_FILE = "hourglass.json"
WEIGHTS_FILE = "model.safetensors"
DETECTOR_ARRAYS_FILE = "detector.safetensors"

# What a folder holds: its "kind", or for a scikit-learn estimator its "estimator" class.
KINDS = {"model": Autoencoder, "detector": Detector, "ensemble": DetectorEnsemble, "series": SeriesDetector}
ESTIMATORS = ("AutoencoderDetector",)  # in hourglass.estimators, imported when needed (scikit-learn)


def _estimator(name: str):
    import hourglass.estimators

    return getattr(hourglass.estimators, name)


def save(obj, path, *, history=None) -> Path:
    """Write ``obj`` (a model, a fitted :class:`~hourglass.Detector`,
    :class:`~hourglass.DetectorEnsemble` or :class:`~hourglass.SeriesDetector`, or a fitted
    :class:`~hourglass.AutoencoderDetector`) to
    the folder ``path``; ``history`` (a :class:`~hourglass.History`) is saved with it, by default
    the one the model carries.

    An existing hourglass folder at ``path`` is replaced; any other existing, non-empty folder
    or file is left alone and reported, so no user data is overwritten.
    """
    if not isinstance(obj, (Autoencoder, BaseDetector, SeriesDetector)) and not isinstance(
        obj, _estimator("AutoencoderDetector")
    ):
        raise InvalidInputError(
            "hg.save takes a model, a Detector, a DetectorEnsemble, a SeriesDetector or an AutoencoderDetector, "
            f"got {type(obj).__name__}"
        )
    state = obj.to_saved()
    if history is not None:
        state.meta["history"] = history.to_dict() if hasattr(history, "to_dict") else dict(history)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "hourglass_version": __version__,
        "torch_version": torch.__version__,
        **state.meta,
    }
    path = Path(path)
    if path.exists() and not (path / CONFIG_FILE).is_file() and (not path.is_dir() or any(path.iterdir())):
        raise ModelFileError(f"{path} exists and is not an hourglass folder; refusing to overwrite it")
    _write_folder_atomic(path, meta, state)
    return path


def _write_folder_atomic(path: Path, meta: dict, state: SavedState) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        save_file(state.weights, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT})
        if state.arrays:
            arrays = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.arrays.items()}
            save_file(arrays, str(tmp / DETECTOR_ARRAYS_FILE), metadata={"format": FORMAT})
        with open(tmp / CONFIG_FILE, "w") as f:
            f.write(strict_json(meta))
            f.flush()
            os.fsync(f.fileno())
        old = None
        if path.exists():
            old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
            path.rename(old)
        tmp.rename(path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load(path, *, device: str | torch.device = "cpu"):
    """Load a model, detector, ensemble or estimator saved by :func:`save`. Never unpickles anything.

    Anything wrong with the folder (a missing, truncated or corrupt file, a hand-edited description
    with wrong types) raises :class:`~hourglass.ModelFileError` naming the file.
    """
    path = Path(path)
    meta = _read_meta(path)
    device = resolve_device(device)
    state = SavedState(
        meta,
        _read_tensors(path / WEIGHTS_FILE, required=True),
        {k: v.numpy() for k, v in _read_tensors(path / DETECTOR_ARRAYS_FILE).items()},
    )
    cls = _class_of(meta, path)
    try:
        return cls.from_saved(state, device)
    except WeightsMismatchError as exc:
        raise ModelFileError(f"{path / WEIGHTS_FILE}: {exc} in {CONFIG_FILE}") from None
    except ModelFileError:
        raise
    # a description that parses as JSON but holds the wrong types or values somewhere
    except (
        HourglassError,
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        IndexError,
        OverflowError,
        RuntimeError,
    ) as exc:
        raise ModelFileError(f"{path / CONFIG_FILE}: invalid model description ({type(exc).__name__}: {exc})") from None


def _class_of(meta: dict, path: Path):
    """The class that rebuilds the folder: an estimator's by its class name, else by kind (a folder
    without a kind holds a bare model, as in the first 0.1.0 saves)."""
    if "estimator" in meta:
        name = meta["estimator"].get("class") if isinstance(meta["estimator"], dict) else None
        if not isinstance(name, str) or name not in ESTIMATORS:
            raise ModelFileError(f"{path / CONFIG_FILE}: invalid estimator description (unknown class {name!r})")
        return _estimator(name)
    kind = meta.get("kind", "model")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ModelFileError(f"{path / CONFIG_FILE}: invalid model description (unknown kind {kind!r})")
    return KINDS[kind]


def _read_meta(path: Path) -> dict:
    if not path.exists():
        raise ModelFileError(f"{path}: no such model folder")
    if not path.is_dir():
        raise ModelFileError(f"{path}: not a folder; hg.load expects the folder written by hg.save")
    cfg = path / CONFIG_FILE
    if not cfg.is_file():
        raise ModelFileError(f"{path}: missing {CONFIG_FILE}; not an hourglass model folder")
    try:
        meta = read_json(cfg.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise ModelFileError(f"{cfg}: corrupt JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{cfg}: not an hourglass model description")
    version = meta.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelFileError(f"{cfg}: format_version must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{cfg}: written by a newer hourglass (format {meta['format_version']}); upgrade")
    return meta


def _read_tensors(path: Path, required: bool = False) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        if required:
            raise ModelFileError(f"{path.parent}: missing {path.name}")
        return {}
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: corrupt or truncated file ({exc})") from None
