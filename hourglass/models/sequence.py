"""Sequence autoencoders for series ``(channels, length)``, univariate or multivariate.

``conv1d``: the Keras time-series anomaly tutorial's model, strided ``Conv1d`` down and
``ConvTranspose1d`` up. ``lstm``: an LSTM reads the series into one code vector, which is repeated
at every time step and read back out by a second LSTM and a linear head.

A model is built for one length: a series of another length gets a clear error at the API
boundary (cut long recordings with :func:`hourglass.windows`). ``input_shape=(length,)`` is a
univariate series given as ``(n, length)``, like ECG5000's rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hourglass.errors import InvalidInputError
from hourglass.models.base import (
    Autoencoder,
    ModelConfig,
    activation_layer,
    check_dropout,
    check_int_tuple,
    check_odd_kernel,
)
from hourglass.models.conv import set_chains
from hourglass.models.registry import register_model
from hourglass.validation import check_positive_int


@dataclass
class SequenceConfig(ModelConfig):
    """input_shape : ``(channels, length)``, or ``(length,)`` for a univariate series."""

    input_shape: tuple[int, ...] = (1, 140)

    def __post_init__(self):
        super().__post_init__()
        if len(self.input_shape) not in (1, 2):
            raise InvalidInputError(
                f"sequence models take series (channels, length) or (length,); input_shape={self.input_shape}"
            )

    @property
    def n_channels(self) -> int:
        """Channels of the series (``channels`` is taken by the conv model's stage widths)."""
        return 1 if len(self.input_shape) == 1 else self.input_shape[0]

    @property
    def length(self) -> int:
        return self.input_shape[-1]


class SequenceAutoencoder(Autoencoder):
    """Shared by the sequence models: inputs are viewed as ``(n, channels, length)`` inside."""

    @property
    def axis_names(self) -> tuple[str, ...]:
        return ("time steps",) if len(self.config.input_shape) == 1 else ("channels", "time steps")

    def as_series(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], self.config.n_channels, self.config.length)

    def as_input(self, y: torch.Tensor) -> torch.Tensor:
        return y.reshape(y.shape[0], *self.config.input_shape)


