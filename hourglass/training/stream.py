"""The batch stream: which rows each training step takes.

Batches come from one endless stream of passes over the ``n`` rows; a pass (a new shuffle, drawn
from the stream's own generator) starts whenever the last one is used up: at each epoch's start,
unless ``steps_per_epoch`` cuts epochs shorter or longer than one pass. Under torchrun every
process draws the same order and takes its share of each global batch. The stream saves and
restores itself (order, position, generator) so that a resumed run takes exactly the batches the
interrupted one would have.

A model of N members (a ``DenseEnsemble``) has one stream with N orders: each member shuffles its
rows (all of them, or its own subset, ``rows[k]``) with its own generator, and each step takes
the same positions of every member's order, an ``(N, b)`` index.
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
    generator : torch.Generator, or a sequence of them (one per member)
        Draws the orders; on the device the data lives on. With a sequence, each batch is an
        ``(N, b)`` tensor: member k's rows in its own order.
    rows : torch.Tensor, optional
        ``(N, m)`` row numbers: member k draws its batches from ``rows[k]`` only (then ``n`` is m).
    share : Distributed, optional
        Under torchrun: this process takes its share of each global batch, and a last batch with
        fewer rows than processes is skipped by all.
    """

    def __init__(self, n: int, batch_size: int, *, shuffle: bool, generator, rows=None, share=None):
        self.members = None if isinstance(generator, torch.Generator) else len(generator)
        self.generators = [generator] if self.members is None else list(generator)
        self.generator = self.generators[0]
        self.n, self.batch_size, self.shuffle, self.rows, self.share = n, batch_size, shuffle, rows, share
        self.position = n  # the current pass is used up: the first batch starts a new one
        self.order: torch.Tensor | None = None

    def next(self) -> Batch:
        if self.position >= self.n:
            self.position = 0
            # Shuffled batches are gathered one at a time: a batch-sized copy stays in cache, where
            # shuffling the whole set at once would stream it through memory twice.
            self.order = self._new_order()
        lo, hi = self.position, min(self.position + self.batch_size, self.n)
        self.position = hi
        rows = hi - lo
        if self.share is not None:
            if rows < self.share.world:
                return Batch(None, rows)  # a last batch with fewer rows than processes: all skip it
            lo, hi = self.share.share(lo, hi)
        if self.order is None:
            return Batch(slice(lo, hi), rows)
        return Batch(self.order[lo:hi] if self.members is None else self.order[:, lo:hi], rows)

    def _new_order(self) -> torch.Tensor | None:
        device = self.generator.device
        if self.members is None:
            return torch.randperm(self.n, device=device, generator=self.generator) if self.shuffle else None
        if self.shuffle:
            order = torch.stack([torch.randperm(self.n, device=device, generator=g) for g in self.generators])
        else:
            order = torch.arange(self.n, device=device).expand(self.members, self.n)
        return order if self.rows is None else torch.gather(self.rows, 1, order)

    # -- checkpoints -------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """(tensors, JSON) that :meth:`restore` takes back (members' generators stacked)."""
        states = [g.get_state() for g in self.generators]
        tensors = {"rng": states[0] if self.members is None else torch.stack(states)}
        if self.order is not None:
            tensors["order"] = self.order.contiguous()
        return tensors, {"position": self.position}

    def restore(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        states = [tensors["rng"]] if self.members is None else list(tensors["rng"])
        for g, state in zip(self.generators, states, strict=True):
            g.set_state(state.clone())  # a row of the stacked states: its own storage
        self.position = int(meta["position"])
        order = tensors.get("order")
        self.order = None if order is None else order.to(self.generator.device)
