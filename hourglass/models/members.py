"""Several dense autoencoders in one module: parameters stacked on a leading member axis.

An ensemble of small autoencoders trained one after another spends most of its time in per-call
overhead (a step of a 21 -> 64 -> 32 -> 64 -> 21 network costs far more in Python and dispatch than
in arithmetic). :class:`DenseEnsemble` holds N members' weights as ``(N, out, in)`` tensors and
runs all of them with one batched matmul per layer, so N members cost little more than one
(``benchmarks/ensemble.py`` measures it).

Members may differ in width: each member has its own hidden and code sizes, padded to the
largest; a member's padded units are held at zero by a fixed mask after each layer (their weights
start at zero and receive no gradient, so Adam leaves them at zero), so a member computes exactly
what a ``stacked`` model of its own sizes computes. Training skips the masks where the
activations map 0 to 0, since the padded units are then 0 without them. Members may see
different feature subsets: ``feature_mask`` (a saved buffer) zeroes the features a member does
not see, and its error is measured on its own features only.

Inputs: ``(B, F)`` rows (every member sees them: scoring) or ``(N, B, F)`` (member ``k`` sees row
block ``k``: training, each member on its own rows). :meth:`member_outputs` gives every member's
reconstruction, ``(N, B, *input_shape)``; ``forward`` their mean (over the members that see each
feature); ``encode`` every member's code, ``(B, N, latent_dim)``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hourglass.errors import InvalidInputError
from hourglass.models.base import Autoencoder, TrainingLoss
from hourglass.models.dense import DenseConfig, StackedAutoencoder, StackedConfig
from hourglass.models.registry import build, register_model
from hourglass.validation import check_positive_int


def member_seeds(seed: int | None, n: int) -> list[int | None]:
    """The seeds of ``n`` members from one: member 0 takes ``seed`` itself (so a one-member
    ensemble is the single model), member k > 0 ``SeedSequence([seed, k])``'s first 63 bits."""
    if seed is None:
        return [None] * n
    return [int(seed)] + [
        int(np.random.SeedSequence([int(seed) % 2**64, k]).generate_state(1, np.uint64)[0] >> 1) for k in range(1, n)
    ]


@dataclass
class DenseEnsembleConfig(DenseConfig):
    """Config of :class:`DenseEnsemble`.

    hidden, latent_dim : the largest member's sizes (the stacked tensors' shapes).
    n_members : members in the stack.
    member_sizes : each member's ``(*hidden, latent_dim)``, each size at most the largest; empty
        = every member has the largest sizes.
    feature_subsets : whether ``feature_mask`` restricts members to subsets of the features.
    member_scaling : whether each member sees its input through its own affine map per feature,
        ``(x - input_shift[k]) / input_scale[k]`` (saved buffers), and is trained and scored in
        that space (e.g. some members on standardised rows, others on min-max scaled ones).
    """

    input_shape: tuple[int, ...] = (140,)
    hidden: tuple[int, ...] = (32, 16)
    latent_dim: int = 8
    n_members: int = 6
    member_sizes: tuple = ()
    feature_subsets: bool = False
    member_scaling: bool = False

    def __post_init__(self):
        super().__post_init__()
        self.n_members = check_positive_int(self.n_members, "n_members")
        largest = (*self.hidden, self.latent_dim)
        sizes = tuple(tuple(int(v) for v in s) for s in self.member_sizes)
        if sizes and len(sizes) != self.n_members:
            raise InvalidInputError(f"member_sizes gives {len(sizes)} members' sizes for n_members={self.n_members}")
        for s in sizes:
            if len(s) != len(largest) or any(not 1 <= a <= b for a, b in zip(s, largest)):
                raise InvalidInputError(
                    f"each of member_sizes must be {len(largest)} sizes (hidden..., latent), "
                    f"each between 1 and {largest}; got {s}"
                )
        self.member_sizes = sizes
        self.feature_subsets = bool(self.feature_subsets)
        self.member_scaling = bool(self.member_scaling)
        if self.dropout:
            raise InvalidInputError("dense-ensemble has no dropout (its members differ by rows, sizes and features)")

    def sizes_of(self, k: int) -> tuple[int, ...]:
        return self.member_sizes[k] if self.member_sizes else (*self.hidden, self.latent_dim)


