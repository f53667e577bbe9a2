"""How a :class:`~hourglass.Detector` scores: one frozen dataclass, validated once, to and from JSON.

As :class:`~hourglass.FitOptions` is for ``hg.fit``: the detector's options are listed here once,
checked in ``__post_init__`` (those that depend on the model in :meth:`ScoreSpec.check_for`),
written to a saved folder by :meth:`ScoreSpec.to_dict` and read back by :meth:`ScoreSpec.from_dict`
(a folder of an earlier release, without the newer keys, reads back with their defaults). The
threshold and the scaler are objects with fitted state of their own, saved by themselves.

>>> spec = ScoreSpec(score="mse", worst_fraction=0.1)
>>> ScoreSpec.from_dict(spec.to_dict()) == spec
True
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from hourglass.detection.neighbors import NEIGHBOR_SCORES, check_neighbors
from hourglass.detection.scores import VARIATIONAL_SCORES, check_error_blur, check_score, check_worst_fraction
from hourglass.errors import InvalidInputError
from hourglass.transforms.corruptions import corruption_from_dict, corruption_to_dict, is_deterministic
from hourglass.validation import check_positive_int


@dataclass(frozen=True)
class ScoreSpec:
    """A detector's scoring options (see :class:`~hourglass.Detector` for each one's meaning)."""

    score: str = "mae"
    batch_size: int = 1024
    n_samples: int = 64
    input_transform: object | None = None
    worst_fraction: float | None = None
    n_neighbors: int = 5
    memory_size: int = 10000
    error_blur: float | None = None
    nearest: bool = False

    def __post_init__(self):
        def set_(name, value):  # a frozen dataclass normalising its own fields
            object.__setattr__(self, name, value)

        check_score(self.score)
        set_("batch_size", check_positive_int(self.batch_size, "batch_size"))
        set_("n_samples", check_positive_int(self.n_samples, "n_samples"))
        set_("worst_fraction", check_worst_fraction(self.worst_fraction, self.score))
        set_("error_blur", check_error_blur(self.error_blur, self.score, None))
        if self.score in NEIGHBOR_SCORES:
            n, size = check_neighbors(self.n_neighbors, self.memory_size)
            set_("n_neighbors", n)
            set_("memory_size", size)
        if not isinstance(self.nearest, bool):
            raise InvalidInputError(f"nearest must be True or False, got {self.nearest!r}")
        if self.nearest and self.score not in NEIGHBOR_SCORES:
            raise InvalidInputError(f"nearest=True is for the neighbour scores {NEIGHBOR_SCORES}, not {self.score!r}")
        t = self.input_transform
        if t is not None and not is_deterministic(t):
            raise InvalidInputError(
                f"input_transform must be deterministic, such as hg.Downsample(2); got {t!r} "
                "(random corruptions would change a sample's score from call to call)"
            )
        if t is not None and self.score in VARIATIONAL_SCORES:
            raise InvalidInputError(f"input_transform is for reconstruction scores (mse, mae, l2), not {self.score!r}")

    def replace(self, **changes) -> ScoreSpec:
        """A copy with ``changes``, validated again."""
        return replace(self, **changes)

    def check_for(self, model) -> None:
        """The checks that depend on the model this spec scores."""
        check_score(self.score, model)
        check_error_blur(self.error_blur, self.score, model.input_shape)
        if self.error_blur is not None and model.n_members is not None:
            raise InvalidInputError(f"error_blur is for one model's images or series, not a {model.name!r}")
        if self.worst_fraction is not None and getattr(model.config, "feature_subsets", False):
            raise InvalidInputError(
                "worst_fraction needs members that see every feature; this dense-ensemble has feature_subsets=True"
            )
        if model.conditional:
            raise InvalidInputError(
                f"the conditional {model.name!r} model needs a class for every sample; "
                "score it with hg.reconstruct(model, x, labels=...), or detect with a vae"
            )

    def to_dict(self) -> dict:
        """The saved form (format 1): the keys of an option left at its "off" value are left out,
        as earlier releases wrote them."""
        d = {
            "score": self.score,
            "batch_size": self.batch_size,
            "n_samples": self.n_samples,
            "input_transform": corruption_to_dict(self.input_transform),
        }
        if self.worst_fraction is not None:
            d["worst_fraction"] = self.worst_fraction
        if self.error_blur is not None:
            d["error_blur"] = self.error_blur
        if self.score in NEIGHBOR_SCORES:
            d.update(n_neighbors=self.n_neighbors, memory_size=self.memory_size)
        if self.nearest:
            d["nearest"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ScoreSpec:
        """Inverse of :meth:`to_dict`; other keys of ``d`` (the detector's own) are ignored."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in names and k != "input_transform"}
        return cls(input_transform=corruption_from_dict(d.get("input_transform")), **values)
