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
    history = hg.fit(model, x_train, epochs=4, batch_size=128, loss="elbo", validation=x_test, seed=0, progress=False)
    return model, history


def test_elbo_trains_and_is_repeatable(mnist_small, trained_vae):
    model, history = trained_vae
    # negative ELBO in nats per image: ~543 for an untrained Bernoulli decoder (784 * ln 2)
    assert history.val_loss[-1] < history.val_loss[0] < 400
    assert history.val_loss[-1] < 220
    again = hg.create_model("vae", input_shape=(1, 28, 28), hidden=(256,), latent_dim=8, seed=0)
    h2 = hg.fit(
        again, mnist_small[0], epochs=4, batch_size=128, loss="elbo", validation=mnist_small[1], seed=0, progress=False
    )
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


# -- the three VAEs, their likelihoods and the ELBO's parts ------------------------------------


def test_history_logs_the_elbo_parts(mnist_small, trained_vae):
    _, history = trained_vae
    parts, val_parts = history.train_parts, history.val_parts
    assert set(parts) == set(val_parts) == {"reconstruction", "kl"}
    assert len(parts["kl"]) == len(history.train_loss) == len(val_parts["kl"])
    for epoch in range(len(history.train_loss)):  # beta = 1, no warm-up: loss = NLL + KL
        assert history.train_loss[epoch] == pytest.approx(parts["reconstruction"][epoch] + parts["kl"][epoch], rel=1e-5)
        assert history.val_loss[epoch] == pytest.approx(
            val_parts["reconstruction"][epoch] + val_parts["kl"][epoch], rel=1e-5
        )
    assert all(k > 0 for k in parts["kl"])


def test_kl_warmup_and_beta_weight_the_kl(mnist_small):
    x = mnist_small[0][:1000]
    model = hg.create_model("vae", hidden=(128,), latent_dim=4, beta=2.0, seed=0)
    h = hg.fit(model, x, epochs=2, batch_size=100, kl_warmup=2, seed=0, progress=False)
    # warm-up over 2 epochs of 10 steps: the KL weight of step s is 2.0 * s / 20, 0.55 on average in epoch 1
    recon, kl = h.train_parts["reconstruction"][0], h.train_parts["kl"][0]
    assert recon < h.train_loss[0] < recon + 2.0 * kl
    assert model.kl_weight == 1.0  # the schedule does not outlive fit
    with pytest.raises(hg.InvalidInputError, match="kl_warmup"):
        hg.fit(hg.create_model("dense", seed=0), x, epochs=1, kl_warmup=1, progress=False)
    with pytest.raises(hg.InvalidInputError, match="kl_warmup"):
        hg.fit(model, x, epochs=1, kl_warmup=-1, progress=False)


def test_conv_vae_trains_and_encodes_with_logvar(mnist_small):
    x_train, x_test = mnist_small
    model = hg.create_model("conv-vae", channels=(8, 16), hidden=64, latent_dim=6, seed=0)
    x = hg.datasets.load("mnist", download=False).x_train[:6000]
    history = hg.fit(model, x, epochs=4, batch_size=64, validation=x_test[:200], seed=0, progress=False)
    assert history.val_loss[-1] < 200 < 543  # nats; an untrained model is at ~543
    mean, logvar = hg.encode(model, x_test[:10], return_logvar=True)
    assert mean.shape == logvar.shape == (10, 6)
    np.testing.assert_array_equal(mean, hg.encode(model, x_test[:10]))
    assert (logvar < 0).any()  # the posterior is narrower than the prior somewhere
    with pytest.raises(hg.InvalidInputError, match="return_logvar"):
        hg.encode(hg.create_model("conv", seed=0), x_test[:2], return_logvar=True)