@dataclass
class Conv1dConfig(SequenceConfig):
    """channels : output channels of each stride-2 stage; the decoder mirrors them.
    kernel_size : odd kernel size. dropout : after the first stage of the encoder and of the
    decoder, as in the tutorial (0 = off). latent_dim : None keeps the code as the last stage's
    feature maps; an int flattens them into a vector of that size through a linear layer.

    Any length works: the series is padded at the end (by repeating its last value) to a multiple
    of ``2 ** len(channels)`` and the reconstruction is cut back to the input's length.
    """

    channels: tuple[int, ...] = (32, 16)
    kernel_size: int = 7
    activation: str = "relu"
    dropout: float = 0.2
    latent_dim: int | None = None

    def __post_init__(self):
        super().__post_init__()
        self.channels = check_int_tuple(self.channels, "channels", allow_empty=False)
        self.kernel_size = check_odd_kernel(self.kernel_size)
        self.dropout = check_dropout(self.dropout)
        if self.latent_dim is not None:
            self.latent_dim = check_positive_int(self.latent_dim, "latent_dim")

    @property
    def padded_length(self) -> int:
        factor = 2 ** len(self.channels)
        return -(-self.length // factor) * factor

    def feature_shape(self) -> tuple[int, int]:
        return self.channels[-1], self.padded_length // 2 ** len(self.channels)


@register_model
class Conv1dAutoencoder(SequenceAutoencoder):
    """Per stage ``Conv1d(stride=2)`` + activation down; ``ConvTranspose1d(stride=2)`` +
    activation up; a last ``Conv1d`` to the input's channels.

    With the defaults this is the Keras time-series tutorial's model: Conv1D(32, 7) and
    Conv1D(16, 7) with stride 2 and dropout 0.2, mirrored by Conv1DTranspose layers.

    Examples
    --------
    >>> import hourglass as hg
    >>> model = hg.create_model("conv1d", input_shape=(140,), seed=0)
    >>> model.latent_shape
    (16, 35)
    """

    name = "conv1d"
    config_class = Conv1dConfig

    def __init__(self, config: Conv1dConfig):
        super().__init__(config)
        k, pad = config.kernel_size, config.kernel_size // 2
        enc: list[nn.Module] = []
        prev = config.n_channels
        for i, c in enumerate(config.channels):
            enc += [nn.Conv1d(prev, c, k, stride=2, padding=pad), activation_layer(config.activation)]
            if i == 0 and config.dropout:
                enc.append(nn.Dropout(config.dropout))
            prev = c
        dec: list[nn.Module] = []
        for i, c in enumerate(reversed(config.channels)):
            dec += [
                nn.ConvTranspose1d(prev, c, k, stride=2, padding=pad, output_padding=1),
                activation_layer(config.activation),
            ]
            if i == 0 and config.dropout:
                dec.append(nn.Dropout(config.dropout))
            prev = c
        dec.append(nn.Conv1d(prev, config.n_channels, k, padding=pad))
        set_chains(self, enc, dec)

    def padded(self, x: torch.Tensor) -> torch.Tensor:
        """The series as the encoder takes it: (n, channels, padded length)."""
        x = self.as_series(x)
        extra = self.config.padded_length - self.config.length
        return F.pad(x, (0, extra), mode="replicate") if extra else x

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.padded(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.feature_depth is None:
            return self.encode(x).flatten(1)
        return self.encoder[: self.feature_depth](self.padded(x)).flatten(1)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.as_input(self.decoder(z)[..., : self.config.length])


@dataclass
class LSTMConfig(SequenceConfig):
    """hidden : sizes of the encoder's LSTM layers before the code; the decoder mirrors them.
    latent_dim : size of the code, the last encoder layer's final hidden state."""

    hidden: tuple[int, ...] = (64,)
    latent_dim: int = 32

    def __post_init__(self):
        super().__post_init__()
        self.hidden = check_int_tuple(self.hidden, "hidden")
        self.latent_dim = check_positive_int(self.latent_dim, "latent_dim")


def lstm_stack(sizes: list[int]) -> nn.ModuleList:
    """One single-layer LSTM per step of ``sizes`` (``nn.LSTM(num_layers=k)`` needs equal sizes)."""
    return nn.ModuleList(nn.LSTM(a, b, batch_first=True) for a, b in zip(sizes[:-1], sizes[1:]))


@register_model
class LSTMAutoencoder(SequenceAutoencoder):
    """An LSTM encoder reads the series to its final hidden state, the code; the decoder repeats
    the code at every time step, runs the mirrored LSTMs over it and maps each step to the input's
    channels with a linear head.

    Examples
    --------
    >>> import hourglass as hg
    >>> model = hg.create_model("lstm", input_shape=(140,), hidden=(32,), latent_dim=16, seed=0)
    >>> model.latent_shape
    (16,)
    """

    name = "lstm"
    config_class = LSTMConfig

    def __init__(self, config: LSTMConfig):
        super().__init__(config)
        self.encoder = lstm_stack([config.n_channels, *config.hidden, config.latent_dim])
        back = [config.latent_dim, *reversed(config.hidden)] if config.hidden else [config.latent_dim] * 2
        self.decoder = lstm_stack(back)
        self.head = nn.Linear(back[-1], config.n_channels)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        h = self.as_series(x).transpose(1, 2)  # (n, length, channels): one step per time step
        for layer in self.encoder:
            h, (last, _) = layer(h)
        return last[0]

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        h = z.unsqueeze(1).expand(-1, self.config.length, -1)
        for layer in self.decoder:
            h, _ = layer(h)
        return self.as_input(self.head(h).transpose(1, 2))

    def reset_parameters(self) -> None:
        super().reset_parameters()
        # Keras' LSTM defaults: Glorot input weights, orthogonal recurrent weights, forget-gate
        # bias 1 (so the cell remembers by default early in training), other biases 0.
        for layer in [*self.encoder, *self.decoder]:
            nn.init.xavier_uniform_(layer.weight_ih_l0)
            nn.init.orthogonal_(layer.weight_hh_l0)
            nn.init.zeros_(layer.bias_ih_l0)
            nn.init.zeros_(layer.bias_hh_l0)
            with torch.no_grad():
                layer.bias_ih_l0[layer.hidden_size : 2 * layer.hidden_size] = 1.0
