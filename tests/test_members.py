"""Members trained together (DenseEnsemble): the same training as one model's fit, per member;
one-pass scoring through the Detector, saving and ONNX; the estimator's default."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hourglass as hg
from hourglass.errors import InvalidInputError
from hourglass.models import DenseEnsemble, member_seeds


@pytest.fixture(scope="module")
def cardio(data_dir):
    ds = hg.datasets.load("adbench/6_cardio", data_dir=data_dir, download=False, seed=0)
    scaler = hg.StandardScaler().fit(ds.x_train)
    x = scaler.transform(ds.x_train).astype(np.float32)
    return ds, x[:900], x[900:1100]


def _stacked(seed, hidden=(8,), latent=4, features=21):
    return hg.create_model(
        "stacked", input_shape=(features,), hidden=hidden, latent_dim=latent, seed=seed, output_activation="none"
    )


def _equal(a, b) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("trim", [0.0, 0.2])
def test_one_member_trains_exactly_as_the_single_model(cardio, trim):
    _, x, xv = cardio
    opts = dict(epochs=40, batch_size=64, seed=3, trim=trim, early_stopping=2, min_delta=0.01, progress=False)
    single = _stacked(3)
    ens = DenseEnsemble.from_members([_stacked(3)])
    h1 = hg.fit(single, x, validation=xv, **opts)
    h2 = hg.fit(ens, x, validation=xv, **opts)
    assert h1.stopped_early and h2.members[0].stopped_early  # early stopping and the restore both ran
    assert h1.best_epoch == h2.members[0].best_epoch and h1.val_loss == pytest.approx(h2.members[0].val_loss, rel=1e-5)
    assert _equal(single, ens.member(0))  # bit for bit


def test_one_member_trains_exactly_as_the_single_model_with_another_optimizer(cardio):
    _, x, xv = cardio
    sgd = lambda params, lr, weight_decay: torch.optim.SGD(params, lr=lr, momentum=0.9)  # noqa: E731
    opts = dict(epochs=5, batch_size=64, seed=3, trim=0.2, progress=False, optimizer=sgd, lr=0.05)
    single, ens = _stacked(3), DenseEnsemble.from_members([_stacked(3)])
    h1, h2 = hg.fit(single, x, validation=xv, **opts), hg.fit(ens, x, validation=xv, **opts)
    assert _equal(single, ens.member(0)) and h1.val_loss == pytest.approx(h2.members[0].val_loss, rel=1e-5)
    adam = DenseEnsemble.from_members([_stacked(3)])
    hg.fit(adam, x, validation=xv, **{**opts, "optimizer": None})
    assert not _equal(adam, ens)  # the optimizer given is the one that stepped


def test_each_member_follows_its_own_fit(cardio):
    _, x, xv = cardio
    opts = dict(epochs=8, batch_size=64, trim=0.2, progress=False)
    seeds = member_seeds(11, 3)
    ens = hg.create_model(
        "dense-ensemble", input_shape=(21,), n_members=3, hidden=(8,), latent_dim=4, seed=11, output_activation="none"
    )
    hist = hg.fit(ens, x, validation=xv, seed=11, **opts)
    assert len(hist.members) == 3 and hist.settings["n_members"] == 3
    for k, seed in enumerate(seeds):
        own = _stacked(seed)
        h = hg.fit(own, x, validation=xv, seed=seed, **opts)
        for p, q in zip(own.state_dict().values(), ens.member(k).state_dict().values()):
            torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-4)  # the batched matmul rounds differently
        assert h.val_loss == pytest.approx(hist.members[k].val_loss, rel=1e-3)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_training_without_unit_masks_gives_the_same_fit(cardio, monkeypatch, activation):
    """Members of different widths: training skips the padded units' masks where the activation
    maps 0 to 0 (a padded unit stays 0 without them) and the fit is the same bit for bit."""
    _, x, xv = cardio
    members = [
        hg.create_model(
            "stacked",
            input_shape=(21,),
            hidden=h,
            latent_dim=z,
            seed=k,
            activation=activation,
            output_activation="none",
        )
        for k, (h, z) in enumerate([((6,), 3), ((16,), 8), ((10,), 2)])
    ]
    fits = []
    for forced in (False, True):
        ens = DenseEnsemble.from_members(members)
        if forced:  # the masks applied in every step, as before
            monkeypatch.setattr(DenseEnsemble, "_needs_masks", lambda self: True)
        hist = hg.fit(ens, x, validation=xv, epochs=6, batch_size=64, trim=0.2, seed=5, progress=False)
        fits.append((ens, hist))
    assert fits[0][0]._masks_in_training == (activation == "sigmoid")
    assert _equal(fits[0][0], fits[1][0]) and fits[0][1].val_loss == fits[1][1].val_loss
    trained = fits[0][0]
    assert torch.count_nonzero(trained.weights[0][0, 6:]) == 0  # member 0's padded units: still 0
    assert torch.count_nonzero(trained.weights[1][0, :, 6:]) == 0
    assert fits[0][1].val_loss[-1] < fits[0][1].val_loss[0]  # and it learnt


def test_a_stopped_member_no_longer_changes(cardio):
    _, x, xv = cardio
    ens = DenseEnsemble.from_members([_stacked(0, (4,), 2), _stacked(1, (16,), 8), _stacked(2, (8,), 4)])
    seen = []

    def record(epoch, history, model):
        seen.append([w.detach().clone() for w in model.weights])

    hist = hg.fit(
        ens, x, validation=xv, epochs=60, batch_size=128, early_stopping=1, seed=0, progress=False, callbacks=[record]
    )
    epochs = [h.epochs for h in hist.members]
    assert min(epochs) < max(epochs), epochs  # members stop on their own
    k = int(np.argmin(epochs))
    after = [s[0][k] for s in seen[epochs[k] :]]  # member k's first layer in every later epoch
    assert after and all(torch.equal(a, after[0]) for a in after)
    # and it ended at its best epoch's weights: its last validation loss is not its best
    assert hist.members[k].best_epoch < epochs[k]
    # padded units of a narrower member stay exactly zero
    assert torch.count_nonzero(ens.weights[0][0, 4:]) == 0 and torch.count_nonzero(ens.weights[1][0, :, 4:]) == 0


def test_member_rows_and_features(cardio):
    _, x, xv = cardio
    ens = hg.create_model(
        "dense-ensemble", input_shape=(21,), n_members=2, hidden=(8,), latent_dim=4, seed=0, output_activation="none"
    )
    mask = np.zeros((2, 21), np.float32)
    mask[0, :12], mask[1, 9:] = 1, 1
    ens.set_feature_mask(mask)
    rows = np.stack([np.arange(0, 400), np.arange(500, 900)])
    hg.fit(ens, x, validation=xv, epochs=2, progress=False, member_rows=rows)
    x0 = x[:5].copy()
    x1 = x0.copy()
    x1[:, 15:] += 3.0  # features member 0 does not see
    with torch.no_grad():
        a, b = ens.member_outputs(torch.from_numpy(x0)), ens.member_outputs(torch.from_numpy(x1))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[1], b[1])
    with pytest.raises(InvalidInputError, match="member_rows"):
        hg.fit(ens, x, epochs=1, progress=False, member_rows=np.arange(10))
    with pytest.raises(InvalidInputError, match="feature_mask"):
        ens.set_feature_mask(np.zeros((2, 21)))
    with pytest.raises(InvalidInputError, match="member_rows is for a model of several members"):
        hg.fit(_stacked(0), x, epochs=1, progress=False, member_rows=rows)


def test_detector_scores_all_members_in_one_pass(cardio, tmp_path):
    ds, x, xv = cardio
    members = [_stacked(s, (h,), h // 2) for s, h in [(0, 6), (1, 16), (2, 10)]]
    for m in members:
        hg.fit(m, x, epochs=3, progress=False)
    ens = DenseEnsemble.from_members(members)
    det = hg.Detector(ens, score="l2").fit(x)
    # the same as standardising each member's own detector's scores and averaging
    own = [hg.Detector(m, score="l2").fit(x) for m in members]
    raw = np.stack([d.score_samples(x) for d in own]).astype(np.float64)
    center = np.median(raw, axis=1)
    q75, q25 = np.percentile(raw, [75, 25], axis=1)
    test = ds.x_test[:200].astype(np.float32)
    scaler = hg.StandardScaler().fit(ds.x_train)
    t = scaler.transform(test).astype(np.float32)
    expected = np.mean([(d.score_samples(t) - c) / s for d, c, s in zip(own, center, q75 - q25)], axis=0)
    np.testing.assert_allclose(det.score_samples(t), expected, rtol=1e-4, atol=1e-4)
    assert det.score_map(t).shape == t.shape and det.reconstruct(t).shape == t.shape
    hg.save(det, tmp_path / "det")
    back = hg.load(tmp_path / "det")
    np.testing.assert_array_equal(back.score_samples(t), det.score_samples(t))
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    path = hg.export_onnx(det, tmp_path / "det.onnx", part="scorer")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    recon, score, _ = session.run(None, {"x": t})
    np.testing.assert_allclose(score, det.score_samples(t), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(recon, det.reconstruct(t), rtol=1e-4, atol=1e-4)


def test_estimator_default_trains_members_together(cardio, tmp_path):
    ds, _, _ = cardio
    est = hg.AutoencoderDetector(random_state=0, epochs=15).fit(ds.x_train)
    assert isinstance(est.model_, DenseEnsemble) and est.model_.n_members == 6
    assert len(est.history_.members) == 6
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(ds.y_test, -est.score_samples(ds.x_test)) > 0.75
    hg.save(est, tmp_path / "est")
    back = hg.load(tmp_path / "est")
    np.testing.assert_array_equal(back.score_samples(ds.x_test), est.score_samples(ds.x_test))
    # the same random_state gives the same detector
    again = hg.AutoencoderDetector(random_state=0, epochs=15).fit(ds.x_train)
    np.testing.assert_array_equal(again.score_samples(ds.x_test), est.score_samples(ds.x_test))


def test_members_over_image_shaped_rows(fashion_small):
    """Samples with several axes (here 1 x 28 x 28 images): the members' scores, maps and
    reconstructions keep the input's shape, and equal their standalone models' combined."""
    x = fashion_small[0][:256]
    ens = hg.create_model("dense-ensemble", input_shape=(1, 28, 28), n_members=2, hidden=(32,), latent_dim=8, seed=0)
    hg.fit(ens, x, epochs=1, batch_size=64, progress=False)
    det = hg.Detector(ens, score="l2").fit(x)
    new = x[:16]
    assert det.score_map(new).shape == new.shape and det.reconstruct(new).shape == new.shape
    own = [hg.Detector(ens.member(k), score="l2").fit(x) for k in range(2)]
    raw = np.stack([d.score_samples(x) for d in own]).astype(np.float64)
    q75, q25 = np.percentile(raw, [75, 25], axis=1)
    expected = np.mean(
        [(d.score_samples(new) - c) / s for d, c, s in zip(own, np.median(raw, axis=1), q75 - q25)], axis=0
    )
    np.testing.assert_allclose(det.score_samples(new), expected, rtol=1e-4, atol=1e-4)
