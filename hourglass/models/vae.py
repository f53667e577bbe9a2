"""Variational autoencoders (Kingma & Welling): the encoder gives a mean and a log-variance, a code
is drawn with the reparameterisation trick, and the loss is the negative ELBO in nats per sample:
reconstruction negative log-likelihood + ``beta`` * KL(q(z|x) || N(0, I)).

``encode`` returns the mean code (a deterministic embedding); ``forward`` reconstructs from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hourglass.errors import InvalidInputError
from hourglass.models.base import Autoencoder, ModelConfig, activation_layer, check_int_tuple
from hourglass.models.registry import register_model

LIKELIHOODS = ("bernoulli", "gaussian")


@dataclass
class VAEConfig(ModelConfig):
    """hidden : encoder hidden sizes (the decoder mirrors them). latent_dim : code size.
    beta : weight of the KL term (beta-VAE; 1 = the ELBO). likelihood : "bernoulli" for data in
    [0, 1] (BCE; sigmoid output), "gaussian" for real-valued data (unit variance; linear output)."""

    input_shape: tuple[int, ...] = (1, 28, 28)
    hidden: tuple[int, ...] = (512,)
    latent_dim: int = 20
    activation: str = "relu"
    beta: float = 1.0
    likelihood: str = "bernoulli"

    def __post_init__(self):
        super().__post_init__()
        self.hidden = check_int_tuple(self.hidden, "hidden")
        if isinstance(self.latent_dim, bool) or int(self.latent_dim) != self.latent_dim or self.latent_dim < 1:
            raise InvalidInputError(f"latent_dim must be an integer >= 1, got {self.latent_dim!r}")
        self.latent_dim = int(self.latent_dim)
        if self.likelihood not in LIKELIHOODS:
            raise InvalidInputError(f"likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}")
        if not (isinstance(self.beta, (int, float)) and math.isfinite(self.beta) and self.beta >= 0):
            raise InvalidInputError(f"beta must be a finite number >= 0, got {self.beta!r}")
        expected = "sigmoid" if self.likelihood == "bernoulli" else "none"
        if self.output_activation != expected:
            # The likelihood fixes the output: Bernoulli means are probabilities, Gaussian ones are not.
            self.output_activation = expected


@register_model
class DenseVAE(Autoencoder):
    """Fully connected VAE; the classic MNIST model is ``hidden=(400,), latent_dim=20``."""

    name = "vae"
    config_class = VAEConfig
    generative = True

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        features = math.prod(config.input_shape)
        sizes = [features, *config.hidden]
        body: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            body += [nn.Linear(a, b), activation_layer(config.activation)]
        self.encoder = nn.Sequential(*body)
        width = sizes[-1]
        self.to_mean = nn.Linear(width, config.latent_dim)
        self.to_logvar = nn.Linear(width, config.latent_dim)
        back = [config.latent_dim, *config.hidden[::-1]]
        dec: list[nn.Module] = []
        for a, b in zip(back[:-1], back[1:]):
            dec += [nn.Linear(a, b), activation_layer(config.activation)]
        dec.append(nn.Linear(back[-1], features))
        self.decoder = nn.Sequential(*dec)

    def encode_distribution(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | x)."""
        h = self.encoder(x.flatten(1))
        return self.to_mean(h), self.to_logvar(h)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_distribution(x)[0]

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(z.shape[0], *self.config.input_shape)

    def negative_elbo(self, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per sample: reconstruction NLL and KL, in nats, from one reparameterised draw."""
        mean, logvar = self.encode_distribution(x)
        # Draws come from torch's global generator, which hg.fit seeds from its own seed.
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        logits = self.decode_logits(z)
        if self.config.likelihood == "bernoulli":
            nll = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        else:
            nll = 0.5 * (logits - target).square() + 0.5 * math.log(2 * math.pi)
        kl = -0.5 * (1 + logvar - mean.square() - logvar.exp()).sum(dim=1)
        return nll.flatten(1).sum(dim=1), kl

    def loss(self, x: torch.Tensor, target: torch.Tensor, loss: str = "elbo", reduction: str = "mean") -> torch.Tensor:
        if loss != "elbo":
            raise InvalidInputError(f"a variational autoencoder trains with loss='elbo', got loss={loss!r}")
        nll, kl = self.negative_elbo(x, target)
        per_sample = nll + self.config.beta * kl
        return per_sample.mean() if reduction == "mean" else per_sample
