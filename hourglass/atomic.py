"""Atomic file writes: a file is written beside its destination, synced, and renamed into place,
so an interrupted write leaves the previous version (or nothing), never half a file."""

from __future__ import annotations

import json
import os
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def atomic_open(path, mode: str = "wb", **kwargs):
    """``open`` for writing ``path`` atomically: the file appears, complete, when the block ends
    without an error, and not at all otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path, data: bytes) -> Path:
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def json_default(value):
    """``json.dumps(default=)`` for NumPy scalars and arrays; anything else as its string."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def write_json_atomic(path, payload) -> Path:
    return write_bytes_atomic(path, json.dumps(payload, indent=2, default=json_default).encode("utf-8"))
