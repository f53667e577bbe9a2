"""Nearest-neighbour scores (feature-knn, code-knn): trained on real images, checked against
scikit-learn's neighbours, saved, exported, combined, refused where they do not apply."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

import hourglass as hg
from hourglass.inference import batched

SHIRT = 6


@pytest.fixture(scope="module")
def shirts(fashion):
    """A conv model (the one-class recipes' shape) trained briefly on 1,500 shirts; 2,000 test
    images (shirts normal, every other garment an anomaly)."""
    x = fashion.x_train[fashion.y_train == SHIRT][:1500]
    model = hg.create_model("conv", input_shape=(1, 28, 28), channels=(32, 64), latent_dim=16, seed=0)
    hg.fit(model, x, epochs=2, batch_size=128, loss="mse", seed=0, progress=False)
    return model, x, fashion.x_test[:2000], (fashion.y_test[:2000] != SHIRT).astype(int)


def reference(train_features: np.ndarray, test_features: np.ndarray, k: int = 5):
    """scikit-learn's neighbours: the fit rows leaving themselves out, the test rows as they are."""
    nn = NearestNeighbors(n_neighbors=k + 1).fit(train_features)
    d_train, _ = nn.kneighbors(train_features)
    d_test, _ = nn.kneighbors(test_features, n_neighbors=k)
    return d_train[:, 1:].mean(1), d_test.mean(1)


def test_feature_neighbours_separate_similar_classes_better_than_the_reconstruction(shirts):
    model, x, x_test, y = shirts
    auroc = {s: hg.Detector(model, score=s).fit(x).evaluate(x_test, y)["auroc"] for s in ("mse", "feature-knn")}
    # shirts against T-shirts, pullovers, coats: the model redraws them all, its features tell them apart
    assert auroc["feature-knn"] > auroc["mse"] + 0.02, auroc


def test_scores_are_the_mean_distance_to_the_nearest_training_encodings(shirts):
    model, x, x_test, _ = shirts
    for score, encode in (("feature-knn", model.features), ("code-knn", lambda t: model.encode(t).flatten(1))):
        det = hg.Detector(model, score=score, threshold=hg.Percentile(q=95)).fit(x)
        f_train, f_test = batched(model, x, encode), batched(model, x_test, encode)
        assert det.memory_.shape == f_train.shape
        loo, expected = reference(f_train, f_test)
        np.testing.assert_allclose(det.score_samples(x_test), expected, rtol=2e-3, atol=2e-3)
        # the threshold is fitted on the training rows' scores with each row left out of its neighbours
        np.testing.assert_allclose(det.calibration_scores_, np.sort(loo), rtol=2e-3, atol=2e-3)
        assert det.threshold_ == pytest.approx(np.percentile(loo, 95), rel=2e-3)
    assert f_train.shape[1] == 16 and batched(model, x[:2], model.features).shape == (2, 64 * 7 * 7)


def test_a_memory_smaller_than_the_fit_data_keeps_a_seeded_subset(shirts):
    model, x, x_test, _ = shirts
    det = hg.Detector(model, score="code-knn", memory_size=400, n_neighbors=3).fit(x)
    again = hg.Detector(model, score="code-knn", memory_size=400, n_neighbors=3).fit(x)
    np.testing.assert_array_equal(det.memory_, again.memory_)
    codes = hg.encode(model, x).reshape(len(x), -1)
    kept = hg.detection.neighbors.memory_rows(len(x), 400)
    assert det.memory_.shape == (400, 16) and len(np.unique(kept)) == 400
    np.testing.assert_allclose(det.memory_, codes[kept], rtol=1e-5, atol=1e-6)
    # rows outside the memory score against all of it; rows inside leave themselves out
    nn = NearestNeighbors(n_neighbors=4).fit(codes[kept])
    d, _ = nn.kneighbors(codes)
    inside = np.zeros(len(x), bool)
    inside[kept] = True
    expected = np.where(inside, d[:, 1:].mean(1), d[:, :3].mean(1))
    np.testing.assert_allclose(det.calibration_scores_, np.sort(expected), rtol=2e-3, atol=2e-3)


def test_saved_detectors_score_the_same_and_export_to_onnx(shirts, tmp_path):
    model, x, x_test, y = shirts
    det = hg.Detector(model, score="feature-knn", n_neighbors=3).fit(x[:600])
    scores = det.score_samples(x_test[:300])
    hg.save(det, tmp_path / "det")
    saved = json.loads((tmp_path / "det" / "hourglass.json").read_text())["detector"]
    assert saved["score"] == "feature-knn" and saved["n_neighbors"] == 3 and saved["memory_size"] == 10000
    loaded = hg.load(tmp_path / "det")
    assert "n_neighbors=3" in repr(loaded)
    np.testing.assert_array_equal(loaded.memory_, det.memory_)
    np.testing.assert_array_equal(loaded.score_samples(x_test[:300]), scores)
    assert loaded.threshold_ == det.threshold_
    # the per-pixel picture of a neighbour score is the squared reconstruction error
    recon = hg.reconstruct(model, x_test[:4])
    np.testing.assert_allclose(det.score_map(x_test[:4]), (recon - x_test[:4]) ** 2, rtol=1e-5, atol=1e-7)
    ort = pytest.importorskip("onnxruntime")
    path = hg.export_onnx(det, tmp_path / "scorer.onnx", part="scorer")
    session = ort.InferenceSession(str(path))
    out = session.run(None, {session.get_inputs()[0].name: x_test[:300]})
    np.testing.assert_allclose(out[1], scores, rtol=1e-3, atol=1e-3)


def test_an_ensemble_of_neighbour_detectors_standardises_left_out_scores(shirts, fashion, tmp_path):
    model, x, x_test, y = shirts
    other = hg.create_model("conv", input_shape=(1, 28, 28), channels=(32, 64), latent_dim=16, seed=1)
    hg.fit(other, x, epochs=1, batch_size=128, loss="mse", seed=1, progress=False)
    ens = hg.DetectorEnsemble([hg.Detector(m, score="feature-knn") for m in (model, other)]).fit(x)
    # each member's spread comes from its fit rows' left-out scores, not from zero self-distances
    for d, center in zip(ens.detectors, ens.center_):
        assert center == pytest.approx(np.median(d.calibration_scores_))
    assert ens.evaluate(x_test, y)["auroc"] > 0.75
    hg.save(ens, tmp_path / "ens")
    np.testing.assert_array_equal(
        hg.load(tmp_path / "ens").score_samples(x_test[:100]), ens.score_samples(x_test[:100])
    )


def test_code_neighbours_on_a_table_model(ecg, ecg_detector):
    model = ecg_detector[0].model
    normal = ecg.x_train[ecg.y_train == 1]
    det = hg.Detector(model, score="code-knn").fit(normal)
    assert det.memory_.shape == (len(normal), 8)
    assert det.evaluate(ecg.x_test, ecg.is_anomaly(ecg.y_test))["auroc"] > 0.9


@pytest.mark.parametrize(
    "options, message",
    [
        ({"n_neighbors": 0}, r"n_neighbors must be an integer >= 1, got 0"),
        ({"n_neighbors": 2.5}, r"n_neighbors must be an integer >= 1"),
        ({"memory_size": 5}, r"memory_size \(5\) must be larger than n_neighbors \(5\)"),
        ({"worst_fraction": 0.1}, r"worst_fraction is for reconstruction scores .* not 'feature-knn'"),
    ],
)
def test_bad_neighbour_settings_are_refused(shirts, options, message):
    model, x, _, _ = shirts
    with pytest.raises(hg.InvalidInputError, match=message):
        hg.Detector(model, score="feature-knn", **options).fit(x[:100])


def test_neighbour_scores_refuse_what_they_cannot_score(shirts):
    model, x, _, _ = shirts
    with pytest.raises(hg.InvalidInputError, match=r"needs more than 5 rows to fit on, got 4"):
        hg.Detector(model, score="feature-knn").fit(x[:4])
    members = hg.create_model("dense-ensemble", input_shape=(140,), n_members=2, hidden=(16,), latent_dim=4, seed=0)
    with pytest.raises(hg.InvalidInputError, match=r"score='code-knn' is for one model"):
        hg.Detector(members, score="code-knn").fit(np.zeros((20, 140), np.float32))
    with torch.no_grad():
        assert model.features(torch.zeros(1, 1, 28, 28)).shape == (1, 3136)
    check = hg.detection.neighbors.check_memory
    with pytest.raises(ValueError, match="non-finite"):
        check(np.array([[0.0, np.nan]], np.float32), 2)
    with pytest.raises(ValueError, match="encodings of 2 values; the model gives 3136"):
        check(np.zeros((4, 2), np.float32), 3136)
    # the estimator fits its threshold on rows it trained on: a neighbour score is a Detector's
    with pytest.raises(hg.InvalidInputError, match=r"error must be one of .* \(a neighbour score: use hg.Detector"):
        hg.AutoencoderDetector(error="feature-knn").fit(np.zeros((30, 4), np.float32))
