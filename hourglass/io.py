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

import numpy as np
import torch

from hourglass.errors import InvalidInputError, ModelFileError
from hourglass.transforms.corruptions import corruption_from_dict, corruption_to_dict

FORMAT = "hourglass"
FORMAT_VERSION = 1
CONFIG_FILE = "hourglass.json"
WEIGHTS_FILE = "model.safetensors"
DETECTOR_ARRAYS_FILE = "detector.safetensors"


def _detector_meta(det) -> dict:
    return {
        "score": det.score,
        "batch_size": det.batch_size,
        "threshold": det.threshold.to_dict(),
        "threshold_value": det.threshold_,
        "scaler": det.scaler.to_dict() if det.scaler is not None else None,
        "train_scores": det.train_scores_,
        "feature_names": None if det.feature_names is None else [str(n) for n in det.feature_names],
        "n_samples": int(det.n_samples),
        "input_transform": corruption_to_dict(det.input_transform),
    }


def _model_meta(model) -> dict:
    return {"name": model.name, "config": model.config.to_dict()}


def _describe(obj, history) -> tuple[dict, dict, dict]:
    """-> (JSON description, weight tensors, detector arrays) of what ``save`` writes."""
    from hourglass import __version__
    from hourglass.detection.detector import Detector
    from hourglass.detection.ensemble import DetectorEnsemble
    from hourglass.models.base import Autoencoder

    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "hourglass_version": __version__,
            "torch_version": torch.__version__}
    arrays = {}
    if hasattr(obj, "_hourglass_save_"):  # scikit-learn estimators: their fitted detector plus params
        meta["estimator"] = obj._hourglass_save_()
        obj = obj.detector_

    def f64(a):
        return torch.from_numpy(np.asarray(a, dtype=np.float64))

    def weights(model, prefix=""):
        return {prefix + k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}

    if isinstance(obj, DetectorEnsemble):
        obj._check_fitted()
        model = obj.model
        meta["kind"] = "ensemble"
        meta["detector"] = _detector_meta(obj)
        meta["members"] = []
        tensors = {}
        for k, member in enumerate(obj.detectors):
            meta["members"].append({"model": _model_meta(member.model), "detector": _detector_meta(member)})
            tensors.update(weights(member.model, f"member{k}/"))
            arrays[f"member{k}/calibration_scores"] = f64(member.calibration_scores_)
            if getattr(member, "scale_", None) is not None:
                arrays[f"member{k}/scale"] = torch.from_numpy(np.asarray(member.scale_, dtype=np.float32))
        arrays["center"], arrays["spread"] = f64(obj.center_), f64(obj.spread_)
        arrays["calibration_scores"] = f64(obj.calibration_scores_)
    elif isinstance(obj, Detector):
        obj._check_fitted()
        model = obj.model
        meta["kind"] = "detector"
        meta["detector"] = _detector_meta(obj)
        tensors = weights(model)
        arrays["calibration_scores"] = f64(obj.calibration_scores_)
        if getattr(obj, "scale_", None) is not None:
            arrays["scale"] = torch.from_numpy(np.asarray(obj.scale_, dtype=np.float32))
    elif isinstance(obj, Autoencoder):
        model = obj
        meta["kind"] = "model"
        tensors = weights(model)
    else:
        raise InvalidInputError(f"hg.save takes a model, a Detector, a DetectorEnsemble or an AutoencoderDetector, "
                                f"got {type(obj).__name__}")
    meta["model"] = _model_meta(model)
    if history is None:
        history = getattr(model, "history_", None)
    if history is not None:
        meta["history"] = history.to_dict() if hasattr(history, "to_dict") else dict(history)
    return meta, tensors, arrays


