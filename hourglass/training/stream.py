"""The batch stream: which rows each training step takes.

Batches come from one endless stream of passes over the ``n`` rows; a pass (a new shuffle, drawn
from the stream's own generator) starts whenever the last one is used up: at each epoch's start,
unless ``steps_per_epoch`` cuts epochs shorter or longer than one pass. Under torchrun every
process draws the same order and takes its share of each global batch. The stream saves and
restores itself (order, position, generator) so that a resumed run takes exactly the batches the
interrupted one would have.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Batch:
    """One step's rows: ``index`` (a slice, or a tensor of row numbers) of this process's share,
    ``rows`` the size of the whole (global) batch; ``index`` is None when the batch is skipped."""

    index: slice | torch.Tensor | None
    rows: int


class BatchStream:
    """Batches of ``batch_size`` row indices over ``n`` rows (the last of a pass may be smaller).

    Parameters
    ----------
    shuffle : bool
        A new random order for every pass (else the rows in order).
    generator : torch.Generator
        Draws the orders; on the device the data lives on.
    share : Distributed, optional
        Under torchrun: this process takes its share of each global batch, and a last batch with
        fewer rows than processes is skipped by all.
    """

    def __init__(self, n: int, batch_size: int, *, shuffle: bool, generator: torch.Generator, share=None):
        self.n, self.batch_size, self.shuffle = n, batch_size, shuffle
        self.generator, self.share = generator, share
        self.position = n  # the current pass is used up: the first batch starts a new one
        self.order: torch.Tensor | None = None

    def next(self) -> Batch:
        if self.position >= self.n:
            self.position = 0
            # Shuffled batches are gathered one at a time: a batch-sized copy stays in cache, where
            # shuffling the whole set at once would stream it through memory twice.
            self.order = (
                torch.randperm(self.n, device=self.generator.device, generator=self.generator) if self.shuffle else None
            )
        lo, hi = self.position, min(self.position + self.batch_size, self.n)
        self.position = hi
        rows = hi - lo
        if self.share is not None:
            if rows < self.share.world:
                return Batch(None, rows)  # a last batch with fewer rows than processes: all skip it
            lo, hi = self.share.share(lo, hi)
        return Batch(slice(lo, hi) if self.order is None else self.order[lo:hi], rows)

    # -- checkpoints -------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """(tensors, JSON) that :meth:`restore` takes back."""
        tensors = {"rng": self.generator.get_state()}
        if self.order is not None:
            tensors["order"] = self.order
        return tensors, {"position": self.position}

    def restore(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        self.generator.set_state(tensors["rng"])
        self.position = int(meta["position"])
        order = tensors.get("order")
        self.order = None if order is None else order.to(self.generator.device)
