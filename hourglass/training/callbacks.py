"""What ``hg.fit(..., callbacks=[...])`` calls after every epoch, and two ready-made callbacks.

The protocol: a callback is any callable ``callback(epoch, history, model)``, called after each
epoch (``epoch`` counts from 1; ``history`` is the run's :class:`~hourglass.History`, this epoch's
values last; ``model`` the model being trained, in eval mode between epochs). Returning True stops
training after this epoch (early stopping still restores the best weights). A callback that has
a ``close()`` method gets it called once when the run ends, normally or by an error: the place to
flush a file or end a tracking run. Under torchrun every process calls its callbacks; log from
rank 0 only (``int(os.environ.get("RANK", 0)) == 0``).

MLflow in a few lines::

    import mlflow

    def to_mlflow(epoch, history, model):
        mlflow.log_metric("train_loss", history.train_loss[-1], step=epoch)
        if history.val_loss:
            mlflow.log_metric("val_loss", history.val_loss[-1], step=epoch)

    with mlflow.start_run():
        hg.fit(model, x, validation=x_val, callbacks=[to_mlflow])

Weights & Biases the same way: ``wandb.log({"train_loss": history.train_loss[-1]}, step=epoch)``.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from hourglass.atomic import write_bytes_atomic
from hourglass.errors import InvalidInputError, MissingDependencyError


def epoch_values(history) -> dict[str, float]:
    """The last epoch's numbers by name: ``train_loss``, ``val_loss``, the loss's parts
    (``train_kl``, ...), members' losses (``member0_train_loss``, ...) and ``seconds``."""
    row = {"train_loss": history.train_loss[-1]}
    if history.val_loss:
        row["val_loss"] = history.val_loss[-1]
    for prefix, parts in (("train", history.train_parts), ("val", history.val_parts)):
        row.update({f"{prefix}_{name}": values[-1] for name, values in parts.items() if values})
    for k, member in enumerate(history.members):
        row[f"member{k}_train_loss"] = member.train_loss[-1] if member.train_loss else math.nan
        if member.val_loss:
            row[f"member{k}_val_loss"] = member.val_loss[-1]
    if history.epoch_seconds:
        row["seconds"] = history.epoch_seconds[-1]
    return {k: float(v) for k, v in row.items()}


class CSVLogger:
    """Write one row per epoch to a CSV file (``epoch`` and :func:`epoch_values`' columns).

    The file is rewritten atomically after every epoch, so it is never half-written and can be
    read (or plotted) while training runs. ``append=True`` keeps the rows already in the file,
    as for a run resumed from a checkpoint: rows from its epoch on are replaced.

    Examples
    --------
    >>> import hourglass as hg, tempfile, pathlib
    >>> ds = hg.datasets.load("ecg5000", split="tutorial")
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
    >>> model = hg.create_model("stacked", input_shape=(140,), seed=0)
    >>> _ = hg.fit(model, ds.x_train[:500], epochs=3, progress=False, callbacks=[hg.callbacks.CSVLogger(path)])
    >>> path.read_text().splitlines()[0]
    'epoch,train_loss,seconds'
    """

    def __init__(self, path, append: bool = False):
        self.path = Path(path)
        if self.path.is_dir():
            raise InvalidInputError(f"CSVLogger needs a file path, got the folder {self.path}")
        self.rows: list[dict] = []
        if append and self.path.is_file():
            with open(self.path, newline="") as f:
                self.rows = [{k: float(v) if v != "" else math.nan for k, v in r.items()} for r in csv.DictReader(f)]

    def __call__(self, epoch, history, model) -> None:
        self.rows = [r for r in self.rows if r.get("epoch", 0) < epoch]
        self.rows.append({"epoch": epoch, **epoch_values(history)})
        columns = list(dict.fromkeys(k for r in self.rows for k in r))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        for r in self.rows:
            writer.writerow({k: int(v) if k == "epoch" else repr(float(v)) for k, v in r.items()})
        write_bytes_atomic(self.path, out.getvalue().encode("utf-8"))


class TensorBoard:
    """Log every epoch's numbers (:func:`epoch_values`) as TensorBoard scalars under ``log_dir``
    (``loss/train``, ``loss/val``, ``parts/train_kl``, ``members/member0_train_loss``,
    ``time/epoch_seconds``); view them with ``tensorboard --logdir log_dir``. Needs the
    ``tensorboard`` package (``pip install "hourglass-ae[tensorboard]"``)."""

    def __init__(self, log_dir="runs/tensorboard", comment: str = ""):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise MissingDependencyError(
                'the TensorBoard callback needs tensorboard: pip install "hourglass-ae[tensorboard]"'
            ) from None
        self.log_dir = str(log_dir)
        self.writer = SummaryWriter(log_dir=self.log_dir, comment=comment)

    def __call__(self, epoch, history, model) -> None:
        for name, value in epoch_values(history).items():
            self.writer.add_scalar(self.tag(name), value, global_step=epoch)
        self.writer.flush()

    @staticmethod
    def tag(name: str) -> str:
        if name in ("train_loss", "val_loss"):
            return f"loss/{name.removesuffix('_loss')}"
        if name == "seconds":
            return "time/epoch_seconds"
        return f"members/{name}" if name.startswith("member") else f"parts/{name}"

    def close(self) -> None:
        self.writer.close()


def close_callbacks(callbacks) -> None:
    """Call ``close()`` on the callbacks that have one (the end of a run)."""
    for cb in callbacks:
        close = getattr(cb, "close", None)
        if callable(close):
            close()
