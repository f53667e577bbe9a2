"""Reader for the IDX format of MNIST and Fashion-MNIST, with the checks a corrupt file needs."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from hourglass.errors import DataFileError

_UBYTE = 0x08


def read_idx(path: Path, expected_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Read an IDX file of unsigned bytes (gzip-compressed or raw) into a ``uint8`` array.

    Raises :class:`DataFileError` naming the file when it is not gzip / IDX, its header is wrong,
    or its payload is shorter or longer than the header says.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataFileError(f"{path}: cannot decompress ({exc}); the file is truncated or corrupt") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataFileError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    if raw[2] != _UBYTE:
        raise DataFileError(f"{path}: IDX data type 0x{raw[2]:02x} is not unsigned byte (0x08)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataFileError(f"{path}: IDX header truncated ({len(raw)} bytes)")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected_bytes = int(np.prod(dims))
    payload = len(raw) - header
    if payload != expected_bytes:
        what = "truncated" if payload < expected_bytes else "has trailing bytes"
        raise DataFileError(f"{path}: {what}: header says {dims} = {expected_bytes} bytes, file holds {payload}")
    if expected_shape is not None and dims != tuple(expected_shape):
        raise DataFileError(f"{path}: holds an array of shape {dims}, expected {tuple(expected_shape)}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def load_idx_dataset(name: str, folder: str, resources: dict, class_names: tuple[str, ...], **fetch_kw):
    """Load a 28x28 image set stored as four IDX files (train / test images and labels).

    ``resources`` maps ``"train_images"``, ``"train_labels"``, ``"test_images"``,
    ``"test_labels"`` to :class:`~hourglass.datasets.files.Resource`. Images come out float32
    ``(n, 1, 28, 28)`` in [0, 1]; labels int64.
    """
    from hourglass.datasets.base import Dataset
    from hourglass.datasets.files import fetch

    arrays, sources = {}, {}
    for split, n in (("train", 60000), ("test", 10000)):
        img_path = fetch(folder, resources[f"{split}_images"], **fetch_kw)
        lab_path = fetch(folder, resources[f"{split}_labels"], **fetch_kw)
        images = read_idx(img_path, (n, 28, 28))
        labels = read_idx(lab_path, (n,))
        if labels.max() >= len(class_names):
            raise DataFileError(f"{lab_path}: label {labels.max()} outside 0..{len(class_names) - 1}")
        arrays[f"x_{split}"] = (images.astype(np.float32) / 255.0)[:, None, :, :]
        arrays[f"y_{split}"] = labels.astype(np.int64)
        sources[split] = [str(img_path), str(lab_path)]
    return Dataset(name=name, class_names=class_names, info={"files": sources}, **arrays)
