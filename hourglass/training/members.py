"""Training the members of a :class:`~hourglass.models.DenseEnsemble` together.

``hg.fit(ensemble, x, ...)`` comes here. Every member keeps what a fit of its own would have, and
all members advance in the same steps:

- **its own rows and order**: member k trains on its rows (all of them, or the subset in
  ``member_rows[k]``), reshuffled every pass by its own shuffle stream (``Seeds`` of member k's
  seed, :func:`~hourglass.models.member_seeds`); each step gathers the N members' batches in one
  index and runs them through the stacked network as one ``(N, B, F)`` batch;
- **its own trimmed loss**: the ``trim`` fraction of its batch's worst rows left out, member by
  member; the members' losses are summed, so one backward pass gives every member the gradient
  of its own loss (no member's loss reaches another's weights);
- **one optimizer step for all** (Adam is element-wise, so member k's update is the update its
  own fit would make);
- **its own early stopping**: its validation loss (the shared validation rows) decides when it
  stops; a stopped member's weights go back to its best epoch and stay there (re-set after every
  later step), and training ends when the last member stops.

So a one-member ensemble trains exactly as ``hg.fit`` trains the ``stacked`` model it holds (the
same weights, bit for bit, on CPU: ``tests/test_members.py``), and member k of N follows the fit
of its own model with its own seed up to float rounding (the batched matmul sums in another order).
The corruption noise of all members comes from member 0's noise stream.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from hourglass.devices import resolve_device
from hourglass.errors import InvalidInputError
from hourglass.history import History
from hourglass.models.members import member_seeds
from hourglass.threads import for_model
from hourglass.training.callbacks import close_callbacks
from hourglass.training.data import TrainingArrays
from hourglass.training.distributed import launched_world_size
from hourglass.training.optim import make_optimizer
from hourglass.training.options import FitOptions
from hourglass.training.seeding import Seeds
from hourglass.training.trainer import TrainingError, _Progress, _settings

_UNSUPPORTED = {
    "checkpoint_dir": None,
    "resume": False,
    "compile": False,
    "optimizer": None,
    "kl_warmup": 0,
    "binarize": False,
}


def fit_members(
    model, x, target=None, *, corruption=None, validation=None, options: FitOptions, member_rows=None
) -> History:
    """Train every member of ``model`` (a DenseEnsemble) at once; see the module's notes.

    ``member_rows``: optional (N, m) row numbers, member k's training rows (the same count for
    all). Returns a History of the members' mean losses per epoch, ``members`` holding each
    member's own History (its losses, best epoch, whether it stopped early).
    """
    for name, default in _UNSUPPORTED.items():
        if getattr(options, name) != default:
            raise InvalidInputError(
                f"{name} is not available for a {model.name!r} model (its members train "
                "together); train its members as 'stacked' models to use it"
            )
    if launched_world_size() > 1:
        raise InvalidInputError(f"a {model.name!r} model trains in one process; launch it without torchrun")
    arrays = TrainingArrays.check(model, x, target, validation, None, None)
    run = _MembersRun(model, arrays, corruption, options, member_rows)
    try:
        with run.seeds[0].model_scope(run.device), run.threads:
            run.loop()
    finally:
        run.progress.close()
        close_callbacks(options.callbacks)
        model.eval()
    return run.history


class _MembersRun:
    """Set up in ``__init__``, trained by :meth:`loop`."""

    def __init__(self, model, arrays: TrainingArrays, corruption, opts: FitOptions, member_rows):
        self.model, self.opts, self.corruption = model, opts, corruption
        self.device = device = resolve_device(opts.device)
        model.to(device)
        n_members = model.n_members
        self.x = torch.from_numpy(arrays.x).to(device)
        self.target = None if arrays.target is None else torch.from_numpy(arrays.target).to(device)
        self.val_x = None if arrays.val_x is None else torch.from_numpy(arrays.val_x).to(device)
        self.val_target = self.val_x if arrays.val_target is None else torch.from_numpy(arrays.val_target).to(device)
        self.rows = _member_rows(member_rows, n_members, len(self.x), device)
        m = len(self.x) if self.rows is None else self.rows.shape[1]
        self.batch = min(opts.batch_size, m)
        self.n_rows = m
        self.steps = math.ceil(m / self.batch) if opts.steps_per_epoch is None else opts.steps_per_epoch
        self.position, self.orders = m, None  # an endless stream of passes, as hg.fit's BatchStream
        self.loss = opts.loss or model.default_loss
        model.prepare_training(
            opts, loss=self.loss, steps_per_epoch=self.steps, targets=arrays.targets(), sample=self.x
        )
        self.seeds = [Seeds(s) for s in member_seeds(opts.seed, n_members)]
        self.shuffles = [s.shuffle(device) for s in self.seeds]
        self.noise = self.seeds[0].noise(device)
        if corruption is not None and self.val_x is not None and arrays.val_target is None:
            self.val_x = corruption(self.val_x, self.seeds[0].validation(device))
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(self.params, lr=opts.lr, weight_decay=opts.weight_decay)
        self.autocast = (
            torch.autocast(device.type, dtype=torch.bfloat16)
            if opts.precision == "bf16"
            else torch.autocast(device.type, enabled=False)
        )
        settings = {
            **_settings(opts.replace(batch_size=self.batch), self.loss, self.steps, device, m, corruption),
            "n_members": n_members,
        }
        self.history = History(settings=settings, members=[History(settings={"seed": s.seed}) for s in self.seeds])
        self.best = torch.full((n_members,), math.inf)
        self.bad = torch.zeros(n_members, dtype=torch.long)
        self.active = torch.ones(n_members, dtype=torch.bool)
        self.best_state = [p.detach().clone() for p in self.params]
        self.progress = _Progress(opts, self.steps, f"{model.name} ({n_members} members)", quiet=False)
        self.threads = for_model(model, self.batch, opts.threads, device)

    # -- the loop ----------------------------------------------------------------------------
    def loop(self) -> None:
        opts, model = self.opts, self.model
        self.progress.start(0)
        for epoch in range(opts.epochs):
            started = time.perf_counter()
            model.train()
            losses, weights = [], []
            for i in range(self.steps):
                index = self._next_batch()
                xb = self.x.index_select(0, index.reshape(-1)).view(*index.shape, *self.x.shape[1:])
                tb = xb if self.target is None else self.target.index_select(0, index.reshape(-1)).view_as(xb)
                inp = xb if self.corruption is None else self.corruption(xb, self.noise)
                with self.autocast:
                    member_loss = model.training_loss(inp, tb, loss=self.loss).trimmed_mean(opts.trim)  # (N,)
                member_loss.sum().backward()
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                if self.frozen is not None:
                    self._hold_stopped()
                losses.append(member_loss.detach())
                weights.append(index.shape[1] / self.batch)
                self.progress.step(i)
            if self._end_epoch(epoch, started, losses, weights):
                break
            self.threads.revisit()  # other work may have started or ended on the machine

    frozen = None  # indices of the stopped members, once some have stopped and others train on

    def _next_batch(self) -> torch.Tensor:
        """The next (N, b) row numbers: a new pass (each member its own order) once one is used up."""
        if self.position >= self.n_rows:
            self.orders, self.position = self._orders(), 0
        lo, hi = self.position, min(self.position + self.batch, self.n_rows)
        self.position = hi
        return self.orders[:, lo:hi]

    def _orders(self) -> torch.Tensor:
        """This pass's (N, m) row numbers: each member's rows in its own new order."""
        n = self.n_rows
        if not self.opts.shuffle:
            base = torch.arange(n, device=self.device).expand(self.model.n_members, n)
        else:
            base = torch.stack([torch.randperm(n, device=self.device, generator=g) for g in self.shuffles])
        return base if self.rows is None else torch.gather(self.rows, 1, base)

    def _end_epoch(self, epoch: int, started: float, losses: list, weights: list) -> bool:
        """The epoch's bookkeeping and each member's stop rule; True when every member has stopped."""
        w = torch.tensor(weights, device=self.device)
        # each step's loss weighs by its share of a full batch, as hg.fit's epoch loss
        seen = sum(weights) * self.batch
        train = (torch.stack(losses).float() * w[:, None]).sum(0).cpu().double() * (self.batch / seen)
        if not torch.isfinite(train[self.active]).all():
            raise TrainingError(
                f"the training loss became {train.tolist()} at epoch {epoch + 1}; usual causes: "
                f"a learning rate too high (lr={self.opts.lr}) or unscaled inputs"
            )
        val = self._validation_losses() if self.val_x is not None else None
        seconds = time.perf_counter() - started
        monitored = val if val is not None else train
        improved = (monitored < self.best - self.opts.min_delta) & self.active
        stopping = torch.zeros_like(self.active)
        for k, h in enumerate(self.history.members):
            if not self.active[k]:
                continue
            h.train_loss.append(float(train[k]))
            if val is not None:
                h.val_loss.append(float(val[k]))
            h.epoch_seconds.append(seconds)
            if improved[k]:
                self.best[k], self.bad[k], h.best_epoch = monitored[k], 0, epoch + 1
            else:
                self.bad[k] += 1
                if self.opts.early_stopping is not None and self.bad[k] >= self.opts.early_stopping:
                    h.stopped_early, stopping[k] = True, True
        self._keep_best(improved)
        self.history.train_loss.append(float(train[self.active].mean()))
        if val is not None:
            self.history.val_loss.append(float(val[self.active].mean()))
        self.history.epoch_seconds.append(seconds)
        self.progress.epoch_done(
            epoch + 1, self.history.train_loss[-1], self.history.val_loss[-1] if val is not None else None, seconds
        )
        stop = any([cb(epoch + 1, self.history, self.model) for cb in self.opts.callbacks])
        if stopping.any():
            self._stop(stopping)
        self.history.stopped_early = all(h.stopped_early for h in self.history.members)
        return stop or not bool(self.active.any())

    @torch.no_grad()
    def _validation_losses(self) -> torch.Tensor:
        """Each member's mean loss (untrimmed) on the validation rows, (N,)."""
        self.model.eval()
        n, chunk = len(self.val_x), max(self.opts.batch_size, 1024)
        total = torch.zeros(self.model.n_members, device=self.device)
        with self.autocast:
            for i in range(0, n, chunk):
                per = self.model.training_loss(
                    self.val_x[i : i + chunk], self.val_target[i : i + chunk], loss=self.loss
                ).per_sample
                total += per.float().mean(dim=1) * per.shape[1]
        self.model.train()
        return total.cpu().double() / n

    @torch.no_grad()
    def _keep_best(self, improved: torch.Tensor) -> None:
        if not improved.any() or self.opts.early_stopping is None or not self.opts.restore_best:
            return
        index = improved.nonzero().flatten().to(self.device)
        for p, best in zip(self.params, self.best_state):
            best.index_copy_(0, index, p.detach().index_select(0, index))

    @torch.no_grad()
    def _stop(self, stopping: torch.Tensor) -> None:
        """Members that stop go back to their best weights and are held there from now on."""
        self.active &= ~stopping
        index = (~self.active).nonzero().flatten().to(self.device)
        if self.opts.restore_best:
            for p, best in zip(self.params, self.best_state):
                p.index_copy_(0, index, best.index_select(0, index))
        self.frozen = index if self.active.any() else None
        self.frozen_values = [p.detach().index_select(0, index).clone() for p in self.params]

    @torch.no_grad()
    def _hold_stopped(self) -> None:
        for p, value in zip(self.params, self.frozen_values):
            p.index_copy_(0, self.frozen, value)


def _member_rows(rows, n_members: int, n: int, device) -> torch.Tensor | None:
    if rows is None:
        return None
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[0] != n_members or rows.shape[1] < 1 or not np.issubdtype(rows.dtype, np.integer):
        raise InvalidInputError(
            f"member_rows must be integer row numbers of shape ({n_members}, m), got shape {rows.shape} of {rows.dtype}"
        )
    if rows.min() < 0 or rows.max() >= n:
        raise InvalidInputError(f"member_rows must lie in [0, {n}), the rows of x")
    return torch.from_numpy(rows.astype(np.int64)).to(device)
