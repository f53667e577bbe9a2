"""Save and load models and detectors as a folder: safetensors weights plus one JSON file.

The folder (format 1, unchanged since 0.1.0)::

    hourglass.json        format, versions, kind, and the object's own description
    model.safetensors     model weights (an ensemble's members under member<k>/)
    detector.safetensors  a detector's fitted arrays (calibration scores, l2 scale, ensemble
                          standardisation), when it has any

Since 0.2 the description holds ``"checksums"``: the SHA-256 of each safetensors file and of the
description itself (without that entry, in canonical form), verified by :func:`load`.

Each saveable class writes and reads its own part (``to_saved`` / ``from_saved``, see
:mod:`hourglass.saving`); this module writes the folder atomically (beside its destination, then
renamed into place, so an interrupted save leaves the previous version intact), reads it back,
checks the format version and looks up which class a folder holds. Nothing is pickled, so loading
a folder from someone else cannot execute code.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import socket
import time
import uuid
from pathlib import Path

import numpy as np
import torch

from hourglass.atomic import read_json, strict_json
from hourglass.datasets.files import sha256sum
from hourglass.detection.base import BaseDetector
from hourglass.detection.detector import Detector
from hourglass.detection.ensemble import DetectorEnsemble
from hourglass.detection.series import SeriesDetector
from hourglass.devices import resolve_device
from hourglass.errors import HourglassError, InvalidInputError, ModelFileError, SaveError
from hourglass.models.base import Autoencoder, WeightsMismatchError
from hourglass.saving import SavedState
from hourglass.version import __version__

FORMAT = "hourglass"
FORMAT_VERSION = 1
CONFIG_FILE = "hourglass.json"
WEIGHTS_FILE = "model.safetensors"
DETECTOR_ARRAYS_FILE = "detector.safetensors"
CHECKSUMS = "checksums"  # file name -> SHA-256, written by save and verified by load (since 0.2)

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

    The folder is written beside ``path`` (``.NAME.tmp-...``) and renamed into place, so a save
    that is killed leaves the earlier one intact; the next save to ``path`` removes what killed
    saves left there (only where their process is gone; see :func:`remove_stale`). A write that
    fails (a full disk, no permission) raises :class:`~hourglass.SaveError` naming ``path``.
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
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    tmp = path.parent / f".{path.name}.tmp-{_writer_tag()}-{uuid.uuid4().hex[:8]}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(path)
        tmp.mkdir()
        save_file(state.weights, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT})
        if state.arrays:
            arrays = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.arrays.items()}
            save_file(arrays, str(tmp / DETECTOR_ARRAYS_FILE), metadata={"format": FORMAT})
        sums = {name: sha256sum(tmp / name) for name in (WEIGHTS_FILE, DETECTOR_ARRAYS_FILE) if (tmp / name).is_file()}
        sums[CONFIG_FILE] = _description_digest(read_json(strict_json(meta)))  # as load will read it back
        with open(tmp / CONFIG_FILE, "w") as f:
            f.write(strict_json({**meta, CHECKSUMS: sums}))
            f.flush()
            os.fsync(f.fileno())
        old = None
        if path.exists():
            old = path.parent / f".{path.name}.old-{_writer_tag()}-{uuid.uuid4().hex[:8]}"
            path.rename(old)
        tmp.rename(path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except (SafetensorError, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        kept = "the earlier save there is intact" if path.is_dir() else "nothing was saved"
        raise SaveError(f"could not save to {path}: {exc} ({kept})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _description_digest(meta: dict) -> str:
    """SHA-256 of the description without its checksums, in a canonical form (sorted keys, no
    spaces): an edited value (a threshold, a setting) changes it; re-indenting does not."""
    body = {k: v for k, v in meta.items() if k != CHECKSUMS}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _verify(path: Path, meta: dict) -> None:
    """Each file against the checksum the save wrote into the description (folders saved before
    0.2 have none, and are not checked)."""
    sums = meta.get(CHECKSUMS)
    if sums is None:
        return
    if not isinstance(sums, dict):
        raise ModelFileError(f"{path / CONFIG_FILE}: invalid checksums entry {sums!r}")
    skip = "; hg.load(path, verify=False) loads it anyway (for a folder edited on purpose)"
    for name, expected in sums.items():
        if name not in (WEIGHTS_FILE, DETECTOR_ARRAYS_FILE, CONFIG_FILE):
            raise ModelFileError(f"{path / CONFIG_FILE}: checksum for an unknown file {name!r}")
        if name != CONFIG_FILE and not (path / name).is_file():
            raise ModelFileError(f"{path}: missing {name}, which the save wrote")
        actual = _description_digest(meta) if name == CONFIG_FILE else sha256sum(path / name)
        if actual != expected:
            what = "the description was edited" if name == CONFIG_FILE else "the file was changed"
            raise ModelFileError(
                f"{path / name}: does not match the checksum saved in {CONFIG_FILE} ({what} or "
                f"corrupted after saving){skip}"
            )


def _check_finite_tensors(path: Path, tensors: dict) -> None:
    """A saved tensor with NaN / inf gives NaN scores: refused on load, naming the tensor."""
    for key, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ModelFileError(
                f"{path}: {key!r} holds NaN or inf values (training diverged before the save, or the "
                "file was changed); refit the model, with a lower lr if its loss grew"
            )


# A save writes into ``.NAME.tmp-<host>-<pid>-<random>`` beside the target and renames it into
# place; a writer killed mid-save (SIGKILL, power loss) leaves that folder behind. The next save
# of the same target removes the ones whose writer is gone: same host, process no longer alive
# (a pid reused since keeps its folder: the safe side). Folders of releases before 0.2 carry no
# writer, ``.NAME.tmp-<random>``: they are removed once nothing in them changed for an hour.
_LEGACY_STALE_SECONDS = 3600.0


def _writer_tag() -> str:
    return f"{_host_tag()}-{os.getpid()}"


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def remove_stale(path) -> list[Path]:
    """Remove the temporary folders that interrupted saves of ``path`` left beside it (only those
    whose writer is gone); returns what it removed."""
    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    for kind in ("tmp", "old"):
        # newest first: where several interrupted swaps left earlier saves, the latest goes back
        found = path.parent.glob(f".{glob.escape(path.name)}.{kind}-*")
        for leftover in sorted(found, key=_modified, reverse=True):
            tag = leftover.name.rsplit(f".{kind}-", 1)[1]
            if not leftover.is_dir() or leftover.is_symlink() or not _writer_gone(tag, leftover):
                continue
            if kind == "old" and not path.exists():
                # killed between moving the earlier save aside and moving the new one in: the
                # earlier save is the only copy, so it goes back into place
                leftover.rename(path)
                continue
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover)
    return removed


def _modified(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


def _set_aside(path: Path) -> list[Path]:
    """Earlier saves of ``path`` that an interrupted save left set aside (for a load's error)."""
    if not path.parent.is_dir():
        return []
    return sorted(path.parent.glob(f".{glob.escape(path.name)}.old-*"), key=_modified)


def _writer_gone(tag: str, folder: Path) -> bool:
    parts = tag.split("-")
    if len(parts) == 3 and parts[1].isdigit():
        host, pid = parts[0], int(parts[1])
        return host == _host_tag() and pid != os.getpid() and not _alive(pid)
    if len(parts) == 1:  # a folder of an earlier release
        try:
            newest = max([folder.stat().st_mtime, *(f.stat().st_mtime for f in folder.iterdir())])
        except OSError:
            return False
        return time.time() - newest > _LEGACY_STALE_SECONDS
    return False


def _alive(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would end the process on Windows: keep the folder
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process (EPERM): alive
        return True
    return True


def load(path, *, device: str | torch.device = "cpu", verify: bool = True):
    """Load a model, detector, ensemble or estimator saved by :func:`save`. Never unpickles anything.

    Anything wrong with the folder (a missing, truncated or corrupt file, a hand-edited description
    with wrong types) raises :class:`~hourglass.ModelFileError` naming the file. So does a file
    that no longer matches the SHA-256 checksum the save wrote into ``hourglass.json`` (a flipped
    byte, an edited threshold), unless ``verify=False`` (for a folder edited on purpose), and a
    weight or fitted array holding NaN or inf, always.
    """
    path = Path(path)
    meta = _read_meta(path)
    device = resolve_device(device)
    weights = _read_tensors(path / WEIGHTS_FILE, required=True)
    arrays = _read_tensors(path / DETECTOR_ARRAYS_FILE)
    if verify:  # after the reads, so that a truncated file is named as such
        _verify(path, meta)
    meta.pop(CHECKSUMS, None)
    _check_finite_tensors(path / WEIGHTS_FILE, weights)
    _check_finite_tensors(path / DETECTOR_ARRAYS_FILE, arrays)
    state = SavedState(meta, weights, {k: v.numpy() for k, v in arrays.items()})
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
        aside = _set_aside(path)
        if aside:
            raise ModelFileError(
                f"{path}: no such model folder; an interrupted save left the earlier one at {aside[-1]} "
                "(the next hg.save to this path puts it back, or rename it yourself)"
            )
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
