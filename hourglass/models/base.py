"""What every autoencoder shares: a JSON-serialisable config, encode / decode, its training
loss, and its saved state.

A model computes its own training loss (:meth:`Autoencoder.training_loss`): one value per sample
plus named parts, so the fit loop can trim, weight and log any model's loss without knowing its
family. A model also answers the loop's two other calls: :meth:`~Autoencoder.prepare_training`
(check the run's options and data, set up what the model needs from them) and
:meth:`~Autoencoder.training_step` (a schedule's position, e.g. a VAE's KL warm-up).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hourglass.errors import InvalidInputError
from hourglass.saving import SavedState

OUTPUT_ACTIVATIONS = ("sigmoid", "none")
LOSSES = ("mse", "mae", "bce", "elbo")


@dataclass
class ModelConfig:
    """Base of every model's config: plain fields that round-trip through JSON."""

    input_shape: tuple[int, ...] = (1, 28, 28)
    output_activation: str = "sigmoid"

    def __post_init__(self):
        try:
            self.input_shape = tuple(int(d) for d in self.input_shape)
        except (TypeError, ValueError):
            raise InvalidInputError(f"input_shape must be a tuple of ints, got {self.input_shape!r}") from None
        if not self.input_shape or min(self.input_shape) < 1:
            raise InvalidInputError(f"input_shape must be non-empty with sizes >= 1, got {self.input_shape!r}")
        if self.output_activation not in OUTPUT_ACTIVATIONS:
            raise InvalidInputError(
                f"output_activation must be one of {OUTPUT_ACTIVATIONS}, got {self.output_activation!r}"
            )

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise InvalidInputError(
                f"{cls.__name__} has no option(s) {sorted(unknown)}; valid options: {sorted(names)}"
            )
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def check_int_tuple(value, name: str, *, allow_empty: bool = True) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a tuple of positive ints, got {value!r}") from None
    if (not out and not allow_empty) or any(v < 1 for v in out):
        raise InvalidInputError(f"{name} must be a tuple of positive ints, got {value!r}")
    return out