def test_gaussian_likelihood_learns_its_variance(ecg):
    normal = ecg.x_train[ecg.y_train == 1]
    fixed = hg.create_model(
        "vae", input_shape=(140,), hidden=(64,), latent_dim=4, likelihood="gaussian", variance="fixed", std=1.0, seed=0
    )
    learned = hg.create_model(
        "vae", input_shape=(140,), hidden=(64,), latent_dim=4, likelihood="gaussian", variance="learned", seed=0
    )
    h_fixed = hg.fit(fixed, normal, epochs=15, batch_size=64, seed=0, progress=False)
    h_learned = hg.fit(learned, normal, epochs=15, batch_size=64, seed=0, progress=False)
    assert learned.config.output_activation == "none"
    std = learned.log_std.exp().detach().numpy()
    assert std.shape == (140,) and std.max() < 0.2  # ECG values in [0, 1] vary far less than 1
    # A learnt variance fits the data's scale: far higher likelihood than a unit variance.
    assert h_learned.train_loss[-1] < h_fixed.train_loss[-1] - 100
    shared = hg.create_model("vae", input_shape=(140,), likelihood="gaussian", variance="learned-shared")
    assert shared.log_std.shape == (1,)


def test_importance_weighted_nll_is_exact_for_a_linear_gaussian_model():
    """With a linear decoder p(x | z) = N(Wz + b, s^2 I), p(x) = N(b, WW' + s^2 I) in closed form.
    When W's columns are orthogonal the exact posterior is diagonal; an encoder set to it makes
    every importance weight equal p(x), so the ELBO and the k-sample estimate are both exact."""
    torch = pytest.importorskip("torch")
    d, k_lat, s = 6, 2, 0.5
    model = hg.create_model(
        "vae", input_shape=(d,), hidden=(), latent_dim=k_lat, likelihood="gaussian", variance="fixed", std=s, seed=0
    )
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(d, k_lat)))
    w = q * np.array([2.0, 0.7])
    b = rng.normal(size=d)
    post_var = 1.0 / (1.0 + (w**2).sum(axis=0) / s**2)  # diagonal because W'W is
    with torch.no_grad():
        model.decoder[-1].weight.copy_(torch.tensor(w, dtype=torch.float32))
        model.decoder[-1].bias.copy_(torch.tensor(b, dtype=torch.float32))
        a = post_var[:, None] * w.T / s**2
        model.to_mean.weight.copy_(torch.tensor(a, dtype=torch.float32))
        model.to_mean.bias.copy_(torch.tensor(-a @ b, dtype=torch.float32))
        model.to_logvar.weight.zero_()
        model.to_logvar.bias.copy_(torch.tensor(np.log(post_var), dtype=torch.float32))
    x = rng.normal(size=(50, d)).astype(np.float32) * 2
    cov = w @ w.T + s**2 * np.eye(d)
    diff = x - b
    exact = 0.5 * (
        np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff) + np.linalg.slogdet(cov)[1] + d * np.log(2 * np.pi)
    )
    eps = torch.randn(200, k_lat, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        xt = torch.from_numpy(x)
        nll = model.importance_weighted_nll(xt, eps).numpy()
        elbo = model.expected_negative_elbo(xt, eps).numpy()
    np.testing.assert_allclose(nll, exact, rtol=1e-4, atol=1e-3)
    # The ELBO's reconstruction term is a 200-draw average (its KL is exact): equal up to noise.
    assert np.abs(elbo - exact).max() < 0.5 and abs(float(np.mean(elbo - exact))) < 0.1
    det = hg.Detector(model, score="nll", n_samples=10).fit(x)
    np.testing.assert_allclose(det.score_samples(x), exact, rtol=1e-4, atol=1e-3)


# -- learnt priors, the IWAE objective, dynamic binarisation ----------------------------------


def test_learnt_priors_compute_log_p_z_as_their_mixtures():
    torch = pytest.importorskip("torch")
    from torch.distributions import Independent, Normal

    z = torch.randn(7, 5, 3, generator=torch.Generator().manual_seed(0))
    normal = hg.create_model("vae", input_shape=(12,), hidden=(8,), latent_dim=3, seed=0)
    reference = Independent(Normal(torch.zeros(3), torch.ones(3)), 1).log_prob(z)
    torch.testing.assert_close(normal.log_prior(z), reference)
    mixture = hg.create_model("vae", input_shape=(12,), hidden=(8,), latent_dim=3, prior="mixture", prior_components=4)
    means, logvars = mixture.prior_means.detach(), mixture.prior_logvars.detach() + 0.3
    with torch.no_grad():
        mixture.prior_logvars.copy_(logvars)
    comps = Independent(Normal(means, torch.exp(0.5 * logvars)), 1)
    expected = torch.logsumexp(comps.log_prob(z[..., None, :]), dim=-1) - np.log(4)
    torch.testing.assert_close(mixture.log_prior(z), expected, rtol=1e-5, atol=1e-5)
    vamp = hg.create_model("vae", input_shape=(12,), hidden=(8,), latent_dim=3, prior="vamp", prior_components=6)
    with torch.no_grad():
        m, lv = vamp.encode_distribution(vamp.pseudo_inputs.clamp(0, 1))
        comps = Independent(Normal(m, torch.exp(0.5 * lv)), 1)
        expected = torch.logsumexp(comps.log_prob(z[..., None, :]), dim=-1) - np.log(6)
        torch.testing.assert_close(vamp.log_prior(z), expected, rtol=1e-5, atol=1e-5)
    draws = vamp.sample_prior(4000, torch.Generator().manual_seed(0))
    assert draws.shape == (4000, 3) and abs(float(draws.mean(0).sub(m.mean(0)).abs().max())) < 0.2
    assert "prior" not in normal.config.to_dict()  # a classic VAE's config reads as 0.1.0 wrote it
    with pytest.raises(hg.InvalidInputError, match="prior must be one of"):
        hg.create_model("vae", prior="flow")
    with pytest.raises(hg.InvalidInputError, match="conditional VAE"):
        hg.create_model("cvae", prior="vamp")
    with pytest.raises(hg.InvalidInputError, match="iw_samples"):
        hg.create_model("vae", iw_samples=0)


def test_iwae_objective_is_tighter_than_the_elbo(mnist_small):
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(mnist_small[1][:200])
    model = hg.create_model("vae", hidden=(64,), latent_dim=4, seed=0)
    hg.fit(model, mnist_small[0][:1000], epochs=1, batch_size=100, seed=0, progress=False)
    model.eval()
    iwae = hg.create_model("vae", hidden=(64,), latent_dim=4, iw_samples=50, seed=0)
    iwae.load_state_dict(model.state_dict())
    iwae.eval()
    torch.manual_seed(0)
    with torch.no_grad():
        elbo = torch.stack([model.training_loss(x, x).per_sample for _ in range(50)]).mean()
        bound = iwae.training_loss(x, x).per_sample.mean()
    assert bound < elbo - 1.0, (float(bound), float(elbo))  # -log mean w <= -mean log w, by Jensen


def test_dynamic_binarisation_vamp_prior_and_iwae_train_and_save(mnist_small, tmp_path):
    x_train, x_test = mnist_small
    model = hg.create_model("vae", hidden=(128,), latent_dim=8, prior="vamp", prior_components=50, iw_samples=3, seed=0)
    history = hg.fit(model, x_train, epochs=3, batch_size=100, binarize=True, validation=x_test, seed=0, progress=False)
    assert history.val_loss[-1] < history.val_loss[0] < 300 and history.settings["binarize"] is True
    again = hg.create_model("vae", hidden=(128,), latent_dim=8, prior="vamp", prior_components=50, iw_samples=3, seed=0)
    h2 = hg.fit(again, x_train, epochs=3, batch_size=100, binarize=True, validation=x_test, seed=0, progress=False)
    assert h2.train_loss == history.train_loss  # the draws follow fit's seed
    binary = (np.random.default_rng(0).random(x_test.shape) < x_test).astype(np.float32)
    det = hg.Detector(model, score="nll", n_samples=20).fit(binary)
    hg.save(det, tmp_path / "vamp")
    loaded = hg.load(tmp_path / "vamp")
    np.testing.assert_allclose(loaded.score_samples(binary[:50]), det.score_samples(binary[:50]), rtol=1e-6)
    s = hg.sample(loaded.model, 8, seed=0)
    assert s.shape == (8, 1, 28, 28) and 0 <= s.min() and s.max() <= 1
    with pytest.raises(hg.InvalidInputError, match="binarize=True draws each target"):
        hg.fit(model, x_train[:100], x_train[:100], epochs=1, binarize=True, progress=False)
    with pytest.raises(hg.InvalidInputError, match=r"binarize=True .*values in \[0, 1\]"):
        hg.fit(model, x_train[:100] * 2, epochs=1, binarize=True, progress=False)
    assert "binarize" not in hg.fit(model, x_train[:100], epochs=1, progress=False).settings


# -- the conditional VAE -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_cvae(data_dir):
    ds = hg.datasets.load("mnist", data_dir=data_dir, download=False)
    model = hg.create_model("cvae", hidden=(256,), latent_dim=4, seed=0)
    hg.fit(model, ds.x_train[:20000], labels=ds.y_train[:20000], epochs=4, batch_size=100, seed=0, progress=False)
    return model, ds


def test_cvae_samples_follow_their_labels(trained_cvae):
    """A classifier trained on real digits recognises the class the CVAE was asked for."""
    from sklearn.linear_model import LogisticRegression

    model, ds = trained_cvae
    clf = LogisticRegression(max_iter=300).fit(ds.x_train[30000:36000].reshape(6000, -1), ds.y_train[30000:36000])
    wanted = np.repeat(np.arange(10), 20)
    samples = hg.sample(model, len(wanted), labels=wanted, seed=0)
    accuracy = (clf.predict(samples.reshape(len(samples), -1)) == wanted).mean()
    assert accuracy > 0.7, accuracy  # 0.825 measured; chance is 0.1 (0.918 after full training:
    # benchmarks/cvae_samples.py)
    # one class for all samples, as a scalar
    assert (clf.predict(hg.sample(model, 20, labels=3, seed=1).reshape(20, -1)) == 3).mean() > 0.6


def test_cvae_label_errors(trained_cvae):
    model, ds = trained_cvae
    x = ds.x_test[:5]
    with pytest.raises(hg.InvalidInputError, match="needs labels"):
        hg.sample(model, 4)
    with pytest.raises(hg.InvalidInputError, match=r"\[0, 10\)"):
        hg.sample(model, 2, labels=[3, 10])
    with pytest.raises(hg.InvalidInputError, match=r"\[0, 10\)"):
        hg.encode(model, x, labels=[0, 1, 2, 3, -1])
    with pytest.raises(hg.InvalidInputError, match="one class per sample"):
        hg.reconstruct(model, x, labels=[1, 2])
    with pytest.raises(hg.InvalidInputError, match="integers"):
        hg.fit(model, x, labels=[0.5, 1, 2, 3, 4], epochs=1, progress=False)
    with pytest.raises(hg.InvalidInputError, match="validation_labels"):
        hg.fit(model, x, labels=[0, 1, 2, 3, 4], validation=x, epochs=1, progress=False)
    with pytest.raises(hg.InvalidInputError, match="not conditional"):
        hg.fit(hg.create_model("vae", seed=0), x, labels=[0, 1, 2, 3, 4], epochs=1, progress=False)
    with pytest.raises(hg.InvalidInputError, match="conditional"):
        hg.Detector(model).fit(x)
    assert hg.reconstruct(model, x, labels=ds.y_test[:5]).shape == x.shape


# -- anomaly scores, interpolation, plots, save / load --------------------------------------------


def test_vae_scores_detect_ecg_anomalies(ecg, tmp_path):
    normal = ecg.x_train[ecg.y_train == 1]
    model = hg.create_model("vae", input_shape=(140,), hidden=(64,), latent_dim=8, likelihood="gaussian", seed=0)
    hg.fit(model, normal, epochs=30, batch_size=64, seed=0, progress=False)
    is_anomaly = ecg.is_anomaly(ecg.y_test)
    aurocs = {}
    for score in ("mae", "elbo", "nll"):
        det = hg.Detector(model, score=score, n_samples=16).fit(normal)
        aurocs[score] = det.evaluate(ecg.x_test, is_anomaly)["auroc"]
    assert min(aurocs.values()) > 0.9, aurocs
    det = hg.Detector(model, score="nll", n_samples=16).fit(normal)
    s = det.score_samples(ecg.x_test[:50])
    # the same draws serve every sample: a sample's score does not depend on its batch
    np.testing.assert_allclose(det.score_samples(ecg.x_test[:3]), s[:3], rtol=1e-5)
    elbo = hg.Detector(model, score="elbo", n_samples=16).fit(normal).score_samples(ecg.x_test[:50])
    assert s.mean() < elbo.mean()  # the importance-weighted bound is the tighter one
    emap = det.score_map(ecg.x_test[:4])
    assert emap.shape == (4, 140)
    hg.save(det, tmp_path / "vae-det")
    again = hg.load(tmp_path / "vae-det")
    assert again.n_samples == 16 and again.score == "nll"
    np.testing.assert_allclose(again.score_samples(ecg.x_test[:50]), s, rtol=1e-5)
    with pytest.raises(hg.InvalidInputError, match="variational"):
        hg.Detector(hg.create_model("stacked", input_shape=(140,), seed=0), score="nll").fit(normal)


def test_interpolate_walks_between_two_inputs(mnist_small, trained_vae):
    model, _ = trained_vae
    a, b = mnist_small[1][0], mnist_small[1][1]
    path = hg.interpolate(model, a, b, steps=6)
    assert path.shape == (6, 1, 28, 28)
    ends = hg.reconstruct(model, np.stack([a, b]))
    np.testing.assert_allclose(path[[0, -1]], ends, atol=1e-5)
    # each step moves towards b
    dist = [np.abs(p - ends[1]).sum() for p in path]
    assert dist[0] > dist[len(dist) // 2] > dist[-1]
    with pytest.raises(hg.InvalidInputError, match="steps"):
        hg.interpolate(model, a, b, steps=1)
    with pytest.raises(hg.InvalidInputError, match="single sample"):
        hg.interpolate(model, mnist_small[1][:2], b)


def test_generative_plots(tmp_path, mnist_small, trained_vae, trained_cvae):
    from hourglass.reports import figures

    model, _ = trained_vae
    cvae, ds = trained_cvae
    figs = {
        "grid.png": figures.sample_grid(model, n_per_row=6, rows=3),
        "cvae_grid.svg": figures.sample_grid(cvae, n_per_row=5),
        "scatter.png": figures.latent_scatter(hg.encode(model, mnist_small[1]), ds.y_test[:500]),
        "scatter2d.png": figures.latent_scatter(hg.encode(cvae, ds.x_test[:300], labels=ds.y_test[:300])[:, :2]),
        "strip.png": figures.interpolation_strip(hg.interpolate(model, mnist_small[1][0], mnist_small[1][1], 8)),
    }
    assert len(figs["cvae_grid.svg"].axes) == 50 and len(figs["strip.png"].axes) == 8
    assert "PC 1" in figs["scatter.png"].axes[0].get_xlabel()
    assert figs["scatter2d.png"].axes[0].get_xlabel() == "z[0]"
    for name, fig in figs.items():
        path = figures.save_figure(fig, tmp_path / name)
        assert path.stat().st_size > 1000
