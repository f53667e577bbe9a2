"""Variational autoencoders (Kingma & Welling): the encoder gives the mean and log-variance of
q(z | x), a code is drawn with the reparameterisation trick, and the loss is the negative ELBO in
nats per sample: reconstruction negative log-likelihood + ``beta`` * KL(q(z | x) || N(0, I)).

``vae`` (dense), ``conv-vae`` (strided convolutions) and ``cvae`` (conditional on a class label:
the one-hot label joins the encoder's input and the decoder's code) share one base class, which
owns the likelihood, the ELBO and the importance-weighted estimate of -log p(x). ``encode``
returns the mean code (a deterministic embedding); ``forward`` reconstructs from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hourglass.errors import InvalidInputError
from hourglass.models.base import (
    Autoencoder,
    ModelConfig,
    TrainingLoss,
    activation_layer,
    check_int_tuple,
    check_unit_range,
)
from hourglass.models.conv import IMAGE_AXES, ConvConfig, linear_bottleneck, strided_stacks
from hourglass.models.dense import mlp
from hourglass.models.registry import register_model
from hourglass.validation import check_positive_int

LIKELIHOODS = ("bernoulli", "gaussian")
PRIORS = ("normal", "vamp", "mixture")
VARIANCES = ("learned", "learned-shared", "fixed")
# A learnt Gaussian std may not shrink below this: on a pixel that is always 0 the likelihood
# would otherwise grow without bound and drown every other term of the ELBO.
MIN_LOG_STD = math.log(1e-3)
LOG_2PI = math.log(2 * math.pi)


@dataclass
class VariationalOptions:
    """The options every VAE config shares (a dataclass mixin: listed before the base config).

    beta : weight of the KL term (beta-VAE; 1 = the ELBO).
    likelihood : "bernoulli" for data in [0, 1] (binary cross-entropy; sigmoid output) or
        "gaussian" for real-valued data (linear output).
    variance : for a Gaussian likelihood, "learned" (one std per element, learnt with the
        model), "learned-shared" (one std for all elements) or "fixed" (``std``).
    std : the fixed std. A learnt std starts at the training data's std (``hg.fit`` sets it).
    prior : p(z). "normal" (N(0, I), the classic VAE); "vamp" (the VampPrior of Tomczak &
        Welling: the mean of q(z | u_k) over ``prior_components`` learnt pseudo-inputs u_k);
        "mixture" (``prior_components`` learnt Gaussians, equal weights). A learnt prior fits the
        codes the encoder gives instead of pulling them to N(0, I), which costs nats.
    prior_components : pseudo-inputs ("vamp") or Gaussians ("mixture").
    iw_samples : k of the training objective: 1 trains on the ELBO; k > 1 on the
        importance-weighted bound of Burda et al. (IWAE), -log (1/k) sum_i w_i, tighter than the
        ELBO, at k decoder passes per sample.
    """

    beta: float = 1.0
    likelihood: str = "bernoulli"
    variance: str = "learned"
    std: float = 1.0
    prior: str = "normal"
    prior_components: int = 500
    iw_samples: int = 1

    def __post_init__(self):
        super().__post_init__()
        if self.likelihood not in LIKELIHOODS:
            raise InvalidInputError(f"likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}")
        if self.variance not in VARIANCES:
            raise InvalidInputError(f"variance must be one of {VARIANCES}, got {self.variance!r}")
        for name in ("beta", "std"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise InvalidInputError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.std <= 0:
            raise InvalidInputError(f"std must be > 0, got {self.std!r}")
        if self.prior not in PRIORS:
            raise InvalidInputError(f"prior must be one of {PRIORS}, got {self.prior!r}")
        self.prior_components = check_positive_int(self.prior_components, "prior_components")
        self.iw_samples = check_positive_int(self.iw_samples, "iw_samples")
        # The likelihood fixes the output: Bernoulli means are probabilities, Gaussian ones are not.
        self.output_activation = "sigmoid" if self.likelihood == "bernoulli" else "none"

    def to_dict(self) -> dict:
        # options added after 0.1.0 are written only when set: a classic VAE's saved config (and
        # a checkpoint's fingerprint of it) stays what 0.1.0 wrote
        d = super().to_dict()
        for name, default in (("prior", "normal"), ("prior_components", 500), ("iw_samples", 1)):
            if d.get(name) == default:
                d.pop(name)
        return d


@dataclass
class VAEConfig(VariationalOptions, ModelConfig):
    """Config of the dense :class:`DenseVAE`: ``hidden`` (encoder hidden sizes; the decoder
    mirrors them), ``latent_dim`` (code size), ``activation``, and the :class:`VariationalOptions`
    (``beta``, ``likelihood``, ``variance``, ``std``)."""

    input_shape: tuple[int, ...] = (1, 28, 28)
    hidden: tuple[int, ...] = (512,)
    latent_dim: int = 20
    activation: str = "relu"

    def __post_init__(self):
        super().__post_init__()
        self.hidden = check_int_tuple(self.hidden, "hidden")
        self.latent_dim = check_positive_int(self.latent_dim, "latent_dim")


class VariationalAutoencoder(Autoencoder):
    """Base of the VAEs. A subclass builds ``encoder`` (input -> features), ``to_mean`` and
    ``to_logvar`` (features -> code statistics) and ``decoder`` (code -> output logits); a
    conditional one also overrides :meth:`_encoder_input` and :meth:`_decoder_input`."""

    generative = True
    default_loss = "elbo"
    losses = ("elbo",)

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        # The KL term's weight in the training loss, a fraction of beta: 1 except during a KL
        # warm-up (hg.fit(kl_warmup=E) ramps it from 0 over E epochs). Not part of the model's
        # saved state.
        self.kl_weight = 1.0
        self._warmup_steps = 0
        if config.likelihood == "gaussian" and config.variance != "fixed":
            shape = config.input_shape if config.variance == "learned" else (1,)
            self.log_std = nn.Parameter(torch.full(shape, math.log(config.std)))
        k = config.prior_components
        if config.prior == "vamp":
            if getattr(self, "conditional", False):
                raise InvalidInputError(
                    "prior='vamp' is not defined for a conditional VAE (its encoder needs a class for each "
                    "pseudo-input); use prior='mixture'"
                )
            self.pseudo_inputs = nn.Parameter(torch.empty(k, *config.input_shape))
        elif config.prior == "mixture":
            self.prior_means = nn.Parameter(torch.empty(k, config.latent_dim))
            self.prior_logvars = nn.Parameter(torch.zeros(k, config.latent_dim))

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if hasattr(self, "log_std"):
            nn.init.constant_(self.log_std, math.log(self.config.std))
        if hasattr(self, "pseudo_inputs"):  # as the VampPrior paper: near-blank images
            nn.init.normal_(self.pseudo_inputs, 0.05, 0.01)
        if hasattr(self, "prior_means"):
            nn.init.normal_(self.prior_means)
            nn.init.zeros_(self.prior_logvars)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.config.latent_dim,)

    @torch.no_grad()
    def init_from_data(self, target: torch.Tensor) -> None:
        """Called by ``hg.fit`` before training: a learnt Gaussian std that still has its initial
        value starts at the training targets' std (per element, or overall for
        "learned-shared"), an upper bound of the residual's. Adam moves a log-std by about the
        learning rate per step, so starting from 1 on data in [0, 1] would take thousands of
        steps to reach the data's scale."""
        if not hasattr(self, "log_std") or not torch.all(self.log_std == math.log(self.config.std)):
            return
        flat = target.float().flatten(1)
        std = flat.std(dim=0) if self.config.variance == "learned" else flat.std().reshape(1)
        self.log_std.copy_(std.clamp(min=math.exp(MIN_LOG_STD)).log().reshape(self.log_std.shape))

    # -- the conditioning hooks (identity for an unconditional model) ------------------------
    def _encoder_input(self, x: torch.Tensor, labels) -> torch.Tensor:
        return x

    def _decoder_input(self, z: torch.Tensor, labels) -> torch.Tensor:
        return z

    # -- encode / decode --------------------------------------------------------------------
    def encode_distribution(self, x: torch.Tensor, labels=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | x)."""
        h = self.encoder(self._encoder_input(x, labels))
        return self.to_mean(h), self.to_logvar(h)

    def encode(self, x: torch.Tensor, labels=None) -> torch.Tensor:
        return self.encode_distribution(x, labels)[0]

    def decode_logits(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        return self.decoder(self._decoder_input(z, labels)).reshape(z.shape[0], *self.config.input_shape)

    def decode(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        """The mean of p(x | z): pixel probabilities (Bernoulli) or values (Gaussian)."""
        out = self.decode_logits(z, labels)
        return torch.sigmoid(out) if self.config.output_activation == "sigmoid" else out

    def forward(self, x: torch.Tensor, labels=None) -> torch.Tensor:
        return self.decode(self.encode(x, labels), labels)

    # -- the prior p(z) -----------------------------------------------------------------------
    def _prior_components(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Means and log-variances (K, latent) of a learnt prior's components."""
        if hasattr(self, "pseudo_inputs"):
            u = self.pseudo_inputs
            if self.config.likelihood == "bernoulli":  # pseudo-inputs live where the data do
                u = F.hardtanh(u, 0.0, 1.0)
            return self.encode_distribution(u)
        return self.prior_means, self.prior_logvars

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) over the last axis of ``z`` (..., latent), in nats."""
        d = z.shape[-1]
        if self.config.prior == "normal":
            return -0.5 * (z.square().sum(dim=-1) + d * LOG_2PI)
        means, logvars = self._prior_components()
        inv = torch.exp(-logvars)  # (K, d)
        flat = z.reshape(-1, d)
        # sum_d (z - m)^2 / v as matmuls: no (rows, K, d) tensor, which k = 1000 draws would make huge
        sq = flat.square() @ inv.T - 2 * flat @ (means * inv).T + (means.square() * inv).sum(dim=1)
        log_comp = -0.5 * (sq + logvars.sum(dim=1) + d * LOG_2PI)  # (rows, K)
        log_p = torch.logsumexp(log_comp, dim=1) - math.log(len(means))
        return log_p.reshape(z.shape[:-1])

    @torch.no_grad()
    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` codes drawn from p(z), on the CPU."""
        eps = torch.randn((n, self.config.latent_dim), generator=generator)
        if self.config.prior == "normal":
            return eps
        means, logvars = (t.detach().float().cpu() for t in self._prior_components())
        pick = torch.randint(len(means), (n,), generator=generator)
        return means[pick] + torch.exp(0.5 * logvars[pick]) * eps

    # -- likelihood and ELBO ------------------------------------------------------------------
    def element_nll(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """-log p(target | z) per element, in nats, from the decoder's logits."""
        if self.config.likelihood == "bernoulli":
            return F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        if hasattr(self, "log_std"):
            log_std = self.log_std.clamp(min=MIN_LOG_STD)
        else:
            log_std = torch.full((1,), math.log(self.config.std), device=logits.device, dtype=logits.dtype)
        return 0.5 * ((logits - target) * torch.exp(-log_std)).square() + log_std + 0.5 * LOG_2PI

    def negative_elbo(self, x: torch.Tensor, target: torch.Tensor, labels=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per sample: reconstruction NLL (one reparameterised draw) and the KL, in nats (the
        analytic KL under the normal prior, else its one-draw estimate log q(z | x) - log p(z))."""
        nll, kl = self._draw_terms(x, target, labels, 1)
        return nll[0], kl[0]

    def _draw_terms(self, x: torch.Tensor, target: torch.Tensor, labels, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """For ``k`` reparameterised draws per sample: the reconstruction NLL and the KL term
        (its one-draw estimate, or the analytic KL under the normal prior), each (k, n)."""
        mean, logvar = self.encode_distribution(x, labels)
        # Draws come from torch's global generator, which hg.fit seeds from its own seed.
        eps = torch.randn((k, *mean.shape), device=mean.device, dtype=mean.dtype)
        z = mean[None] + eps * torch.exp(0.5 * logvar)[None]  # (k, n, latent)
        rep = None if labels is None else labels.repeat(k)
        logits = self.decode_logits(z.reshape(k * len(x), -1), rep)
        nll = self.element_nll(logits, target.repeat(k, *([1] * (target.dim() - 1))))
        nll = nll.reshape(k, len(x), -1).sum(dim=2)
        if self.config.prior == "normal" and k == 1:
            return nll, gaussian_kl(mean, logvar)[None]
        log_q = -0.5 * (eps.square().sum(dim=2) + logvar.sum(dim=1)[None] + z.shape[2] * LOG_2PI)
        return nll, log_q - self.log_prior(z)

    def loss(
        self, x: torch.Tensor, target: torch.Tensor, loss: str = "elbo", reduction: str = "mean", labels=None
    ) -> torch.Tensor:
        out = self.training_loss(x, target, loss=loss, labels=labels)
        return out.mean() if reduction == "mean" else out.per_sample

    # -- what the fit loop calls -------------------------------------------------------------
    def training_loss(self, x: torch.Tensor, target: torch.Tensor, *, loss: str = "elbo", labels=None) -> TrainingLoss:
        """The negative ELBO per sample, in nats, with the KL term weighted by ``beta`` (and in
        training mode by the warm-up's current weight); its parts are the reconstruction NLL and
        the KL."""
        if loss != "elbo":
            raise InvalidInputError(f"a variational autoencoder trains with loss='elbo', got loss={loss!r}")
        k = self.config.iw_samples
        nll, kl = self._draw_terms(x, target, labels, k)
        weight = self.kl_weight if self.training else 1.0  # a warm-up weights training steps only
        neg_log_w = nll + (self.config.beta * weight) * kl  # (k, n)
        # k = 1: the negative ELBO; k > 1: the IWAE bound -log mean_i w_i (logsumexp for stability)
        value = neg_log_w[0] if k == 1 else -(torch.logsumexp(-neg_log_w, dim=0) - math.log(k))
        return TrainingLoss(value, parts={"reconstruction": nll.mean(dim=0), "kl": kl.mean(dim=0)})

    def prepare_training(self, options, *, loss: str, steps_per_epoch: int, targets, sample: torch.Tensor) -> None:
        if loss != "elbo":
            raise InvalidInputError(f"a variational autoencoder trains with loss='elbo', got loss={loss!r}")
        if self.config.likelihood == "bernoulli":
            check_unit_range(targets, "a Bernoulli likelihood")
        self._warmup_steps = options.kl_warmup * steps_per_epoch
        self.init_from_data(sample)

    def training_step(self, step: int) -> None:
        if self._warmup_steps:
            self.kl_weight = min(1.0, step / self._warmup_steps)

    def finish_training(self) -> None:
        self.kl_weight, self._warmup_steps = 1.0, 0

    def _draws(self, x: torch.Tensor, eps: torch.Tensor, labels, rows: int | None, stats=None):
        """For each chunk of the fixed standard-normal draws ``eps`` (k, latent): the codes
        z = mean + std * eps, and the per-element NLL of ``x`` decoded from them, (k_chunk, n, ...).
        Each chunk decodes about ``rows`` codes at once, which bounds the memory; ``rows=None``
        decodes all k draws in one chunk (what an exported graph needs: its batch size is not
        known when it is traced). ``stats``: q(z | x)'s (mean, logvar) when the caller has them."""
        mean, logvar = self.encode_distribution(x, labels) if stats is None else stats
        std = torch.exp(0.5 * logvar)
        n = x.shape[0]  # not len(x): that would fix the batch size in an exported graph
        chunk = len(eps) if rows is None else max(1, rows // n)
        rep_labels = None
        for i in range(0, len(eps), chunk):
            e = eps[i : i + chunk, None, :]  # (kc, 1, latent)
            z = mean[None] + std[None] * e  # (kc, n, latent)
            kc = z.shape[0]
            if labels is not None:
                rep_labels = labels.repeat(kc)
            logits = self.decode_logits(z.reshape(kc * n, -1), rep_labels)
            nll = self.element_nll(logits, x.repeat(kc, *([1] * (x.dim() - 1))))
            yield e.squeeze(1), z, logvar, nll.reshape(kc, n, *x.shape[1:])

    def expected_nll_map(
        self, x: torch.Tensor, eps: torch.Tensor, labels=None, rows: int | None = 16384, stats=None
    ) -> torch.Tensor:
        """Per element: -log p(x | z) averaged over the codes z = mean + std * eps (k draws)."""
        total = None
        for _, _, _, nll in self._draws(x, eps, labels, rows, stats):
            part = nll.sum(dim=0)
            total = part if total is None else total + part
        return total / len(eps)

    def expected_negative_elbo(
        self, x: torch.Tensor, eps: torch.Tensor, labels=None, rows: int | None = 16384
    ) -> torch.Tensor:
        """-ELBO per sample: the reconstruction NLL averaged over k draws, plus the analytic KL
        (under a learnt prior: -mean_i log w_i over the same draws)."""
        if self.config.prior != "normal":
            return -self.log_weights(x, eps, labels, rows).mean(dim=0)
        mean, logvar = self.encode_distribution(x, labels)
        nll = self.expected_nll_map(x, eps, labels, rows, stats=(mean, logvar))
        return nll.flatten(1).sum(dim=1) + gaussian_kl(mean, logvar)

    def log_weights(self, x: torch.Tensor, eps: torch.Tensor, labels=None, rows: int | None = 16384) -> torch.Tensor:
        """log p(x | z_i) + log p(z_i) - log q(z_i | x) for the codes z_i = mean + std * eps_i,
        shape (k, n). Their mean is an estimate of the ELBO; see :meth:`importance_weighted_nll`."""
        log_ws = []
        for e, z, logvar, nll in self._draws(x, eps, labels, rows):
            log_px_z = -nll.flatten(2).sum(dim=2)  # (kc, n)
            log_pz = self.log_prior(z)
            log_qz = -0.5 * (e.square().sum(dim=1, keepdim=True) + logvar.sum(dim=1)[None] + z.shape[2] * LOG_2PI)
            log_ws.append(log_px_z + log_pz - log_qz)
        return torch.cat(log_ws)

    def importance_weighted_nll(
        self, x: torch.Tensor, eps: torch.Tensor, labels=None, rows: int | None = 16384
    ) -> torch.Tensor:
        """-log p(x) per sample, estimated with k importance samples from q(z | x) (Burda et al.):
        -log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x). An upper bound on the true NLL (in
        expectation) that tightens as k grows; k = 1 gives the -ELBO of one draw."""
        log_w = self.log_weights(x, eps, labels, rows)
        return -(torch.logsumexp(log_w, dim=0) - math.log(len(log_w)))


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) per sample, in nats."""
    return -0.5 * (1 + logvar - mean.square() - logvar.exp()).sum(dim=1)


@register_model
class DenseVAE(VariationalAutoencoder):
    """Fully connected VAE; the classic MNIST model is ``hidden=(400,), latent_dim=20``."""

    name = "vae"
    config_class = VAEConfig

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        features = math.prod(config.input_shape)
        extra = getattr(config, "n_classes", 0)
        sizes = [features + extra, *config.hidden]
        # Every layer, the last included, is Linear + activation: the heads and the output follow.
        self.encoder = nn.Sequential(nn.Flatten(), *mlp(sizes, config.activation, config.activation))
        self.to_mean = nn.Linear(sizes[-1], config.latent_dim)
        self.to_logvar = nn.Linear(sizes[-1], config.latent_dim)
        back = [config.latent_dim + extra, *config.hidden[::-1]]
        self.decoder = nn.Sequential(*mlp(back, config.activation, config.activation), nn.Linear(back[-1], features))


@dataclass
class CVAEConfig(VAEConfig):
    """A :class:`VAEConfig` plus ``n_classes``: labels are integers in ``[0, n_classes)``."""

    n_classes: int = 10

    def __post_init__(self):
        super().__post_init__()
        self.n_classes = check_positive_int(self.n_classes, "n_classes")
        if self.n_classes < 2:
            raise InvalidInputError(f"n_classes must be >= 2, got {self.n_classes}")


@register_model
class ConditionalVAE(DenseVAE):
    """Conditional VAE (Sohn et al.): the one-hot label is appended to the flattened input and to
    the code, so the code need not carry the class and ``hg.sample(model, n, labels=c)`` draws
    new samples of class ``c``. Works for images and for tabular rows."""

    name = "cvae"
    config_class = CVAEConfig
    conditional = True

    def _one_hot(self, labels, like: torch.Tensor) -> torch.Tensor:
        if labels is None:
            raise InvalidInputError("a conditional VAE needs labels (integers in [0, n_classes))")
        return F.one_hot(labels.long(), self.config.n_classes).to(like.dtype)

    def _encoder_input(self, x: torch.Tensor, labels) -> torch.Tensor:
        return torch.cat([x.flatten(1), self._one_hot(labels, x)], dim=1)

    def _decoder_input(self, z: torch.Tensor, labels) -> torch.Tensor:
        return torch.cat([z, self._one_hot(labels, z)], dim=1)


@dataclass
class ConvVAEConfig(VariationalOptions, ConvConfig):
    """Config of :class:`ConvVAE`: the convolutional stages of ``conv`` (``channels``,
    ``kernel_size``) with a dense layer of ``hidden`` units between them and the code, and the
    :class:`VariationalOptions` (``beta``, ``likelihood``, ``variance``, ``std``)."""

    channels: tuple[int, ...] = (32, 64)
    hidden: int = 256
    latent_dim: int = 20

    def __post_init__(self):
        super().__post_init__()
        self.hidden = check_positive_int(self.hidden, "hidden")
        if self.latent_dim is None:
            raise InvalidInputError("conv-vae needs an integer latent_dim")


@register_model
class ConvVAE(VariationalAutoencoder):
    """Strided Conv2d stages down to feature maps, a dense layer, the mean / log-variance heads;
    the decoder mirrors it with ConvTranspose2d stages and a last Conv2d."""

    name = "conv-vae"
    config_class = ConvVAEConfig
    axis_names = IMAGE_AXES

    def __init__(self, config: ConvVAEConfig):
        super().__init__(config)
        enc, dec = strided_stacks(config)
        down, up = linear_bottleneck(config, config.hidden)
        act = activation_layer(config.activation)
        self.feature_depth = len(enc)
        self.encoder = nn.Sequential(*enc, *down, act)
        self.to_mean = nn.Linear(config.hidden, config.latent_dim)
        self.to_logvar = nn.Linear(config.hidden, config.latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_dim, config.hidden), activation_layer(config.activation), *up, *dec
        )
