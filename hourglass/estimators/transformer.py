"""``AutoencoderTransformer``: an autoencoder's latent codes as scikit-learn features."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from hourglass.estimators.base import AutoencoderBase
from hourglass.inference import decode, encode
from hourglass.threads import fixed as fixed_threads


class AutoencoderTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, AutoencoderBase):
    """Autoencoder latent codes as features (image2vec for tables), with scikit-learn's interface.

    ``fit`` trains the autoencoder on ``X``; ``transform`` returns the codes, shape
    ``(n, latent_dim)``; ``inverse_transform`` decodes codes back to the input space. The
    parameters are :class:`AutoencoderDetector`'s training parameters, with defaults of their own
    (one model: up to 100 epochs, patience 10, batches of 64, no ``min_steps``).

    Examples
    --------
    >>> import hourglass as hg
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> ds = hg.datasets.load("ecg5000", split="tutorial")
    >>> pipe = make_pipeline(hg.AutoencoderTransformer(latent_dim=8, epochs=20, random_state=0),
    ...                      LogisticRegression(max_iter=1000))
    >>> pipe.fit(ds.x_train, ds.y_train == 1).score(ds.x_test, ds.y_test == 1) > 0.9
    True
    """

    def fit(self, X, y=None):
        """Train the autoencoder on ``X`` (``y`` is ignored)."""
        X = self._validate(X, reset=True)
        with fixed_threads(self.threads):
            self._train(X)
        self._n_features_out = int(np.prod(self.model_.latent_shape))
        return self

    def transform(self, X) -> np.ndarray:
        """Latent codes of ``X``, shape ``(n, latent_dim)``."""
        check_is_fitted(self, "model_")
        X = self._validate(X, reset=False)
        Xs = X if self.scaler_ is None else self.scaler_.transform(X)
        with fixed_threads(self.threads):
            return encode(self.model_, Xs).reshape(len(X), -1).astype(np.float64)

    def inverse_transform(self, Z) -> np.ndarray:
        """Decode codes back to (unscaled) inputs."""
        check_is_fitted(self, "model_")
        out = decode(self.model_, Z).reshape(len(Z), -1)
        if self.scaler_ is not None:
            out = self.scaler_.inverse_transform(out)
        return out.astype(np.float64)
