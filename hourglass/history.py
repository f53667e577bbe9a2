"""What a training run records, epoch by epoch (a model carries it as ``history_`` once saved)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


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
