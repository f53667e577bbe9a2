"""Autoencoder models and their registry.

>>> import hourglass as hg
>>> hg.list_models("conv*")
['conv', 'conv-bn', 'conv-vae', 'conv1d']
"""

from hourglass.models import conv, dense, members, sequence, vae  # noqa: F401  (registers the models)
from hourglass.models.base import Autoencoder, ModelConfig
from hourglass.models.conv import ConvAutoencoder, ConvBNAutoencoder
from hourglass.models.dense import DenseAutoencoder, StackedAutoencoder
from hourglass.models.members import DenseEnsemble, member_seeds
from hourglass.models.registry import create_model, list_models, model_from_config, register_model
from hourglass.models.sequence import Conv1dAutoencoder, LSTMAutoencoder, SequenceAutoencoder
from hourglass.models.vae import ConditionalVAE, ConvVAE, DenseVAE, VariationalAutoencoder

__all__ = [
    "Autoencoder",
    "ModelConfig",
    "ConvAutoencoder",
    "ConvBNAutoencoder",
    "Conv1dAutoencoder",
    "LSTMAutoencoder",
    "SequenceAutoencoder",
    "ConditionalVAE",
    "ConvVAE",
    "DenseAutoencoder",
    "DenseVAE",
    "DenseEnsemble",
    "member_seeds",
    "StackedAutoencoder",
    "VariationalAutoencoder",
    "create_model",
    "list_models",
    "model_from_config",
    "register_model",
]
