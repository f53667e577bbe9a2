"""Autoencoder models and their registry.

>>> import hourglass as hg
>>> hg.list_models("conv*")
['conv', 'conv-bn']
"""

from hourglass.models import conv, dense, vae  # noqa: F401  (registers the models)
from hourglass.models.base import Autoencoder, ModelConfig
from hourglass.models.conv import ConvAutoencoder, ConvBNAutoencoder
from hourglass.models.dense import DenseAutoencoder, StackedAutoencoder
from hourglass.models.vae import DenseVAE
from hourglass.models.registry import create_model, list_models, model_from_config, register_model

__all__ = ["Autoencoder", "ModelConfig", "ConvAutoencoder", "ConvBNAutoencoder", "DenseAutoencoder", "DenseVAE",
           "StackedAutoencoder", "create_model", "list_models", "model_from_config", "register_model"]
