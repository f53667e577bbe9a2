"""What a saveable object turns itself into, and back: JSON plus named tensors.

Every class ``hg.save`` takes (a model, a detector, an ensemble, a scikit-learn estimator) owns its
saved state: ``obj.to_saved()`` returns a :class:`SavedState` and ``cls.from_saved(state, device)``
rebuilds the object from one. ``hourglass.io`` only writes and reads the folder (the JSON file,
two safetensors files, atomically) and looks up which class a folder holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class SavedState:
    """``meta``: JSON-ready description; ``weights``: model tensors (``model.safetensors``);
    ``arrays``: fitted NumPy arrays such as calibration scores (``detector.safetensors``)."""

    meta: dict
    weights: dict[str, torch.Tensor] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def prefixed(mapping: dict, prefix: str) -> dict:
    """``mapping`` with ``prefix`` before every key (a member's tensors inside an ensemble's file)."""
    return {prefix + k: v for k, v in mapping.items()}


def under(mapping: dict, prefix: str) -> dict:
    """The entries of ``mapping`` whose key starts with ``prefix``, without it."""
    return {k[len(prefix) :]: v for k, v in mapping.items() if k.startswith(prefix)}


def float64_array(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)