@register_model
class DenseEnsemble(Autoencoder):
    """N ``stacked`` autoencoders as one module (see the module's notes). Build one with
    ``create_model("dense-ensemble", input_shape=(F,), n_members=6, ...)`` (member k initialised
    as ``create_model("stacked", seed=member_seeds(seed, N)[k])``) or from trained or untrained
    ``stacked`` models with :meth:`from_members`; train it with ``hg.fit`` (each member on its
    own order of the rows, its own trimmed loss, its own early stopping)."""

    name = "dense-ensemble"
    config_class = DenseEnsembleConfig

    def __init__(self, config: DenseEnsembleConfig):
        super().__init__(config)
        n, features = config.n_members, math.prod(config.input_shape)
        self.n_features = features
        largest = [features, *config.hidden, config.latent_dim]
        dims = largest + largest[-2::-1]
        self.weights = nn.ParameterList(nn.Parameter(torch.zeros(n, b, a)) for a, b in zip(dims[:-1], dims[1:]))
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(n, b)) for b in dims[1:])
        self.register_buffer("feature_mask", torch.ones(n, features))
        self.register_buffer("input_shift", torch.zeros(n, features))
        self.register_buffer("input_scale", torch.ones(n, features))
        self.unit_masks = None
        if config.member_sizes and any(config.sizes_of(k) != tuple(largest[1:]) for k in range(n)):
            masks = []
            for layer, size in enumerate(dims[1:-1]):
                depth = layer if layer < len(largest) - 1 else len(dims) - 3 - layer
                keep = torch.tensor([config.sizes_of(k)[depth] for k in range(n)])
                masks.append((torch.arange(size)[None, :] < keep[:, None]).float()[:, None, :])
            for i, m in enumerate(masks):
                self.register_buffer(f"unit_mask{i}", m, persistent=False)
            self.unit_masks = len(masks)
        self._activations = (config.activation, config.latent_activation)
        # With activations that map 0 to 0, a padded unit is 0 without its mask too (zero weights
        # in and out, no gradient): training skips the masks' multiplications, to the same weights
        # (up to the sign of zeros; tests/test_members.py); scoring and export keep them.
        self._masks_in_training = any(a not in _ZERO_AT_ZERO for a in self._activations)

    @property
    def n_members(self) -> int:
        return self.config.n_members

    # -- building ------------------------------------------------------------------------
    def member_config(self, k: int) -> StackedConfig:
        c = self.config
        *hidden, latent = c.sizes_of(k)
        return StackedConfig(
            input_shape=c.input_shape,
            hidden=tuple(hidden),
            latent_dim=latent,
            activation=c.activation,
            latent_activation=c.latent_activation,
            output_activation=c.output_activation,
        )

    def seeded_reset(self, seed: int) -> None:
        self._initialise(member_seeds(seed, self.n_members))

    def reset_parameters(self) -> None:
        # member seeds from torch's global generator (seeded or not, as the caller left it)
        self._initialise([int(s) for s in torch.randint(0, 2**62, (self.n_members,))])

    def _initialise(self, seeds) -> None:
        """Member k's weights are those of a ``stacked`` model of its sizes built with seed k."""
        with torch.no_grad():
            for p in self.parameters():
                p.zero_()
            for k, seed in enumerate(seeds):
                self.set_member(k, build(StackedAutoencoder, self.member_config(k), seed))

    @torch.no_grad()
    def set_member(self, k: int, model: StackedAutoencoder) -> None:
        """Copy a ``stacked`` model's weights into member ``k``'s slot (padded with zeros)."""
        layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if len(layers) != len(self.weights):
            raise InvalidInputError(
                f"member {k} has {len(layers)} layers; this ensemble's members have {len(self.weights)}"
            )
        for layer, w, b in zip(layers, self.weights, self.biases):
            out, inp = layer.weight.shape
            if out > w.shape[1] or inp > w.shape[2]:
                raise InvalidInputError(
                    f"member {k}'s layer {tuple(layer.weight.shape)} exceeds the ensemble's {tuple(w.shape[1:])}"
                )
            w[k].zero_()
            b[k].zero_()
            w[k, :out, :inp].copy_(layer.weight)
            b[k, :out].copy_(layer.bias)

    def member(self, k: int) -> StackedAutoencoder:
        """Member ``k`` as a standalone ``stacked`` model (a copy, its padding dropped)."""
        model = StackedAutoencoder(self.member_config(k))
        with torch.no_grad():
            for layer, w, b in zip([m for m in model.modules() if isinstance(m, nn.Linear)], self.weights, self.biases):
                out, inp = layer.weight.shape
                layer.weight.copy_(w[k, :out, :inp])
                layer.bias.copy_(b[k, :out])
        return model.to(self.feature_mask.device).eval()

    @classmethod
    def from_members(cls, models, **config) -> DenseEnsemble:
        """One ensemble of ``stacked`` (or ``dense``) models with the same input shape, depth and
        activations; each keeps its own sizes and weights."""
        models = list(models)
        if not models or not all(
            isinstance(m, StackedAutoencoder) or type(m).__name__ == "DenseAutoencoder" for m in models
        ):
            raise InvalidInputError("from_members takes a non-empty list of 'stacked' or 'dense' models")
        first = models[0].config
        sizes = [(*m.config.hidden, m.config.latent_dim) for m in models]
        if len({len(s) for s in sizes}) > 1 or len({m.config.input_shape for m in models}) > 1:
            raise InvalidInputError(f"members must share input shape and depth; got sizes {sizes}")
        largest = tuple(max(s[i] for s in sizes) for i in range(len(sizes[0])))
        ens = cls(
            DenseEnsembleConfig(
                input_shape=first.input_shape,
                hidden=largest[:-1],
                latent_dim=largest[-1],
                n_members=len(models),
                member_sizes=tuple(sizes),
                activation=first.activation,
                latent_activation=first.latent_activation,
                output_activation=first.output_activation,
                **config,
            )
        )
        for k, m in enumerate(models):
            ens.set_member(k, m)
        return ens

    @torch.no_grad()
    def set_feature_mask(self, mask) -> None:
        """Which features each member sees, shape (n_members, features), 0 / 1; every member
        must see at least one feature, every feature be seen by at least one member."""
        mask = torch.as_tensor(np.asarray(mask), dtype=torch.float32)
        if mask.shape != self.feature_mask.shape or not torch.isin(mask, torch.tensor([0.0, 1.0])).all():
            raise InvalidInputError(f"feature_mask must be 0 / 1 of shape {tuple(self.feature_mask.shape)}")
        if (mask.sum(1) < 1).any() or (mask.sum(0) < 1).any():
            raise InvalidInputError("feature_mask leaves a member without features or a feature without a member")
        self.feature_mask.copy_(mask)
        self.config.feature_subsets = bool((mask < 1).any())

    @torch.no_grad()
    def set_member_scaling(self, shift, scale) -> None:
        """Member k sees ``(x - shift[k]) / scale[k]``, shapes (n_members, features); scales > 0."""
        shift = torch.as_tensor(np.asarray(shift), dtype=torch.float32)
        scale = torch.as_tensor(np.asarray(scale), dtype=torch.float32)
        if shift.shape != self.input_shift.shape or scale.shape != self.input_scale.shape:
            raise InvalidInputError(f"shift and scale must have shape {tuple(self.input_shift.shape)}")
        if not (torch.isfinite(shift).all() and torch.isfinite(scale).all() and (scale > 0).all()):
            raise InvalidInputError("shift must be finite and scale finite and > 0")
        self.input_shift.copy_(shift)
        self.input_scale.copy_(scale)
        self.config.member_scaling = bool((shift != 0).any() or (scale != 1).any())

    # -- the network -----------------------------------------------------------------------
    def _layers(self, h: torch.Tensor, first: int, last: int) -> torch.Tensor:
        n_layers = len(self.weights)
        for i in range(first, last):
            w, b = self.weights[i], self.biases[i]
            if h.dim() == 2:  # every member sees the same rows
                h = torch.matmul(h, w.transpose(1, 2)) + b[:, None, :]
            elif len(w) == 1:  # one member: the same kernel as nn.Linear (bit for bit the single model)
                h = F.linear(h[0], w[0], b[0])[None]
            else:
                h = torch.baddbmm(b[:, None, :], h, w.transpose(1, 2))
            # as ``stacked``: the hidden activation, the code's own, none on the output (applied after)
            name = None if i == n_layers - 1 else self._activations[i == n_layers // 2 - 1]
            if name not in (None, "none"):
                h = _ACT[name](h)
            if self.unit_masks is not None and i < n_layers - 1 and self._needs_masks():
                h = h * getattr(self, f"unit_mask{i}")
        return h

    def _needs_masks(self) -> bool:
        return self._masks_in_training or not (self.training and torch.is_grad_enabled())

    def member_targets(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (B, F) or (N, B, F) in each member's own space (its scaling; no feature mask):
        (N, B, F), or ``x`` itself when no member scales its input."""
        x = x.flatten(-len(self.input_shape))
        if not self.config.member_scaling:
            return x
        return ((x if x.dim() == 3 else x[None]) - self.input_shift[:, None, :]) / self.input_scale[:, None, :]

    def to_input_space(self, out: torch.Tensor) -> torch.Tensor:
        """Members' outputs (N, B, *shape) from their own spaces back to the input's."""
        if not self.config.member_scaling:
            return out
        shape = (len(out), 1, *self.input_shape)
        return out * self.input_scale.view(shape) + self.input_shift.view(shape)

    def _masked_input(self, x: torch.Tensor) -> torch.Tensor:
        x = self.member_targets(x)
        if self.config.feature_subsets:
            return (x if x.dim() == 3 else x[None]) * self.feature_mask[:, None, :]
        return x

    def member_codes(self, x: torch.Tensor) -> torch.Tensor:
        """Every member's code, (N, B, latent_dim) (a member's padded units are 0)."""
        n = len(self.weights) // 2
        return self._layers(self._masked_input(x), 0, n)

    def member_logits(self, z: torch.Tensor) -> torch.Tensor:
        n = len(self.weights)
        out = self._layers(z, n // 2, n)
        return out.view(*out.shape[:2], *self.input_shape)

    def member_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """Every member's reconstruction of ``x``, (N, B, *input_shape), each in its own space
        (:meth:`to_input_space` maps them back)."""
        out = self.member_logits(self.member_codes(x))
        return torch.sigmoid(out) if self.config.output_activation == "sigmoid" else out

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.member_codes(x).transpose(0, 1)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        raise InvalidInputError(
            "a dense-ensemble decodes member by member: use decode (the members' mean) or member_outputs"
        )

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = self.member_logits(z.transpose(0, 1).contiguous())
        out = torch.sigmoid(out) if self.config.output_activation == "sigmoid" else out
        return self.mean_over_members(self.to_input_space(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mean_over_members(self.to_input_space(self.member_outputs(x)))

    def mean_over_members(self, out: torch.Tensor) -> torch.Tensor:
        """(N, B, *shape) -> (B, *shape): each feature's mean over the members that see it."""
        if not self.config.feature_subsets:
            return out.mean(dim=0)
        mask = self.feature_mask.view(len(out), 1, *self.input_shape)
        return (out * mask).sum(dim=0) / mask.sum(dim=0)

    # -- training --------------------------------------------------------------------------
    losses = ("mse", "mae")

    def training_loss(self, x: torch.Tensor, target: torch.Tensor, *, loss: str, labels=None) -> TrainingLoss:
        """Per-member, per-sample losses, shape (N, B): each member's error over its own features."""
        out = self.member_outputs(x).flatten(2)
        target = self.member_targets(target)
        diff = out - (target if target.dim() == 3 else target[None])
        per = diff.square() if loss == "mse" else diff.abs()
        if self.config.feature_subsets:
            return TrainingLoss((per * self.feature_mask[:, None, :]).sum(-1) / self.feature_mask.sum(-1)[:, None])
        return TrainingLoss(functools.partial(per.mean, -1))

    def extra_repr(self) -> str:
        return f"name={self.name!r}, n_members={self.n_members}"


# the activations f with f(0) = 0 ("none": the identity)
_ZERO_AT_ZERO = {None, "none", "relu", "tanh", "elu", "leaky_relu", "gelu"}

_ACT = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "elu": F.elu,
    "leaky_relu": F.leaky_relu,
    "gelu": F.gelu,
}