def save(obj, path, *, history=None) -> Path:
    """Write ``obj`` (a model, a fitted :class:`~hourglass.Detector` or
    :class:`~hourglass.AutoencoderDetector`) to the folder ``path``.

    An existing hourglass folder at ``path`` is replaced; any other existing, non-empty folder
    or file is left alone and reported, so no user data is overwritten.
    """
    from safetensors.torch import save_file

    path = Path(path)
    meta, tensors, arrays = _describe(obj, history)
    if path.exists() and not (path / CONFIG_FILE).is_file() and (not path.is_dir() or any(path.iterdir())):
        raise ModelFileError(f"{path} exists and is not an hourglass folder; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT})
        if arrays:
            save_file(arrays, str(tmp / DETECTOR_ARRAYS_FILE), metadata={"format": FORMAT})
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
    version = meta.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelFileError(f"{cfg}: format_version must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{cfg}: written by a newer hourglass (format {meta['format_version']}); upgrade")
    return meta


def _build_model(path: Path, description: dict, state: dict, device):
    from hourglass.models.registry import model_from_config

    try:
        model = model_from_config(description["name"], description["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path / CONFIG_FILE}: invalid model description ({exc})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelFileError(f"{path / WEIGHTS_FILE}: weights do not fit the {description['name']!r} model "
                             f"described in {CONFIG_FILE}: {str(exc).splitlines()[0]}") from None
    return model.to(device).eval()


def _build_detector(model, d: dict, arrays: dict, prefix: str = ""):
    from hourglass.detection.detector import Detector
    from hourglass.detection.thresholds import threshold_from_dict
    from hourglass.transforms.scalers import scaler_from_dict

    det = Detector(model, score=d["score"], threshold=threshold_from_dict(d["threshold"]),
                   scaler=scaler_from_dict(d.get("scaler")), batch_size=int(d.get("batch_size", 1024)),
                   feature_names=d.get("feature_names"), n_samples=int(d.get("n_samples", 64)),
                   input_transform=corruption_from_dict(d.get("input_transform")))
    det.threshold_ = float(d["threshold_value"])
    det.train_scores_ = d.get("train_scores", {})
    det.calibration_scores_ = arrays.get(prefix + "calibration_scores", np.zeros(0))
    det.scale_ = arrays.get(prefix + "scale")
    if det.score == "l2" and det.scale_ is None:
        raise ValueError("score 'l2' without its scale array")
    if det.scale_ is not None and det.scale_.shape != tuple(model.input_shape):
        raise ValueError(f"scale array of shape {det.scale_.shape} for inputs of shape {model.input_shape}")
    return det


def load(path, *, device: str | torch.device = "cpu"):
    """Load a model, detector, ensemble or estimator saved by :func:`save`. Never unpickles anything.

    Anything wrong with the folder (a missing, truncated or corrupt file, a hand-edited description
    with wrong types) raises :class:`~hourglass.ModelFileError` naming the file.
    """
    from hourglass.errors import HourglassError

    path = Path(path)
    meta = _read_meta(path)
    try:
        return _load(path, meta, device)
    except HourglassError:
        raise
    # a description that parses as JSON but holds the wrong types or values somewhere
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError, RuntimeError) as exc:
        raise ModelFileError(f"{path / CONFIG_FILE}: invalid model description ({type(exc).__name__}: {exc})") from None


def _load(path: Path, meta: dict, device):
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from hourglass.detection.ensemble import DetectorEnsemble
    from hourglass.detection.thresholds import threshold_from_dict
    from hourglass.devices import resolve_device
    from hourglass.training.history import History

    device = resolve_device(device)
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelFileError(f"{path}: missing {WEIGHTS_FILE}")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{weights}: corrupt or truncated weights file ({exc})") from None
    kind = meta.get("kind")
    history = History.from_dict(meta["history"]) if "history" in meta else None
    if kind != "ensemble":
        model = _build_model(path, meta.get("model", {}), state, device)
        if history is not None:
            model.history_ = history
        if kind != "detector":
            return model
    arrays = {}
    if (path / DETECTOR_ARRAYS_FILE).is_file():
        try:
            arrays = {k: v.numpy() for k, v in load_file(str(path / DETECTOR_ARRAYS_FILE)).items()}
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise ModelFileError(f"{path / DETECTOR_ARRAYS_FILE}: corrupt or truncated file ({exc})") from None
    try:
        if kind == "ensemble":
            members = []
            for k, m in enumerate(meta["members"]):
                prefix = f"member{k}/"
                member_state = {key[len(prefix):]: v for key, v in state.items() if key.startswith(prefix)}
                model = _build_model(path, m["model"], member_state, device)
                members.append(_build_detector(model, m["detector"], arrays, prefix))
            if history is not None:
                members[0].model.history_ = history
            d = meta["detector"]
            det = DetectorEnsemble(members, threshold=threshold_from_dict(d["threshold"]),
                                   batch_size=int(d.get("batch_size", 1024)), feature_names=d.get("feature_names"))
            det.center_, det.spread_ = arrays["center"], arrays["spread"]
            if det.center_.shape != (len(members),) or det.spread_.shape != (len(members),):
                raise ValueError("center / spread arrays do not match the members")
            det.threshold_ = float(d["threshold_value"])
            det.train_scores_ = d.get("train_scores", {})
            det.calibration_scores_ = arrays.get("calibration_scores", np.zeros(0))
        else:
            det = _build_detector(model, meta["detector"], arrays)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path / CONFIG_FILE}: invalid detector description ({exc})") from None
    if "estimator" in meta:
        from hourglass.estimators import estimator_from_saved

        try:
            return estimator_from_saved(meta["estimator"], det)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path / CONFIG_FILE}: invalid estimator description ({exc})") from None
    return det
