"""Fully connected autoencoders: the tutorial's one-layer ``dense`` and the symmetric ``stacked``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from hourglass.models.base import Autoencoder, ModelConfig, activation_layer, check_dropout, check_int_tuple
from hourglass.models.registry import register_model
from hourglass.validation import check_positive_int


@dataclass
class DenseConfig(ModelConfig):
    """Config of :class:`DenseAutoencoder`.

    hidden : sizes of the encoder's hidden layers; the decoder mirrors them.
    latent_dim : size of the code.
    activation : hidden layers' activation; latent_activation : the code's ("none" for a linear code).
    dropout : probability of zeroing each hidden unit while training (0 = off); a regulariser that
        keeps a wide autoencoder from learning the identity.
    """

    input_shape: tuple[int, ...] = (1, 28, 28)
    hidden: tuple[int, ...] = ()
    latent_dim: int = 64
    activation: str = "relu"
    latent_activation: str = "relu"
    dropout: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        self.dropout = check_dropout(self.dropout)
        self.hidden = check_int_tuple(self.hidden, "hidden")
        self.latent_dim = check_positive_int(self.latent_dim, "latent_dim")


@dataclass
class StackedConfig(DenseConfig):
    """The ECG tutorial's model by default: 140 -> 32 -> 16 -> 8 -> 16 -> 32 -> 140."""

    input_shape: tuple[int, ...] = (140,)
    hidden: tuple[int, ...] = (32, 16)
    latent_dim: int = 8


def mlp(sizes: list[int], activation: str, last_activation: str | None, dropout: float = 0.0) -> nn.Sequential:
    """Linear layers through ``sizes``: ``activation`` (and dropout) between them, ``last_activation``
    (None: nothing) after the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        last = i == len(sizes) - 2
        if not last:
            layers.append(activation_layer(activation))
            if dropout:
                layers.append(nn.Dropout(dropout))
        elif last_activation is not None:
            layers.append(activation_layer(last_activation))
    return nn.Sequential(*layers)


@register_model
class DenseAutoencoder(Autoencoder):
    """Flatten, Linear layers down to ``latent_dim``, mirrored Linear layers back, reshape.

    With the defaults this is the classic tutorial's basic autoencoder: 784 -> 64 (ReLU) -> 784
    (sigmoid).
    """

    name = "dense"
    config_class = DenseConfig

    def __init__(self, config: DenseConfig):
        super().__init__(config)
        features = math.prod(config.input_shape)
        sizes = [features, *config.hidden, config.latent_dim]
        self.encoder = mlp(sizes, config.activation, config.latent_activation, config.dropout)
        self.decoder = mlp(sizes[::-1], config.activation, None, config.dropout)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(z.shape[0], *self.config.input_shape)


@register_model
class StackedAutoencoder(DenseAutoencoder):
    """Symmetric deep dense autoencoder; ``hidden=(32, 16), latent_dim=8`` is the ECG model."""

    name = "stacked"
    config_class = StackedConfig
