"""A training run's state: what a checkpoint holds and a resumed run restores.

:class:`TrainState` gathers the parts (model weights, optimizer, batch stream, random generators,
early stopping, history, epoch) and turns them into checkpoint tensors plus JSON and back; each
part owns its own piece.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch

from hourglass.history import History
from hourglass.training.optim import load_optimizer_state, optimizer_state
from hourglass.training.stream import BatchStream


def _under(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + k: v for k, v in tensors.items()}


class EarlyStopping:
    """Tracks the monitored loss (validation if any, else training); stops after ``patience``
    epochs without an improvement of ``min_delta``, keeping the best weights when asked to."""

    def __init__(self, patience: int | None, min_delta: float, restore_best: bool):
        self.patience, self.min_delta, self.restore_best = patience, min_delta, restore_best
        self.best, self.bad_epochs, self.best_state = math.inf, 0, None

    active = torch.ones(1, dtype=torch.bool)  # the one member trains until the run stops

    def after_step(self) -> None:
        """Called after every optimizer step (a model of one member has nothing to hold)."""

    def update(self, monitored, epoch: int, model: torch.nn.Module, history: History) -> bool:
        """Record epoch ``epoch``'s monitored loss (a float, or a one-member tensor); True when
        training should stop."""
        monitored = float(monitored[0]) if isinstance(monitored, torch.Tensor) else monitored
        if monitored < self.best - self.min_delta:
            self.best, self.bad_epochs, history.best_epoch = monitored, 0, epoch
            if self.patience is not None and self.restore_best:
                self.best_state = copy.deepcopy(model.state_dict())
            return False
        self.bad_epochs += 1
        if self.patience is not None and self.bad_epochs >= self.patience:
            history.stopped_early = True
            return True
        return False

    def restore_best_weights(self, model: torch.nn.Module, history: History) -> None:
        if history.stopped_early and self.best_state is not None:
            model.load_state_dict(self.best_state)

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        return (self.best_state or {}), {
            "best": self.best if math.isfinite(self.best) else None,
            "bad_epochs": self.bad_epochs,
        }

    def restore(self, tensors: dict[str, torch.Tensor], meta: dict, device) -> None:
        self.best = meta["best"] if meta["best"] is not None else math.inf
        self.bad_epochs = meta["bad_epochs"]
        self.best_state = {k: v.to(device) for k, v in tensors.items()} or None


class MemberStopping:
    """Early stopping per member of a model whose parameters stack N members on their first axis
    (a ``DenseEnsemble``): each member's monitored loss decides when it stops; a member that
    stops goes back to its best weights (with ``restore_best``) and is held there after every
    later step (its optimizer state moves on, its weights do not), and the run stops when the last
    member has. ``history.members`` gets each member's best epoch and whether it stopped early."""

    def __init__(self, patience: int | None, min_delta: float, restore_best: bool, model: torch.nn.Module):
        self.patience, self.min_delta, self.restore_best = patience, min_delta, restore_best
        self.names = [name for name, p in model.named_parameters() if p.requires_grad]
        self.params = [p for p in model.parameters() if p.requires_grad]
        n = len(self.params[0])
        self.best = torch.full((n,), math.inf, dtype=torch.float64)
        self.bad_epochs = torch.zeros(n, dtype=torch.long)
        self.active = torch.ones(n, dtype=torch.bool)
        self.keeps_best = patience is not None and restore_best
        self.best_state = [p.detach().clone() for p in self.params] if self.keeps_best else None
        self.held: tuple[torch.Tensor, list[torch.Tensor]] | None = None  # stopped members' rows

    def update(self, monitored: torch.Tensor, epoch: int, model: torch.nn.Module, history: History) -> bool:
        """Record epoch ``epoch``'s monitored losses, (N,); True when every member has stopped."""
        improved = (monitored < self.best - self.min_delta) & self.active
        stopping = torch.zeros_like(self.active)
        for k, member in enumerate(history.members):
            if not self.active[k]:
                continue
            if improved[k]:
                self.best[k], self.bad_epochs[k], member.best_epoch = monitored[k], 0, epoch
            else:
                self.bad_epochs[k] += 1
                if self.patience is not None and self.bad_epochs[k] >= self.patience:
                    member.stopped_early, stopping[k] = True, True
        self._keep_best(improved)
        if stopping.any():
            self._stop(stopping)
        history.stopped_early = all(m.stopped_early for m in history.members)
        return not bool(self.active.any())

    @torch.no_grad()
    def _keep_best(self, improved: torch.Tensor) -> None:
        if self.keeps_best and improved.any():
            index = improved.nonzero().flatten().to(self.params[0].device)
            for p, best in zip(self.params, self.best_state):
                best.index_copy_(0, index, p.detach().index_select(0, index))

    @torch.no_grad()
    def _stop(self, stopping: torch.Tensor) -> None:
        self.active &= ~stopping
        if self.keeps_best:
            index = stopping.nonzero().flatten().to(self.params[0].device)
            for p, best in zip(self.params, self.best_state):
                p.index_copy_(0, index, best.index_select(0, index))
        self._hold()

    def _hold(self) -> None:
        """Take the stopped members' weights as they are now, to re-set after every later step."""
        stopped = (~self.active).nonzero().flatten().to(self.params[0].device)
        if not len(stopped) or not self.active.any():
            self.held = None
            return
        self.held = (stopped, [p.detach().index_select(0, stopped) for p in self.params])

    @torch.no_grad()
    def after_step(self) -> None:
        if self.held is not None:
            index, values = self.held
            for p, value in zip(self.params, values):
                p.index_copy_(0, index, value)

    def restore_best_weights(self, model: torch.nn.Module, history: History) -> None:
        """Nothing left to do: each member went back to its best weights when it stopped."""

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        tensors = {} if self.best_state is None else dict(zip(self.names, self.best_state))
        best = [float(b) if math.isfinite(b) else None for b in self.best.tolist()]
        return tensors, {"best": best, "bad_epochs": self.bad_epochs.tolist(), "active": self.active.tolist()}

    def restore(self, tensors: dict[str, torch.Tensor], meta: dict, device) -> None:
        self.best = torch.tensor([math.inf if b is None else b for b in meta["best"]], dtype=torch.float64)
        self.bad_epochs = torch.tensor(meta["bad_epochs"], dtype=torch.long)
        self.active = torch.tensor(meta["active"], dtype=torch.bool)
        if self.best_state is not None:
            self.best_state = [tensors[name].to(device) for name in self.names]
        self._hold()  # the weights restored hold the stopped members' values


