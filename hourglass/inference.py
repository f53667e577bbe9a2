"""Batched inference with NumPy in and out: encode, decode, reconstruct."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from hourglass.devices import model_device
from hourglass.errors import InvalidInputError
from hourglass.labels import check_labels
from hourglass.models.base import Autoencoder
from hourglass.models.vae import VariationalAutoencoder
from hourglass.threads import for_model
from hourglass.validation import as_float_array, check_model_input, check_positive_int, check_sample_shape


def _check_model(model) -> Autoencoder:
    if not isinstance(model, Autoencoder):
        raise InvalidInputError(f"expected an hourglass Autoencoder, got {type(model).__name__}")
    return model


def batched(
    models, x: np.ndarray, fn: Callable[..., torch.Tensor], batch_size: int = 1024, labels: np.ndarray | None = None
):
    """Apply ``fn`` to ``x`` in batches on the device of ``models`` (a model or a list of them),
    with the models in eval mode (their modes given back after), without gradients, on the CPU
    threads :mod:`hourglass.threads` picks for the first model's work per operation.

    With ``labels`` (a conditional model's classes) ``fn`` is called as ``fn(xb, labels_b)``.
    ``fn`` may return a tensor or a tuple of tensors; the result is the matching array(s), float32
    (float64 where ``fn`` computes in float64).
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    models = list(models) if isinstance(models, (list, tuple)) else [models]
    device = model_device(models[0])
    modes = [m.training for m in models]
    for m in models:
        m.eval()

    def to_numpy(t: torch.Tensor) -> np.ndarray:
        return (t if t.dtype in (torch.float32, torch.float64) else t.float()).cpu().numpy()

    outputs = []
    try:
        with torch.inference_mode(), for_model(models[0], min(batch_size, max(len(x), 1)), device=device):
            for i in range(0, len(x), batch_size):
                rows = x[i : i + batch_size]
                # a read-only memory map cannot back a tensor (torch warns): copy the batch out
                xb = torch.from_numpy(rows if rows.flags.writeable else np.array(rows)).to(device)
                out = fn(xb) if labels is None else fn(xb, torch.from_numpy(labels[i : i + batch_size]).to(device))
                outputs.append(tuple(to_numpy(o) for o in out) if isinstance(out, tuple) else to_numpy(out))
    finally:
        for m, mode in zip(models, modes):
            m.train(mode)
    if isinstance(outputs[0], tuple):
        return tuple(np.concatenate(parts) for parts in zip(*outputs))
    return np.concatenate(outputs)


prepare_input = check_model_input  # validate x for a model: finite, non-empty, the model's shape


def encode(model: Autoencoder, x, *, labels=None, return_logvar: bool = False, batch_size: int = 1024):
    """Latent codes of ``x`` (image2vec): an array of shape ``(n, *model.latent_shape)``.

    For a VAE the code is the mean of q(z | x); ``return_logvar=True`` returns ``(mean, logvar)``.
    A conditional model (``cvae``) needs the ``labels`` of ``x``.

    Examples
    --------
    >>> import hourglass as hg
    >>> model = hg.create_model("vae", input_shape=(140,), likelihood="gaussian", latent_dim=4, seed=0)
    >>> x = hg.datasets.load("ecg5000").x_test[:3]
    >>> mean, logvar = hg.encode(model, x, return_logvar=True)
    >>> mean.shape, logvar.shape
    ((3, 4), (3, 4))
    """
    model = _check_model(model)
    x = prepare_input(model, x)
    labels = check_labels(model, labels, len(x))
    if return_logvar:
        if not isinstance(model, VariationalAutoencoder):
            raise InvalidInputError(
                f"return_logvar=True needs a variational model; the {model.name!r} model's "
                "code is a point, not a distribution"
            )
        return batched(model, x, model.encode_distribution, batch_size, labels)
    return batched(model, x, model.encode, batch_size, labels)


def decode(model: Autoencoder, z, *, labels=None, batch_size: int = 1024) -> np.ndarray:
    """Outputs decoded from latent codes ``z``, shape ``(n, *model.input_shape)``."""
    model = _check_model(model)
    z = check_sample_shape(as_float_array(z, "z"), model.latent_shape, "z")
    labels = check_labels(model, labels, len(z))
    return batched(model, z, model.decode, batch_size, labels)


def reconstruct(model: Autoencoder, x, *, labels=None, batch_size: int = 1024) -> np.ndarray:
    """The model's reconstruction of ``x`` (for a denoiser: the denoised ``x``; for a VAE: decoded
    from the mean code)."""
    model = _check_model(model)
    x = prepare_input(model, x)
    return batched(model, x, model, batch_size, check_labels(model, labels, len(x)))


def sample(model: Autoencoder, n: int, *, labels=None, seed: int | None = None, batch_size: int = 1024) -> np.ndarray:
    """``n`` new samples from a generative model (a VAE): decode codes drawn from its prior (N(0, I),
    or the learnt VampPrior / mixture).

    Returns the decoder's mean for each code (pixel probabilities for a Bernoulli likelihood),
    shape ``(n, *model.input_shape)``. ``seed`` makes the draw repeatable. A conditional model
    (``cvae``) needs ``labels``: one class for all samples, or one per sample.

    Examples
    --------
    >>> import hourglass as hg
    >>> model = hg.create_model("cvae", input_shape=(1, 28, 28), n_classes=10, seed=0)
    >>> hg.sample(model, 4, labels=7, seed=0).shape
    (4, 1, 28, 28)
    """
    model = _check_model(model)
    if not model.generative:
        raise InvalidInputError(
            f"the {model.name!r} model is not generative: sampling needs a variational "
            "autoencoder such as create_model('vae')"
        )
    n = check_positive_int(n, "n")
    labels = check_labels(model, labels, n)
    gen = torch.Generator()
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    z = model.sample_prior(n, gen).numpy()
    return decode(model, z, labels=labels, batch_size=batch_size)


def interpolate(model: Autoencoder, a, b, steps: int = 10, *, labels=None) -> np.ndarray:
    """Walk the latent space from input ``a`` to input ``b``: their codes (a VAE's mean codes)
    mixed linearly in ``steps`` equal steps, each decoded. Returns ``(steps, *model.input_shape)``;
    the first row is ``a``'s reconstruction, the last ``b``'s. A conditional model takes one
    class in ``labels`` for the whole path.

    Examples
    --------
    >>> import hourglass as hg
    >>> x = hg.datasets.load("ecg5000").x_test
    >>> model = hg.create_model("stacked", input_shape=(140,), seed=0)
    >>> hg.interpolate(model, x[0], x[1], steps=5).shape
    (5, 140)
    """
    model = _check_model(model)
    steps = check_positive_int(steps, "steps")
    if steps < 2:
        raise InvalidInputError(f"steps must be >= 2 (the two ends), got {steps}")
    ends = []
    for name, v in (("a", a), ("b", b)):
        arr = as_float_array(v, name)
        if arr.shape == tuple(model.input_shape) or arr.ndim == 1:
            arr = arr[None]
        arr = check_sample_shape(arr, model.input_shape, name)
        if len(arr) != 1:
            raise InvalidInputError(f"{name} must be a single sample of shape {model.input_shape}, got {len(arr)}")
        ends.append(arr)
    if labels is not None and np.ndim(labels) != 0:
        raise InvalidInputError("interpolate takes one class in labels for the whole path")
    codes = encode(model, np.concatenate(ends), labels=None if labels is None else [labels, labels])
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32).reshape(-1, *([1] * (codes.ndim - 1)))
    path = (1 - t) * codes[0] + t * codes[1]
    return decode(model, path, labels=labels)
