"""Save and load models and detectors as a folder: safetensors weights plus one JSON file.

Nothing is pickled, so loading a folder from someone else cannot execute code. A save is atomic:
the folder is written beside its destination and renamed into place, so an interrupted save
leaves the previous version intact.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import torch

from hourglass.errors import InvalidInputError, ModelFileError

FORMAT = "hourglass"
FORMAT_VERSION = 1
CONFIG_FILE = "hourglass.json"
WEIGHTS_FILE = "model.safetensors"


def _describe(obj, history) -> tuple[dict, torch.nn.Module]:
    from hourglass import __version__
    from hourglass.detection.detector import Detector
    from hourglass.models.base import Autoencoder

    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "hourglass_version": __version__,
            "torch_version": torch.__version__}
    if isinstance(obj, Detector):
        obj._check_fitted()
        model = obj.model
        meta["kind"] = "detector"
        meta["detector"] = {
            "score": obj.score,
            "batch_size": obj.batch_size,
            "threshold": obj.threshold.to_dict(),
            "threshold_value": obj.threshold_,
            "scaler": obj.scaler.to_dict() if obj.scaler is not None else None,
            "train_scores": obj.train_scores_,
        }
    elif isinstance(obj, Autoencoder):
        model = obj
        meta["kind"] = "model"
    else:
        raise InvalidInputError(f"hg.save takes a model or a Detector, got {type(obj).__name__}")
    meta["model"] = {"name": model.name, "config": model.config.to_dict()}
    if history is not None:
        meta["history"] = history.to_dict() if hasattr(history, "to_dict") else dict(history)
    return meta, model


def save(obj, path, *, history=None) -> Path:
    """Write ``obj`` (a model or a fitted :class:`~hourglass.Detector`) to the folder ``path``.

    An existing hourglass folder at ``path`` is replaced; any other existing, non-empty folder
    or file is left alone and reported, so no user data is overwritten.
    """
    from safetensors.torch import save_file

    path = Path(path)
    meta, model = _describe(obj, history)
    if path.exists() and not (path / CONFIG_FILE).is_file() and (not path.is_dir() or any(path.iterdir())):
        raise ModelFileError(f"{path} exists and is not an hourglass folder; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT})
        with open(tmp / CONFIG_FILE, "w") as f:
            json.dump(meta, f, indent=2, allow_nan=True)
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
    return path


def _read_meta(path: Path) -> dict:
    if not path.exists():
        raise ModelFileError(f"{path}: no such model folder")
    if not path.is_dir():
        raise ModelFileError(f"{path}: not a folder; hg.load expects the folder written by hg.save")
    cfg = path / CONFIG_FILE
    if not cfg.is_file():
        raise ModelFileError(f"{path}: missing {CONFIG_FILE}; not an hourglass model folder")
    try:
        meta = json.loads(cfg.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{cfg}: corrupt JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{cfg}: not an hourglass model description")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFileError(f"{cfg}: written by a newer hourglass (format {meta['format_version']}); upgrade")
    return meta


def load(path, *, device: str | torch.device = "cpu"):
    """Load a model or detector saved by :func:`save`. Never unpickles anything."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from hourglass.detection.detector import Detector
    from hourglass.detection.thresholds import threshold_from_dict
    from hourglass.models.registry import model_from_config
    from hourglass.training.trainer import History, resolve_device
    from hourglass.transforms.scalers import scaler_from_dict

    path = Path(path)
    meta = _read_meta(path)
    try:
        model = model_from_config(meta["model"]["name"], meta["model"]["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path / CONFIG_FILE}: invalid model description ({exc})") from None
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelFileError(f"{path}: missing {WEIGHTS_FILE}")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{weights}: corrupt or truncated weights file ({exc})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelFileError(f"{weights}: weights do not fit the {meta['model']['name']!r} model "
                             f"described in {CONFIG_FILE}: {str(exc).splitlines()[0]}") from None
    model.to(resolve_device(device)).eval()
    if "history" in meta:
        model.history_ = History.from_dict(meta["history"])
    if meta.get("kind") != "detector":
        return model
    try:
        d = meta["detector"]
        det = Detector(model, score=d["score"], threshold=threshold_from_dict(d["threshold"]),
                       scaler=scaler_from_dict(d.get("scaler")), batch_size=int(d.get("batch_size", 1024)))
        det.threshold_ = float(d["threshold_value"])
        det.train_scores_ = d.get("train_scores", {})
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path / CONFIG_FILE}: invalid detector description ({exc})") from None
    return det