@dataclass
class TrainState:
    """Everything a run carries from one step to the next.

    ``seeded``: the run owns torch's global generator (it was seeded for the run), so its state
    is part of the checkpoint.
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    stream: BatchStream
    noise: torch.Generator
    early: EarlyStopping | MemberStopping
    history: History
    device: torch.device
    seeded: bool
    epoch: int = 0  # epochs completed

    def checkpoint(self) -> tuple[dict[str, torch.Tensor], dict]:
        """(tensors, JSON) of the state after ``epoch`` epochs."""
        tensors = _prefixed(self.model.state_dict(), "model/")
        optim_tensors, optim_meta = optimizer_state(self.optimizer)
        tensors.update(_prefixed(optim_tensors, "optim/"))
        stream_tensors, stream_meta = self.stream.state()
        tensors["rng/batches"] = stream_tensors["rng"]
        tensors["rng/noise"] = self.noise.get_state()
        if "order" in stream_tensors:
            tensors["stream/order"] = stream_tensors["order"]
        if self.seeded:
            tensors["rng/torch"] = torch.get_rng_state()
            if self.device.type == "cuda":
                tensors["rng/cuda"] = torch.cuda.get_rng_state(self.device)
        best_tensors, early_meta = self.early.state()
        tensors.update(_prefixed(best_tensors, "best/"))
        meta = {**stream_meta, **early_meta, "optimizer": optim_meta, "history": self.history.to_dict()}
        return tensors, meta

    def restore(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        """Inverse of :meth:`checkpoint`: the run continues after ``meta["epoch"]`` epochs."""
        self.model.load_state_dict(_under(tensors, "model/"))
        load_optimizer_state(
            self.optimizer, {k: v.to(self.device) for k, v in _under(tensors, "optim/").items()}, meta.get("optimizer")
        )
        stream = {"rng": tensors["rng/batches"]}
        if "stream/order" in tensors:
            stream["order"] = tensors["stream/order"]
        self.stream.restore(stream, meta)
        if "rng/noise" in tensors:  # format 1 (0.1.0) drew one process's noise from the shuffle stream
            self.noise.set_state(tensors["rng/noise"])
        if self.seeded and "rng/torch" in tensors:
            torch.set_rng_state(tensors["rng/torch"])
            if self.device.type == "cuda" and "rng/cuda" in tensors:
                torch.cuda.set_rng_state(tensors["rng/cuda"], self.device)
        self.early.restore(_under(tensors, "best/"), meta, self.device)
        settings = self.history.settings
        self.history = History.from_dict(meta["history"])
        self.epoch = int(meta["epoch"])
        self.history.settings = {**settings, "resumed_from_epoch": self.epoch}
