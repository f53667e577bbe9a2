"""Batched inference with NumPy in and out: encode, decode, reconstruct."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from hourglass.errors import InvalidInputError
from hourglass.models.base import Autoencoder
from hourglass.training.trainer import model_device
from hourglass.validation import as_float_array, check_positive_int, check_sample_shape


def _check_model(model) -> Autoencoder:
    if not isinstance(model, Autoencoder):
        raise InvalidInputError(f"expected an hourglass Autoencoder, got {type(model).__name__}")
    return model


def batched(model: Autoencoder, x: np.ndarray, fn: Callable[[torch.Tensor], torch.Tensor],
            batch_size: int = 1024) -> np.ndarray:
    """Apply ``fn`` to ``x`` in batches on the model's device, in eval mode, without gradients."""
    batch_size = check_positive_int(batch_size, "batch_size")
    device = model_device(model)
    was_training = model.training
    model.eval()
    outputs = []
    try:
        with torch.inference_mode():
            for i in range(0, len(x), batch_size):
                xb = torch.from_numpy(x[i:i + batch_size]).to(device)
                outputs.append(fn(xb).float().cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(outputs)


def prepare_input(model: Autoencoder, x, name: str = "x") -> np.ndarray:
    """Validate ``x`` for ``model``: finite numbers, non-empty, samples of the model's shape."""
    return check_sample_shape(as_float_array(x, name), model.input_shape, name)


def encode(model: Autoencoder, x, *, batch_size: int = 1024) -> np.ndarray:
    """Latent codes of ``x`` (image2vec). Returns an array of shape ``(n, *model.latent_shape)``."""
    model = _check_model(model)
    return batched(model, prepare_input(model, x), model.encode, batch_size)


def decode(model: Autoencoder, z, *, batch_size: int = 1024) -> np.ndarray:
    """Outputs decoded from latent codes ``z``, shape ``(n, *model.input_shape)``."""
    model = _check_model(model)
    z = check_sample_shape(as_float_array(z, "z"), model.latent_shape, "z")
    return batched(model, z, model.decode, batch_size)


def reconstruct(model: Autoencoder, x, *, batch_size: int = 1024) -> np.ndarray:
    """The model's reconstruction of ``x`` (for a denoiser: the denoised ``x``)."""
    model = _check_model(model)
    return batched(model, prepare_input(model, x), model, batch_size)


def sample(model: Autoencoder, n: int, *, labels=None, seed: int | None = None, batch_size: int = 1024) -> np.ndarray:
    """``n`` new samples from a generative model (a VAE): decode codes drawn from N(0, I).

    ``seed`` makes the draw repeatable. ``labels`` are for conditional models, which will take
    them; other models reject them.
    """
    model = _check_model(model)
    if not getattr(model, "generative", False):
        raise InvalidInputError(f"the {model.name!r} model is not generative: sampling needs a variational "
                                "autoencoder such as create_model('vae')")
    n = check_positive_int(n, "n")
    if labels is not None:
        raise InvalidInputError(f"the {model.name!r} model is not conditional; sample it without labels")
    gen = torch.Generator()
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    z = torch.randn((n, *model.latent_shape), generator=gen).numpy()
    return decode(model, z, batch_size=batch_size)
