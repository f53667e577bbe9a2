"""The data of a training run: checked once as arrays, then placed on the training device.

The whole training set lives on the device as one tensor and each step gathers its batch with a
single ``index_select`` (no DataLoader, no collation); a read-only memory-mapped file stays on disk
and batches are gathered from it (:class:`~hourglass.streaming.MappedRows`). Convolutional
image models train in channels-last memory on the CPU, where oneDNN's kernels are fastest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hourglass.errors import InvalidInputError
from hourglass.labels import check_labels
from hourglass.streaming import MappedRows, is_mapped
from hourglass.validation import check_model_input


@dataclass
class TrainingArrays:
    """The arrays of a run, checked against the model: inputs, targets (None = the inputs), class
    labels for a conditional model, and the validation set."""

    x: np.ndarray
    target: np.ndarray | None
    labels: np.ndarray | None
    val_x: np.ndarray | None
    val_target: np.ndarray | None
    val_labels: np.ndarray | None

    @classmethod
    def check(cls, model, x, target, validation, labels, validation_labels) -> TrainingArrays:
        x = check_model_input(model, x, "x")
        target = None if target is None else check_model_input(model, target, "target")
        if target is not None and len(target) != len(x):
            raise InvalidInputError(f"x has {len(x)} samples but target has {len(target)}")
        val_x = val_target = None
        if isinstance(validation, tuple):
            if len(validation) != 2:
                raise InvalidInputError("validation must be an array or a tuple (inputs, targets)")
            val_x = check_model_input(model, validation[0], "validation input")
            val_target = check_model_input(model, validation[1], "validation target")
            if len(val_x) != len(val_target):
                raise InvalidInputError(
                    f"validation inputs have {len(val_x)} samples but targets have {len(val_target)}"
                )
        elif validation is not None:
            val_x = check_model_input(model, validation, "validation")
        labels = check_labels(model, labels, len(x))
        val_labels = None if val_x is None else check_labels(model, validation_labels, len(val_x), "validation_labels")
        return cls(x, target, labels, val_x, val_target, val_labels)

    def targets(self) -> dict[str, np.ndarray]:
        """What the model must learn to output, by name (for a model's range checks)."""
        return {
            "target": self.x if self.target is None else self.target,
            "validation target": self.val_x if self.val_target is None else self.val_target,
        }


def uses_conv2d(model: torch.nn.Module) -> bool:
    return any(isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) for m in model.modules())


class DeviceData:
    """A run's arrays on ``device``: training rows gathered batch by batch, and the validation set."""

    def __init__(self, arrays: TrainingArrays, model, device: torch.device):
        self.channels_last = device.type == "cpu" and len(model.input_shape) == 3 and uses_conv2d(model)
        self.memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        self.shape = tuple(model.input_shape)
        self.device = device
        self.x, self.target = self._rows(arrays.x), self._rows(arrays.target)
        self.labels = None if arrays.labels is None else torch.from_numpy(arrays.labels).to(device)
        self.val_x, self.val_target = self._tensor(arrays.val_x), self._tensor(arrays.val_target)
        self.val_labels = None if arrays.val_labels is None else torch.from_numpy(arrays.val_labels).to(device)
        if self.val_x is not None and self.val_target is None:
            self.val_target = self.val_x

    def __len__(self) -> int:
        return len(self.x)

    def _tensor(self, a):
        return None if a is None else torch.from_numpy(a).to(self.device).contiguous(memory_format=self.memory_format)

    def _rows(self, a):
        # a memory-mapped file stays on disk: batches are gathered from it (hourglass.streaming)
        return MappedRows(a, self.shape, self.device, self.memory_format) if is_mapped(a) else self._tensor(a)

    def sample(self) -> torch.Tensor:
        """Training targets on the device (the first rows of a mapped file), for statistics."""
        rows = self.x if self.target is None else self.target
        return rows.head() if isinstance(rows, MappedRows) else rows

    def batch(self, index) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(inputs, targets, labels) of the rows ``index`` (a slice or a tensor of row numbers)."""
        if isinstance(index, slice):
            xb = self.x[index]
            tb = xb if self.target is None else self.target[index]
            return xb, tb, None if self.labels is None else self.labels[index]
        if index.dim() == 2:  # members, each on its own rows: (N, b) -> (N, b, *shape)
            return self._member_batch(index)
        xb = self.x.index_select(0, index)
        tb = xb if self.target is None else self.target.index_select(0, index)
        lb = None if self.labels is None else self.labels.index_select(0, index)
        if self.channels_last:
            xb = xb.contiguous(memory_format=self.memory_format)
            tb = xb if self.target is None else tb.contiguous(memory_format=self.memory_format)
        return xb, tb, lb

    def _member_batch(self, index: torch.Tensor):
        flat = index.reshape(-1)
        xb = self.x.index_select(0, flat).view(*index.shape, *self.shape)
        tb = xb if self.target is None else self.target.index_select(0, flat).view_as(xb)
        return xb, tb, None

    def binarize_validation(self, generator: torch.Generator) -> None:
        """Dynamic binarisation's validation set: drawn once, fixed, so epochs compare alike."""
        if self.val_x is not None and self.val_target is self.val_x:
            self.val_x = self.val_target = torch.bernoulli(self.val_x, generator=generator)

    def corrupt_validation(self, corruption, generator: torch.Generator) -> None:
        """With a corruption and no validation targets, the validation inputs are corrupted once
        (fixed noise) and the clean ones are the targets, as in the classic denoising tutorial."""
        if corruption is not None and self.val_x is not None and self.val_target is self.val_x:
            self.val_x = corruption(self.val_x, generator)

    def release(self) -> None:
        for rows in (self.x, self.target):
            if isinstance(rows, MappedRows):
                rows.release()


def check_member_rows(rows, model, n: int) -> np.ndarray | None:
    """``member_rows`` of ``hg.fit``: member k's training rows, (N, m) row numbers of ``x``."""
    if rows is None:
        return None
    n_members = model.n_members
    if n_members is None:
        raise InvalidInputError(f"member_rows is for a model of several members; the {model.name!r} model has one")
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[0] != n_members or rows.shape[1] < 1 or not np.issubdtype(rows.dtype, np.integer):
        raise InvalidInputError(
            f"member_rows must be integer row numbers of shape ({n_members}, m), got shape {rows.shape} of {rows.dtype}"
        )
    if rows.min() < 0 or rows.max() >= n:
        raise InvalidInputError(f"member_rows must lie in [0, {n}), the rows of x")
    return rows.astype(np.int64)
