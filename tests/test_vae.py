"""Variational autoencoders on real MNIST: the ELBO trains, codes are the means, sampling works."""

from __future__ import annotations

import numpy as np
import pytest

import hourglass as hg


@pytest.fixture(scope="module")
def mnist_small(data_dir):
    ds = hg.datasets.load("mnist", data_dir=data_dir, download=False)
    return ds.x_train[:3000], ds.x_test[:500]


@pytest.fixture(scope="module")
def trained_vae(mnist_small):
    x_train, x_test = mnist_small
    model = hg.create_model("vae", input_shape=(1, 28, 28), hidden=(256,), latent_dim=8, seed=0)
    history = hg.fit(model, x_train, epochs=4, batch_size=128, loss="elbo", validation=x_test, seed=0,
                     progress=False)
    return model, history


def test_elbo_trains_and_is_repeatable(mnist_small, trained_vae):
    model, history = trained_vae
    # negative ELBO in nats per image: ~543 for an untrained Bernoulli decoder (784 * ln 2)
    assert history.val_loss[-1] < history.val_loss[0] < 400
    assert history.val_loss[-1] < 220
    again = hg.create_model("vae", input_shape=(1, 28, 28), hidden=(256,), latent_dim=8, seed=0)
    h2 = hg.fit(again, mnist_small[0], epochs=4, batch_size=128, loss="elbo", validation=mnist_small[1], seed=0,
                progress=False)
    assert h2.train_loss == history.train_loss  # the reparameterisation draws follow fit's seed


def test_codes_are_means_and_samples_are_images(mnist_small, trained_vae):
    model, _ = trained_vae
    z1, z2 = hg.encode(model, mnist_small[1][:20]), hg.encode(model, mnist_small[1][:20])
    np.testing.assert_array_equal(z1, z2)
    assert z1.shape == (20, 8)
    s = hg.sample(model, 16, seed=3)
    assert s.shape == (16, 1, 28, 28) and 0 <= s.min() and s.max() <= 1
    np.testing.assert_array_equal(s, hg.sample(model, 16, seed=3))
    # After a few epochs the samples are blurry, but their average has the data's layout (ink in
    # the centre, none at the borders), and they differ from one another.
    layout = np.corrcoef(s.mean(axis=0).ravel(), mnist_small[0].mean(axis=0).ravel())[0, 1]
    assert layout > 0.8, layout
    assert s.std(axis=0).mean() > 0.02


def test_sampling_and_loss_errors(trained_vae):
    model, _ = trained_vae
    dense = hg.create_model("dense", input_shape=(1, 28, 28), seed=0)
    with pytest.raises(hg.InvalidInputError, match="not generative"):
        hg.sample(dense, 4)
    with pytest.raises(hg.InvalidInputError, match="n must be"):
        hg.sample(model, 0)
    with pytest.raises(hg.InvalidInputError, match="not conditional"):
        hg.sample(model, 4, labels=[1, 2, 3, 4])
    with pytest.raises(hg.InvalidInputError, match="needs a variational model"):
        hg.fit(dense, np.zeros((8, 1, 28, 28), np.float32), loss="elbo", epochs=1, progress=False)
    with pytest.raises(hg.InvalidInputError, match="loss='elbo'"):
        hg.fit(model, np.zeros((8, 1, 28, 28), np.float32), loss="mse", epochs=1, progress=False)
    with pytest.raises(hg.InvalidInputError, match="likelihood"):
        hg.create_model("vae", likelihood="poisson")
