"""The model registry: ``create_model("name", **overrides)`` and ``list_models("pattern*")``."""

from __future__ import annotations

import torch

from hourglass.models.base import Autoencoder
from hourglass.registry import Registry

MODELS: Registry[type[Autoencoder]] = Registry("model")


def register_model(cls: type[Autoencoder]) -> type[Autoencoder]:
    """Class decorator: make ``cls`` available to :func:`create_model` under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a class attribute `name` to be registered")
    return MODELS.register(cls.name, cls)


def list_models(pattern: str | None = None) -> list[str]:
    """Registered model names, optionally filtered by a glob ``pattern`` such as ``"conv*"``."""
    return MODELS.names(pattern)


def model_class(name: str) -> type[Autoencoder]:
    """The class registered as ``name`` (an unknown name is an error suggesting the closest)."""
    return MODELS[name]


def create_model(name: str, *, seed: int | None = None, **overrides) -> Autoencoder:
    """Build a registered model with its default config updated by ``overrides``.

    Parameters
    ----------
    name : str
        A name from :func:`list_models`.
    seed : int, optional
        Seed for the weight initialisation (otherwise PyTorch's global generator is used).
    **overrides
        Config fields, e.g. ``input_shape=(140,)``, ``latent_dim=8``.

    Examples
    --------
    >>> model = create_model("stacked", input_shape=(140,), hidden=(32, 16), latent_dim=8)
    >>> model.latent_shape
    (8,)
    """
    cls = model_class(name)
    config = cls.config_class.from_dict(overrides)
    return build(cls, config, seed)


def build(cls: type[Autoencoder], config, seed: int | None = None) -> Autoencoder:
    if seed is None:
        model = cls(config)
        model.reset_parameters()
        return model
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(config)
        model.seeded_reset(seed)
    return model


def model_from_config(name: str, config: dict) -> Autoencoder:
    cls = model_class(name)
    return build(cls, cls.config_class.from_dict(config))
