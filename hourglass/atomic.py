"""Atomic file writes: a file is written beside its destination, synced, and renamed into place,
so an interrupted write leaves the previous version (or nothing), never half a file."""

from __future__ import annotations

import json
import math
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


# Strict JSON: NaN and Infinity are not JSON (RFC 8259), and many parsers (JavaScript's, jq,
# Go's, databases') refuse Python's ``NaN`` literal. They are written as null, and a top-level
# note maps each one's JSON pointer (RFC 6901) to "nan", "inf" or "-inf", so read_json gives
# back exactly what was written.
NONFINITE_NOTE = "nonfinite"


def _nulled(value, pointer: str, found: dict):
    if isinstance(value, np.generic | np.ndarray):
        value = json_default(value)
    if isinstance(value, float) and not math.isfinite(value):
        found[pointer or "/"] = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return None
    if isinstance(value, dict):
        return {
            k: _nulled(v, f"{pointer}/{str(k).replace('~', '~0').replace('/', '~1')}", found) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_nulled(v, f"{pointer}/{i}", found) for i, v in enumerate(value)]
    return value


def strict_json(payload, *, indent: int | None = 2) -> str:
    """``payload`` as strict JSON: non-finite floats become null, noted under ``"nonfinite"``
    when ``payload`` is a dict (``{"/history/loss/3": "nan"}``); NumPy values as Python's."""
    found: dict = {}
    clean = _nulled(payload, "", found)
    if found and isinstance(clean, dict):
        clean[NONFINITE_NOTE] = found
    return json.dumps(clean, indent=indent, default=json_default, allow_nan=False)


def read_json(text: str):
    """Parse JSON written by :func:`strict_json` (or by an older release, ``NaN`` literals
    included), putting back the non-finite values its note lists."""
    data = json.loads(text)
    if isinstance(data, dict) and isinstance(data.get(NONFINITE_NOTE), dict):
        note = data.pop(NONFINITE_NOTE)
        for pointer, kind in note.items():
            if kind not in ("nan", "inf", "-inf") or not isinstance(pointer, str) or not pointer.startswith("/"):
                raise ValueError(f"invalid {NONFINITE_NOTE!r} note entry {pointer!r}: {kind!r}")
            *parents, last = [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]
            node = data
            for part in parents:
                node = node[int(part)] if isinstance(node, list) else node[part]
            node[int(last) if isinstance(node, list) else last] = float(kind)
    return data


def write_json_atomic(path, payload) -> Path:
    return write_bytes_atomic(path, strict_json(payload).encode("utf-8"))