def check_dropout(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise InvalidInputError(f"dropout must lie in [0, 1), got {value!r}")
    return float(value)


def check_odd_kernel(value) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1 or value % 2 == 0:
        raise InvalidInputError(f"kernel_size must be an odd integer >= 1, got {value!r}")
    return int(value)


def reconstruction_loss(
    loss: str, logits: torch.Tensor, target: torch.Tensor, activation: str, reduction: str = "mean"
) -> torch.Tensor:
    """Reconstruction loss of a batch, from the decoder's pre-activation output: the mean
    (``reduction="mean"``) or one value per sample, averaged over its elements (``"none"``).

    Working from logits lets BCE use the numerically stable ``binary_cross_entropy_with_logits``
    instead of clipping a sigmoid's output as Keras does.
    """
    if loss == "bce":
        if activation != "sigmoid":
            raise InvalidInputError("loss='bce' needs output_activation='sigmoid' (outputs in [0, 1])")
        if reduction == "mean":
            return F.binary_cross_entropy_with_logits(logits, target)
        per = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    else:
        out = torch.sigmoid(logits) if activation == "sigmoid" else logits
        if loss == "mse":
            if reduction == "mean":
                return F.mse_loss(out, target)
            per = (out - target).square()
        elif loss == "mae":
            if reduction == "mean":
                return F.l1_loss(out, target)
            per = (out - target).abs()
        elif loss == "elbo":
            raise InvalidInputError("loss='elbo' needs a variational model (e.g. create_model('vae'))")
        else:
            raise InvalidInputError(f"loss must be one of {LOSSES}, got {loss!r}")
    return per.flatten(1).mean(dim=1)


def reconstruction_loss_gradient(
    loss: str, logits: torch.Tensor, target: torch.Tensor, activation: str, trim: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`reconstruction_loss`'s batch value (its mean, or the ``trim``-trimmed mean of
    :meth:`TrainingLoss.trimmed_mean`) and its gradient w.r.t. ``logits``, written out beside it
    in the order of operations (so the rounding) of autograd's backward through the two: a
    written-out training step (``hourglass.training.gradients``) takes it, because autograd over
    the loss alone costs about 40 us a step, a tenth of the dense model's whole step at batch 32
    (docs/decisions/gradient-paths.md). tests/test_gradients.py checks it against autograd's, bit
    for bit."""
    if loss == "bce" and activation != "sigmoid":
        raise InvalidInputError("loss='bce' needs output_activation='sigmoid' (outputs in [0, 1])")
    shape, logits, target = logits.shape, logits.flatten(1), target.flatten(1)
    n, features = logits.shape
    keep = n if not trim else max(1, n - int(round(trim * n)))
    sigmoid = activation == "sigmoid"
    out = torch.sigmoid(logits) if sigmoid else logits
    if keep == n:  # the mean over all elements: torch's fused losses, their backward formulas
        if loss == "bce":
            return F.binary_cross_entropy_with_logits(logits, target), (out - target).div_(out.numel()).view(shape)
        if loss == "mse":
            value, grad = F.mse_loss(out, target), (out - target).mul_(2.0 / out.numel())
        else:
            value, grad = F.l1_loss(out, target), (out - target).sign_().div_(out.numel())
    else:  # the mean of the kept rows' means: 1 / keep, then / features, in float as autograd
        if loss == "bce":
            per = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
            grad = out - target
        else:
            diff = out - target
            per = diff.square() if loss == "mse" else diff.abs()
            grad = diff.mul_(2.0) if loss == "mse" else diff.sign_()
        per = per.mean(1)
        kept = torch.topk(per, keep, largest=False, sorted=False).indices
        weight = torch.ones((), dtype=grad.dtype, device=grad.device).div_(keep).div_(features)
        rows = torch.zeros(n, 1, dtype=grad.dtype, device=grad.device).index_fill_(0, kept, weight)
        value, grad = per[kept].mean(), grad.mul_(rows)
    if sigmoid and loss != "bce":
        grad.mul_(1 - out).mul_(out)
    return value, grad.view(shape)


class WeightsMismatchError(InvalidInputError):
    """Saved weights do not fit the model their description builds."""


class TrainingLoss:
    """A batch's training loss as its model computes it.

    ``per_sample`` : one loss value per sample (computed on first use when given as a function),
    shape (B,), or (N, B) for a model of N members, each on its own batch; ``mean()`` : their mean
    over the samples (last) axis, through a faster fused kernel when the model has one; ``parts`` :
    named per-sample terms to log (a VAE's ``"reconstruction"`` and ``"kl"``), or empty.
    """

    __slots__ = ("_per_sample", "_mean", "parts")

    def __init__(
        self,
        per_sample: torch.Tensor | Callable[[], torch.Tensor],
        *,
        mean: Callable[[], torch.Tensor] | None = None,
        parts: dict[str, torch.Tensor] | None = None,
    ):
        self._per_sample = per_sample
        self._mean = mean
        self.parts = parts or {}

    @property
    def per_sample(self) -> torch.Tensor:
        if callable(self._per_sample):
            self._per_sample = self._per_sample()
        return self._per_sample

    def mean(self) -> torch.Tensor:
        return self._mean() if self._mean is not None else self.per_sample.mean(dim=-1)

    def trimmed_mean(self, trim: float) -> torch.Tensor:
        """The mean over all but the ``trim`` fraction of samples with the highest loss (per
        member, for (N, B) losses)."""
        if not trim:
            return self.mean()
        per_sample = self.per_sample
        n = per_sample.shape[-1]
        keep = max(1, n - int(round(trim * n)))
        return torch.topk(per_sample, keep, dim=-1, largest=False, sorted=False).values.mean(dim=-1)


class Autoencoder(nn.Module):
    """Base class: a subclass builds ``self.encoder`` and ``self.decoder`` from ``config``
    (overriding ``encode`` / ``decode_logits`` only when it must reshape); the output activation,
    ``forward``, the training loss, initialisation and saved state live here."""

    name: ClassVar[str] = ""
    config_class: ClassVar[type[ModelConfig]] = ModelConfig
    generative: ClassVar[bool] = False  # can hg.sample draw new data from it (a VAE)?
    conditional: ClassVar[bool] = False  # do encode / decode take class labels (a CVAE)?
    default_loss: ClassVar[str] = "mse"  # what hg.fit trains with when no loss is given
    axis_names: tuple[str, ...] | None = None  # names of a sample's axes, for shape errors
    #: The ensemble protocol. None: one model. N: the model stacks N members along a member axis
    #: (a :class:`~hourglass.models.DenseEnsemble`), and then ``training_loss`` gives (N, B)
    #: per-sample losses, ``hg.fit`` trains each member on its own rows and stops it on its own,
    #: and a detector standardises and averages the members' errors (``member_scores``).
    n_members: ClassVar[int | None] = None

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.config.input_shape

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's output before the output activation, shaped like the input."""
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decode_logits(z)
        return torch.sigmoid(out) if self.config.output_activation == "sigmoid" else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    # Encoder layers that produce the last feature maps before a linear bottleneck (conv models
    # with a latent_dim); None: the code itself is the model's features.
    feature_depth: int | None = None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """What ``score="feature-knn"`` compares, flattened to ``(n, F)``: the encoder's last
        feature maps before its linear bottleneck (convolutional models with a ``latent_dim``),
        else the code. Feature maps keep where things are in the image, which the small code
        has squeezed out; neighbours among them tell one class's samples from another's better."""
        if self.feature_depth is None:
            return self.encode(x).flatten(1)
        return self.encoder[: self.feature_depth](x).flatten(1)

    def loss(self, x: torch.Tensor, target: torch.Tensor, loss: str = "mse", reduction: str = "mean") -> torch.Tensor:
        """Training loss of a batch: the model sees ``x`` and should produce ``target``; its mean,
        or one value per sample with ``reduction="none"``."""
        out = self.training_loss(x, target, loss=loss)
        return out.mean() if reduction == "mean" else out.per_sample

    # -- what the fit loop calls -------------------------------------------------------------
    losses: ClassVar[tuple[str, ...]] = ("mse", "mae", "bce")  # what training_loss accepts

    def training_loss(self, x: torch.Tensor, target: torch.Tensor, *, loss: str, labels=None) -> TrainingLoss:
        """The loss of a batch: the model sees ``x`` and should produce ``target``, one value per
        sample (the elements' mean squared / absolute error or binary cross-entropy)."""
        return self.reconstruction(self.decode_logits(self.encode(x)), target, loss=loss)

    def reconstruction(self, logits: torch.Tensor, target: torch.Tensor, *, loss: str) -> TrainingLoss:
        """The loss of the decoder's pre-activation output ``logits`` against ``target``: the one
        definition that :meth:`training_loss` and a written-out training step
        (:mod:`hourglass.training.gradients`, which differentiates it with autograd) both use."""
        act = self.config.output_activation
        return TrainingLoss(
            functools.partial(reconstruction_loss, loss, logits, target, act, "none"),
            mean=functools.partial(reconstruction_loss, loss, logits, target, act, "mean"),
        )

    def prepare_training(
        self, options, *, loss: str, steps_per_epoch: int, targets: dict[str, np.ndarray], sample: torch.Tensor
    ) -> None:
        """Called by ``hg.fit`` once, before the first step: refuse options and data this model
        cannot train with (``options`` is the run's ``FitOptions``; ``loss`` its resolved loss;
        ``targets`` the arrays the model must learn to output, by name, for range checks), and set
        up what the model takes from them (``sample``: some training targets on the device)."""
        if loss not in self.losses:
            if loss == "elbo":
                raise InvalidInputError("loss='elbo' needs a variational model (e.g. create_model('vae'))")
            raise InvalidInputError(f"the {self.name!r} model trains with loss in {self.losses}, got {loss!r}")
        if options.kl_warmup:
            raise InvalidInputError(f"kl_warmup is for variational models; the {self.name!r} model has no KL term")
        if loss == "bce":
            if self.config.output_activation != "sigmoid":
                raise InvalidInputError("loss='bce' needs a model with output_activation='sigmoid'")
            check_unit_range(targets, "loss='bce'")

    def training_step(self, step: int) -> None:
        """Called by ``hg.fit`` before each training step (counted from 1 over the whole run), for
        a model whose loss follows a schedule. Nothing by default."""

    def finish_training(self) -> None:
        """Called by ``hg.fit`` when training ends, normally or not: undo what training set up."""

    def reset_parameters(self) -> None:
        """Keras' defaults (Glorot-uniform weights, zero biases): the tutorials' figures were
        reached with them, and PyTorch's default init trains the small sigmoid models slower."""
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.reset_parameters()

    def seeded_reset(self, seed: int) -> None:
        """Initialise from ``seed`` (``create_model(..., seed=)``; torch's generator is already
        seeded with it): :meth:`reset_parameters` unless a model derives more from the seed."""
        self.reset_parameters()

    @property
    def latent_shape(self) -> tuple[int, ...]:
        with torch.no_grad():
            probe = torch.zeros((1, *self.input_shape), device=next(self.parameters()).device)
            was_training = self.training
            self.eval()
            z = self.encode(probe)
            self.train(was_training)
        return tuple(z.shape[1:])

    def extra_repr(self) -> str:
        return f"name={self.name!r}"

    # -- saved state ---------------------------------------------------------------------------
    def description(self) -> dict:
        """The model as JSON: its registered name and config (what rebuilds it, untrained)."""
        return {"name": self.name, "config": self.config.to_dict()}

    def to_saved(self) -> SavedState:
        """Name, config and weights (and the training history, when ``hg.load`` or an estimator
        attached one as ``history_``)."""
        meta = {"kind": "model", "model": self.description()}
        history = getattr(self, "history_", None)
        if history is not None:
            meta["history"] = history.to_dict() if hasattr(history, "to_dict") else dict(history)
        weights = {k: v.detach().to("cpu").contiguous() for k, v in self.state_dict().items()}
        return SavedState(meta, weights)

    @classmethod
    def from_saved(cls, state: SavedState, device="cpu") -> Autoencoder:
        """Rebuild the model ``state.meta["model"]`` describes, with ``state.weights``, in eval mode."""
        from hourglass.models.registry import model_from_config

        description = state.meta["model"]
        model = model_from_config(description["name"], description["config"])
        try:
            model.load_state_dict(state.weights, strict=True)
        except RuntimeError as exc:
            raise WeightsMismatchError(
                f"weights do not fit the {description['name']!r} model described: {str(exc).splitlines()[0]}"
            ) from None
        if "history" in state.meta:
            from hourglass.history import History

            model.history_ = History.from_dict(state.meta["history"])
        return model.to(device).eval()


def check_unit_range(targets: dict[str, np.ndarray], what: str) -> None:
    """A clear error when a target array leaves [0, 1] (BCE, a Bernoulli likelihood)."""
    for name, arr in targets.items():
        if arr is not None and (arr.min() < 0 or arr.max() > 1):
            raise InvalidInputError(
                f"{what} needs {name} values in [0, 1]; scale the data first "
                "(or use likelihood='gaussian' for real-valued data)"
            )


ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "none": nn.Identity,
}


def activation_layer(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise InvalidInputError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]()
