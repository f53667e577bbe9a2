"""Convolutional autoencoders for images ``(channels, height, width)``.

``conv``: the denoising tutorial's model, strided convolutions down and transposed convolutions
up. ``conv-bn``: the anomaly-detection article's model, convolution + batch norm + max-pool down,
upsample + convolution back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from hourglass.errors import InvalidInputError
from hourglass.models.base import Autoencoder, ModelConfig, activation_layer, check_int_tuple, check_odd_kernel
from hourglass.models.registry import register_model
from hourglass.validation import check_positive_int

IMAGE_AXES = ("channels", "height", "width")


@dataclass
class ConvConfig(ModelConfig):
    """channels : output channels of each downsampling stage; the decoder mirrors them.
    kernel_size : odd kernel size ("same" padding). activation : between layers.
    latent_dim : None keeps the code spatial (the last stage's feature maps, as in the tutorial);
    an int flattens them into a vector of that size through a linear layer (a fixed-size
    embedding, "image2vec")."""

    input_shape: tuple[int, ...] = (1, 28, 28)
    channels: tuple[int, ...] = (16, 8)
    kernel_size: int = 3
    activation: str = "relu"
    latent_dim: int | None = None

    def __post_init__(self):
        super().__post_init__()
        self.channels = check_int_tuple(self.channels, "channels", allow_empty=False)
        if self.latent_dim is not None:
            self.latent_dim = check_positive_int(self.latent_dim, "latent_dim")
        if len(self.input_shape) != 3:
            raise InvalidInputError(
                f"convolutional models take images (channels, height, width); input_shape={self.input_shape}"
            )
        self.kernel_size = check_odd_kernel(self.kernel_size)
        factor = 2 ** len(self.channels)
        _, h, w = self.input_shape
        if h % factor or w % factor:
            raise InvalidInputError(
                f"with {len(self.channels)} downsampling stages, height and width must be divisible "
                f"by {factor}; input_shape={self.input_shape}"
            )

    def feature_shape(self) -> tuple[int, int, int]:
        """Shape of the last downsampling stage's output."""
        factor = 2 ** len(self.channels)
        return self.channels[-1], self.input_shape[1] // factor, self.input_shape[2] // factor


def linear_bottleneck(config, latent_dim: int) -> tuple[list[nn.Module], list[nn.Module]]:
    """Layers that turn the last stage's feature maps (``config.feature_shape()``: images or
    series) into a ``latent_dim`` vector (appended to the encoder) and back (prepended to the
    decoder)."""
    shape = config.feature_shape()
    width = math.prod(shape)
    down = [nn.Flatten(), nn.Linear(width, latent_dim)]
    up = [nn.Linear(latent_dim, width), activation_layer(config.activation), nn.Unflatten(1, shape)]
    return down, up


def set_chains(model, enc: list[nn.Module], dec: list[nn.Module]) -> None:
    """``model.encoder`` and ``model.decoder`` from the stages' layers, with the linear bottleneck
    to ``config.latent_dim`` between them where the config asks for one (``feature_depth``: where
    the encoder's feature maps end, for the feature scores)."""
    config = model.config
    if config.latent_dim is not None:
        down, up = linear_bottleneck(config, config.latent_dim)
        model.feature_depth = len(enc)
        enc, dec = enc + down, up + dec
    model.encoder = nn.Sequential(*enc)
    model.decoder = nn.Sequential(*dec)


def strided_stacks(config: ConvConfig) -> tuple[list[nn.Module], list[nn.Module]]:
    """Strided Conv2d stages down; mirrored ConvTranspose2d stages and a last Conv2d up."""
    k, pad = config.kernel_size, config.kernel_size // 2
    in_ch = config.input_shape[0]
    enc: list[nn.Module] = []
    prev = in_ch
    for c in config.channels:
        enc += [nn.Conv2d(prev, c, k, stride=2, padding=pad), activation_layer(config.activation)]
        prev = c
    dec: list[nn.Module] = []
    for c in reversed(config.channels):
        dec += [
            nn.ConvTranspose2d(prev, c, k, stride=2, padding=pad, output_padding=1),
            activation_layer(config.activation),
        ]
        prev = c
    dec.append(nn.Conv2d(prev, in_ch, k, padding=pad))
    return enc, dec


@dataclass
class ConvBNConfig(ConvConfig):
    """The anomaly-detection article's model: ``channels`` sets the filter count of each stage."""

    channels: tuple[int, ...] = (32, 16)


@register_model
class ConvAutoencoder(Autoencoder):
    """Strided ``Conv2d`` (stride 2) down, ``ConvTranspose2d`` (stride 2) up, a final ``Conv2d``.

    With the defaults this is the Keras denoising tutorial's model: Conv(16) and Conv(8) down to
    an 8 x 7 x 7 code, ConvTranspose(8) and ConvTranspose(16) up, Conv(1) with sigmoid.
    """

    name = "conv"
    config_class = ConvConfig
    axis_names = IMAGE_AXES

    def __init__(self, config: ConvConfig):
        super().__init__(config)
        enc, dec = strided_stacks(config)
        set_chains(self, enc, dec)


@register_model
class ConvBNAutoencoder(Autoencoder):
    """Per stage: Conv2d + BatchNorm + activation + MaxPool(2) down; mirrored with
    Upsample(2) + Conv2d + BatchNorm + activation up; a final Conv2d to the input channels."""

    name = "conv-bn"
    config_class = ConvBNConfig
    axis_names = IMAGE_AXES

    def __init__(self, config: ConvBNConfig):
        super().__init__(config)
        k, pad = config.kernel_size, config.kernel_size // 2
        in_ch = config.input_shape[0]

        def block(a: int, b: int) -> list[nn.Module]:
            # The conv's bias is redundant before batch norm, which has its own shift.
            return [nn.Conv2d(a, b, k, padding=pad, bias=False), nn.BatchNorm2d(b), activation_layer(config.activation)]

        enc: list[nn.Module] = []
        prev = in_ch
        for c in config.channels:
            enc += block(prev, c) + [nn.MaxPool2d(2)]
            prev = c
        dec: list[nn.Module] = []
        for c in reversed(config.channels):
            dec += [nn.Upsample(scale_factor=2, mode="nearest")] + block(prev, c)
            prev = c
        dec.append(nn.Conv2d(prev, in_ch, k, padding=pad))
        set_chains(self, enc, dec)
