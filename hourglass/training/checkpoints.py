"""Training checkpoints: everything ``hg.fit`` needs to continue a run exactly where it stopped.

A checkpoint is two files named by the epoch it ends: ``epoch-000003.safetensors`` (model weights,
the optimizer's state, the random generators' states, the current shuffle order, the best
weights for early stopping) and ``epoch-000003.json`` (epoch, position in the batch stream,
early-stopping counters, the optimizer's settings, the history, and a fingerprint of the run's
settings and data). What goes in is :class:`~hourglass.training.state.TrainState`'s; this module
writes, prunes and finds the files. Both are
written atomically, the tensors first: the JSON is the commit marker, so a process killed while
writing leaves the previous checkpoint as the latest complete one. No pickle is involved.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from hourglass.atomic import read_json, write_bytes_atomic, write_json_atomic
from hourglass.errors import HourglassError, ModelFileError

FORMAT = "hourglass-checkpoint"
# 2 (0.2): the noise generator's state is its own ("rng/noise"), the optimizer's parameter groups
# are in the JSON. Format 1 (0.1.0) still resumes: weights, optimizer, shuffle and position exactly;
# the noise stream then starts afresh from the seed.
FORMAT_VERSION = 2
KEEP = 2  # complete checkpoints kept on disk: the newest and the one before it
_NAME = re.compile(r"^epoch-(\d{6})\.json$")


class CheckpointFormatError(ModelFileError):
    """A checkpoint was written by a newer hourglass."""


class CheckpointMismatchError(HourglassError, ValueError):
    """``resume=True`` found a checkpoint of a different run (other model, data or settings)."""


def data_fingerprint(x: np.ndarray) -> str:
    """Shape, dtype and a CRC of up to 1,024 evenly spaced rows: cheap, and enough to tell
    another data set from the one a checkpoint was trained on."""
    rows = np.linspace(0, len(x) - 1, num=min(len(x), 1024)).astype(np.int64) if len(x) else np.zeros(0, np.int64)
    crc = zlib.crc32(np.ascontiguousarray(x[rows]).tobytes())
    return f"{x.shape}:{x.dtype}:{crc:08x}"


def save_checkpoint(directory, epoch: int, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Write the checkpoint that ends ``epoch`` (counted from 1) and prune older ones."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"epoch-{epoch:06d}"
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    write_bytes_atomic(directory / f"{stem}.safetensors", save(tensors))
    write_json_atomic(
        directory / f"{stem}.json",
        {"format": FORMAT, "format_version": FORMAT_VERSION, "epoch": epoch, "weights": f"{stem}.safetensors", **meta},
    )
    for old in complete_checkpoints(directory)[:-KEEP]:
        old.with_suffix(".safetensors").unlink(missing_ok=True)
        old.unlink(missing_ok=True)
    return directory / f"{stem}.json"


def complete_checkpoints(directory) -> list[Path]:
    """The JSON files of complete checkpoints in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _NAME.match(p.name) and p.with_suffix(".safetensors").is_file()]
    return sorted(found)


def load_latest(directory) -> tuple[dict, dict[str, torch.Tensor]] | None:
    """(meta, tensors) of the newest readable checkpoint, or None when there is none. A newest
    checkpoint that cannot be read (a disk error, a hand-edited file) falls back to the one before."""
    errors = []
    for path in reversed(complete_checkpoints(directory)):
        try:
            meta = read_json(path.read_text())
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise ModelFileError(f"{path} is not an hourglass checkpoint")
            version = meta.get("format_version")
            if isinstance(version, int) and version > FORMAT_VERSION:
                raise CheckpointFormatError(
                    f"{path} was written by a newer hourglass (checkpoint format "
                    f"{version}); upgrade hourglass to resume it"
                )
            return meta, load_file(str(path.with_name(meta["weights"])))
        except CheckpointFormatError:
            raise
        except (OSError, ValueError, KeyError, TypeError, SafetensorError) as exc:
            errors.append(f"{path.name}: {exc}")
    if errors:
        raise ModelFileError(f"no readable checkpoint in {directory}: " + "; ".join(errors))
    return None
