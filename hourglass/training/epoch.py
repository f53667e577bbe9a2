"""What an epoch leaves behind: its step losses, read once (:class:`EpochRecord`), its lines in
the run's :class:`~hourglass.history.History` (:func:`log_epoch`), and the progress bar and log
line a person sees (:class:`FitProgress`).

Losses come one per member: a model of N members (a ``DenseEnsemble``) logs each member's own and
their mean; a single model is the one-member case.
"""

from __future__ import annotations

import logging

import torch

from hourglass.history import History
from hourglass.training.options import FitOptions

# one INFO line per epoch, under the name it had since 0.1 (configure the 'hourglass' logger)
logger = logging.getLogger("hourglass.training.trainer")


class EpochRecord:
    """An epoch's step losses and loss parts, kept on the device and read once, at the epoch's end
    (no host sync per step). A short last batch weighs by its share of a full batch."""

    def __init__(self, batch_size: int):
        self.batch_size, self.seen = batch_size, 0
        self.steps, self.losses, self.weights, self.parts = [], [], [], {}

    def add(self, step: int, loss: torch.Tensor, rows: int, global_rows: int, parts: dict) -> None:
        self.steps.append(step)
        self.losses.append(loss.detach())
        self.weights.append(rows / self.batch_size)
        self.seen += global_rows
        for name, value in parts.items():
            self.parts.setdefault(name, []).append(value)

    def close(self, ddp) -> tuple[torch.Tensor, dict[str, float]]:
        """The epoch's mean loss per sample, one per member, (N,) in float64, and its parts'
        (summed over processes under torchrun)."""
        weights = torch.tensor(self.weights, device=self.losses[0].device)
        losses = torch.stack(self.losses).float()
        total = (losses.reshape(len(losses), -1) * weights[:, None]).sum(0)
        parts = {name: (torch.stack(values).float() * weights).sum() for name, values in self.parts.items()}
        if ddp is not None:
            for value in (total, *parts.values()):
                ddp.sum_(value)
        scale = self.batch_size / self.seen
        return total.cpu().double() * scale, {name: float(value) * scale for name, value in parts.items()}

    def first_bad_step(self) -> tuple[int, float] | None:
        """(step, loss) of this process's first non-finite step loss, if any."""
        losses = torch.stack(self.losses).float()
        losses = losses.reshape(len(losses), -1)
        bad = (~torch.isfinite(losses)).nonzero()
        return None if not len(bad) else (self.steps[int(bad[0, 0])], float(losses[int(bad[0, 0]), int(bad[0, 1])]))


def log_epoch(history: History, train: torch.Tensor, val: torch.Tensor | None, seconds: float, active) -> None:
    """An epoch's losses, one per member, into the history: a model of several members logs each
    training member's own and their mean."""
    if not history.members:
        history.train_loss.append(float(train[0]))
        if val is not None:
            history.val_loss.append(float(val[0]))
        history.epoch_seconds.append(seconds)
        return
    for k, member in enumerate(history.members):
        if active[k]:
            member.train_loss.append(float(train[k]))
            if val is not None:
                member.val_loss.append(float(val[k]))
            member.epoch_seconds.append(seconds)
    history.train_loss.append(float(train[active].mean()))
    if val is not None:
        history.val_loss.append(float(val[active].mean()))
    history.epoch_seconds.append(seconds)


class FitProgress:
    """The tqdm bar: about 50 updates per epoch (cheap, but not free), the losses as a postfix."""

    def __init__(self, opts: FitOptions, steps: int, name: str, quiet: bool):
        self.opts, self.steps, self.name, self.quiet = opts, steps, name, quiet
        self.option = False if quiet else opts.progress
        self.tick = max(1, steps // 50)
        self.bar = None

    def start(self, epochs_done: int) -> None:
        from hourglass.progress import bar

        self.bar = bar(
            self.option,
            total=self.opts.epochs * self.steps,
            initial=min(epochs_done, self.opts.epochs) * self.steps,
            unit="batch",
            desc=f"fit {self.name}",
        )

    def step(self, i: int) -> None:
        if (i + 1) % self.tick == 0:
            self.bar.update(self.tick)
        elif i == self.steps - 1:
            self.bar.update((i + 1) % self.tick)

    def epoch_done(self, epoch: int, train_loss: float, val_loss: float | None, seconds: float) -> None:
        """The bar's postfix, and one line on the ``hourglass`` logger (INFO; once under torchrun)."""
        # with trim, the training loss leaves out each batch's worst rows and the validation loss
        # does not: on heavy-tailed data they differ by orders of magnitude, so each says which it is
        train_name, val_name = self.labels()
        postfix = {train_name: f"{train_loss:.4g}"}
        if val_loss is not None:
            postfix[val_name] = f"{val_loss:.4g}"
        self.bar.set_postfix(postfix, refresh=False)
        if not self.quiet and logger.isEnabledFor(logging.INFO):
            val = "" if val_loss is None else f", {val_name} {val_loss:.6g}"
            done = f"epoch {epoch}/{self.opts.epochs}"
            logger.info(f"fit {self.name}: {done}, {train_name} {train_loss:.6g}{val}, {seconds:.2f} s")

    def labels(self) -> tuple[str, str]:
        """The names of the training and validation losses as the bar and the log show them."""
        if not self.opts.trim:
            return "loss", "val_loss"
        kept = round(100 * (1 - self.opts.trim))
        return f"loss (best {kept}% of each batch)", "val_loss (all rows)"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
