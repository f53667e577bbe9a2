"""What a training run records, epoch by epoch (a model carries it as ``history_`` once saved)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from hourglass import display


@dataclass
class History:
    """Per-epoch record of a :func:`~hourglass.fit` run."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    # The loss's named parts per epoch where the model's loss has several: a VAE's
    # "reconstruction" (NLL) and "kl", both in nats per sample, averaged over all samples; without
    # trim and warm-up, train_loss = reconstruction + beta * kl.
    train_parts: dict[str, list[float]] = field(default_factory=dict)
    val_parts: dict[str, list[float]] = field(default_factory=dict)
    epoch_seconds: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    settings: dict = field(default_factory=dict)
    # A DenseEnsemble's members, each with its own History (the fields above are their means).
    members: list = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> History:
        fields = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        fields["members"] = [m if isinstance(m, History) else cls.from_dict(m) for m in fields.get("members", [])]
        return cls(**fields)

    def to_frame(self):
        """One row per epoch (index ``epoch``, from 1): ``train_loss``, ``val_loss`` (when
        validated), the loss's named parts (``train_kl``, ``val_reconstruction``, ...) and
        ``seconds``; a DenseEnsemble's members add ``member<k>_train_loss`` (and ``_val_loss``).
        Needs pandas."""
        columns = {"train_loss": self.train_loss}
        if self.val_loss:
            columns["val_loss"] = self.val_loss
        for prefix, parts in (("train", self.train_parts), ("val", self.val_parts)):
            columns.update({f"{prefix}_{name}": values for name, values in parts.items()})
        for k, member in enumerate(self.members):
            columns[f"member{k}_train_loss"] = member.train_loss
            if member.val_loss:
                columns[f"member{k}_val_loss"] = member.val_loss
        if self.epoch_seconds:
            columns["seconds"] = self.epoch_seconds
        n = self.epochs
        columns = {k: list(v) + [float("nan")] * (n - len(v)) for k, v in columns.items()}  # members stop early
        return display.frame(columns, index=range(1, n + 1), index_name="epoch")

    def _repr_html_(self) -> str:
        if not self.epochs:
            return display.card("History", "<p>no epochs yet</p>")
        summary = f"{self.epochs} epochs"
        if self.best_epoch:
            summary += f", best epoch {self.best_epoch}"
        if self.stopped_early:
            summary += ", stopped early"
        if self.epoch_seconds:
            summary += f", {sum(self.epoch_seconds):.3g} s"
        lines = {"training loss": self.train_loss, **({"validation loss": self.val_loss} if self.val_loss else {})}
        shown = (
            list(range(self.epochs)) if self.epochs <= 10 else [*range(5), None, *range(self.epochs - 5, self.epochs)]
        )
        header = [
            "epoch",
            "train loss",
            *(["val loss"] if self.val_loss else []),
            *(["s"] if self.epoch_seconds else []),
        ]
        rows = []
        for i in shown:
            if i is None:
                rows.append(["..."] * len(header))
                continue
            row = [i + 1, self.train_loss[i]]
            row += [self.val_loss[i]] if self.val_loss else []
            row += [self.epoch_seconds[i]] if self.epoch_seconds else []
            rows.append(row)
        return display.card("History", f" ({summary})", "<br>", display.line_plot(lines), display.table(rows, header))
