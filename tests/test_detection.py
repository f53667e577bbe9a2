"""The detector on the ECG tutorial, thresholds, scores and metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

import hourglass as hg


def test_ecg_tutorial_detector_reaches_the_tutorials_figures(ecg, ecg_detector):
    det, history = ecg_detector
    m = det.evaluate(ecg.x_test, ecg.is_anomaly(ecg.y_test))
    # Tutorial: accuracy 0.944, precision 0.992 and recall 0.907 with normal as the positive class.
    assert m["accuracy"] >= 0.93
    assert m["tn"] / (m["tn"] + m["fn"]) >= 0.98
    assert m["tn"] / (m["tn"] + m["fp"]) >= 0.89
    assert m["auroc"] >= 0.94
    assert history.val_loss[-1] < history.val_loss[0]


def test_scores_maps_and_predictions_agree(ecg, ecg_detector):
    det, _ = ecg_detector
    x = ecg.x_test[:200]
    scores = det.score_samples(x)
    smap = det.score_map(x)
    assert scores.shape == (200,) and smap.shape == x.shape
    np.testing.assert_allclose(smap.mean(axis=1), scores, rtol=1e-5)
    recon = hg.reconstruct(det.model, x)
    np.testing.assert_allclose(scores, np.abs(recon - x).mean(axis=1), rtol=1e-5)
    pred = det.predict(x)
    assert set(np.unique(pred)) <= {0, 1}
    np.testing.assert_array_equal(pred, (det.decision_function(x) > 0).astype(int))
    mse = hg.Detector(det.model, score="mse").fit(ecg.x_train[ecg.y_train == 1])
    np.testing.assert_allclose(mse.score_samples(x), ((recon - x) ** 2).mean(axis=1), rtol=1e-5)


def test_evaluate_equals_scikit_learn(ecg, ecg_detector):
    det, _ = ecg_detector
    y = ecg.is_anomaly(ecg.y_test)
    scores = det.score_samples(ecg.x_test)
    pred = (scores > det.threshold_).astype(int)
    m = det.evaluate(ecg.x_test, y)
    assert m["accuracy"] == skm.accuracy_score(y, pred)
    assert m["precision"] == skm.precision_score(y, pred)
    assert m["recall"] == skm.recall_score(y, pred)
    assert m["f1"] == skm.f1_score(y, pred)
    assert m["auroc"] == skm.roc_auc_score(y, scores)
    assert m["auprc"] == skm.average_precision_score(y, scores)


def test_thresholds_on_known_scores(rng):
    s = rng.gamma(2.0, 1.0, size=5000)
    assert hg.MeanStd(k=2).fit(s).value_ == pytest.approx(s.mean() + 2 * s.std())
    assert hg.Percentile(q=90).fit(s).value_ == pytest.approx(np.percentile(s, 90))
    c = hg.Contamination(rate=0.05).fit(s)
    assert (s > c.value_).mean() == pytest.approx(0.05, abs=0.002)
    y = (rng.random(5000) < 0.1).astype(int)
    s_lab = s + 3 * y
    best = hg.BestF1().fit(s_lab, y).value_
    f1_best = skm.f1_score(y, s_lab > best)
    assert all(f1_best >= skm.f1_score(y, s_lab > t) for t in np.quantile(s_lab, np.linspace(0.5, 0.99, 50)))


def test_fixed_fpr_is_conformal(rng):
    rate, fprs = 0.05, []
    for _ in range(200):
        calib, new = rng.normal(size=200), rng.normal(size=2000)
        fprs.append((new > hg.FixedFPR(rate).fit(calib).value_).mean())
    assert np.mean(fprs) <= rate + 0.005
    assert hg.FixedFPR(0.001).fit(rng.normal(size=50)).value_ == np.inf  # too few samples to flag any


@pytest.mark.parametrize(
    "threshold, match",
    [
        (hg.Percentile(q=120), r"\[0, 100\]"),
        (hg.Contamination(rate=0), "rate"),
        (hg.FixedFPR(rate=1.5), "rate"),
        (hg.BestF1(), "needs labels"),
    ],
)
def test_bad_threshold_arguments(threshold, match):
    with pytest.raises(hg.InvalidInputError, match=match):
        threshold.fit(np.arange(10.0))


def test_detector_errors(ecg, ecg_detector):
    det, _ = ecg_detector
    unfitted = hg.Detector(det.model)
    with pytest.raises(hg.NotFittedError, match="fit"):
        unfitted.predict(ecg.x_test[:5])
    with pytest.raises(hg.InvalidInputError, match="labels must be 1"):
        det.evaluate(ecg.x_test[:10], ecg.y_test[:10] + 5)
    with pytest.raises(hg.InvalidInputError, match="score must be"):
        hg.Detector(det.model, score="psnr").fit(ecg.x_train[:10])
    with pytest.raises(hg.InvalidInputError, match="model expects"):
        det.score_samples(np.zeros((3, 28, 28)))


def test_detector_applies_its_scaler_to_raw_input(ecg):
    raw = hg.datasets.load("ecg5000")
    scaler = hg.MinMaxScaler(per_feature=False).fit(raw.x_train)
    normal = scaler.transform(raw.x_train[raw.y_train == 1])
    model = hg.create_model("stacked", seed=0)
    hg.fit(model, normal, epochs=3, batch_size=64, loss="mae", progress=False)
    det = hg.Detector(model, scaler=scaler).fit(raw.x_train[raw.y_train == 1])
    plain = hg.Detector(model).fit(normal)
    np.testing.assert_allclose(
        det.score_samples(raw.x_test[:50]), plain.score_samples(scaler.transform(raw.x_test[:50]))
    )


def test_fixed_fpr_with_held_out_calibration_and_p_values(ecg):
    """Train on part of the normal beats, calibrate FixedFPR on the rest: on the normal test
    beats the false-positive rate stays at most the rate, and p <= rate flags the same beats."""
    normal = ecg.x_train[ecg.y_train == 1]
    fit_part, calibration = normal[: len(normal) // 2], normal[len(normal) // 2 :]
    model = hg.create_model("stacked", input_shape=(140,), seed=0)
    hg.fit(model, fit_part, epochs=20, batch_size=512, loss="mae", progress=False)
    det = hg.Detector(model, threshold=hg.FixedFPR(0.05)).fit(fit_part, calibration=calibration)
    assert det.train_scores_["n"] == len(calibration)
    y = ecg.is_anomaly(ecg.y_test)
    normal_test = ecg.x_test[y == 0]
    fpr = det.predict(normal_test).mean()
    assert fpr <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / len(normal_test))
    p = det.p_values(ecg.x_test)
    np.testing.assert_array_equal(p <= 0.05, det.predict(ecg.x_test) == 1)
    assert np.median(p[y == 1]) < 0.05 < np.median(p[y == 0])
    with pytest.warns(UserWarning, match="calibration="):
        hg.Detector(model, threshold=hg.FixedFPR(0.05)).fit(fit_part)


def test_l2_score_and_explain(ecg, ecg_detector):
    det, _ = ecg_detector
    normal = ecg.x_train[ecg.y_train == 1]
    l2 = hg.Detector(det.model, score="l2", feature_names=[f"t{i}" for i in range(140)]).fit(normal)
    scale = normal.std(axis=0)
    np.testing.assert_allclose(l2.scale_, scale, rtol=1e-4)
    x = ecg.x_test[:50]
    recon = hg.reconstruct(det.model, x)
    np.testing.assert_allclose(l2.score_samples(x), np.sqrt((((recon - x) / scale) ** 2).sum(axis=1)), rtol=1e-4)
    ex = l2.explain(x, top=3)
    smap = l2.score_map(x)
    assert ex.indices.shape == (50, 3) and ex.names[0][0] == f"t{ex.indices[0, 0]}"
    np.testing.assert_allclose(ex.errors[:, 0], smap.max(axis=1), rtol=1e-6)
    assert (np.diff(ex.errors, axis=1) <= 0).all() and (ex.shares.sum(axis=1) <= 1 + 1e-9).all()
    assert "share" in ex.table(0)


def test_worst_fraction_scores_a_sample_by_its_worst_elements(ecg, ecg_detector, tmp_path):
    det, _ = ecg_detector
    normal, x = ecg.x_train[ecg.y_train == 1], ecg.x_test
    sq = ((hg.reconstruct(det.model, x) - x) ** 2).reshape(len(x), -1)
    worst = {}
    for score, errors, reduce in [
        ("mse", sq, np.mean),
        ("mae", np.sqrt(sq), np.mean),
        ("l2", sq / normal.std(axis=0) ** 2, lambda e, axis: np.sqrt(e.sum(axis=axis))),
    ]:
        worst[score] = hg.Detector(det.model, score=score, worst_fraction=0.1).fit(normal)
        expected = reduce(np.sort(errors, axis=1)[:, -14:], axis=1)  # the worst 14 of 140 steps
        np.testing.assert_allclose(worst[score].score_samples(x), expected, rtol=1e-4)
    full = hg.Detector(det.model, score="mse", worst_fraction=1.0).fit(normal)
    np.testing.assert_allclose(full.score_samples(x), sq.mean(axis=1), rtol=1e-5)
    # a localized anomaly stands out more when the rest of the beat does not dilute it
    y = ecg.is_anomaly(ecg.y_test)
    assert worst["mse"].evaluate(x, y)["auroc"] > 0.9
    hg.save(worst["mse"], tmp_path / "det")
    loaded = hg.load(tmp_path / "det")
    assert loaded.worst_fraction == 0.1 and "worst_fraction=0.1" in repr(loaded)
    np.testing.assert_array_equal(loaded.score_samples(x), worst["mse"].score_samples(x))
    assert json.loads((tmp_path / "det" / "hourglass.json").read_text())["detector"]["worst_fraction"] == 0.1
    onnx = pytest.importorskip("onnxruntime")
    session = onnx.InferenceSession(str(hg.export_onnx(loaded, tmp_path / "d.onnx", part="scorer")))
    _, scores, flags = session.run(None, {"x": x[:64]})
    np.testing.assert_allclose(scores, loaded.score_samples(x[:64]), rtol=1e-5)
    np.testing.assert_array_equal(flags, loaded.predict(x[:64]))
    hg.save(det, tmp_path / "plain")  # without the option a folder is written as before
    assert "worst_fraction" not in json.loads((tmp_path / "plain" / "hourglass.json").read_text())["detector"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"worst_fraction": 0.0}, r"worst_fraction must be a number in \(0, 1\]"),
        ({"worst_fraction": 1.5}, r"worst_fraction must be a number in \(0, 1\]"),
        ({"worst_fraction": "10%"}, r"worst_fraction must be a number"),
    ],
)
def test_worst_fraction_refuses_bad_values(ecg, ecg_detector, kwargs, match):
    det, _ = ecg_detector
    with pytest.raises(hg.InvalidInputError, match=match):
        hg.Detector(det.model, score="mse", **kwargs).fit(ecg.x_train[:50])


def test_worst_fraction_with_members_and_where_it_does_not_apply(ecg):
    normal = ecg.x_train[ecg.y_train == 1]
    model = hg.create_model("dense-ensemble", input_shape=(140,), n_members=3, hidden=(32,), latent_dim=8, seed=0)
    hg.fit(model, normal, epochs=3, batch_size=256, progress=False, seed=0)
    det = hg.Detector(model, score="mae", worst_fraction=0.2).fit(normal)
    x = torch.as_tensor(ecg.x_test[:20])
    with torch.no_grad():
        members = det.scorer().member_scores(x).numpy()
        errors = (model.member_outputs(x) - x).abs().numpy()  # (N, B, 140)
    np.testing.assert_allclose(members, np.sort(errors, axis=2)[:, :, -28:].mean(axis=2).T, rtol=1e-5)
    subsets = hg.create_model("dense-ensemble", input_shape=(140,), n_members=2, feature_subsets=True, seed=0)
    with pytest.raises(hg.InvalidInputError, match="feature_subsets"):
        hg.Detector(subsets, score="mae", worst_fraction=0.1).fit(normal[:50])
    vae = hg.create_model("vae", input_shape=(140,), hidden=(16,), latent_dim=2, seed=0)
    with pytest.raises(hg.InvalidInputError, match="reconstruction scores"):
        hg.Detector(vae, score="elbo", worst_fraction=0.1).fit(normal[:50])


def test_explain_names_pixels_for_images(fashion_small):
    x_train, x_test = fashion_small
    model = hg.create_model("dense", input_shape=(1, 28, 28), latent_dim=16, seed=0)
    hg.fit(model, x_train, epochs=1, batch_size=256, progress=False)
    ex = hg.Detector(model).fit(x_train).explain(x_test[:2], top=4)
    c, h, w = np.unravel_index(ex.indices[0, 0], (1, 28, 28))
    assert ex.names[0][0] == f"({c}, {h}, {w})"


def test_ensemble_averages_standardised_member_scores(ecg):
    normal = ecg.x_train[ecg.y_train == 1]
    members = []
    for seed in range(3):
        model = hg.create_model("stacked", input_shape=(140,), seed=seed)
        hg.fit(model, normal, epochs=5, batch_size=256, loss="mae", seed=seed, progress=False)
        members.append(hg.Detector(model))
    ens = hg.DetectorEnsemble(members, threshold=hg.Percentile(95)).fit(normal)
    raw = np.stack([m.score_samples(ecg.x_test) for m in members])
    q75, q25 = np.percentile(np.stack([m.score_samples(normal) for m in members]), [75, 25], axis=1)
    np.testing.assert_allclose(ens.spread_, q75 - q25, rtol=1e-6)
    expected = ((raw - ens.center_[:, None]) / ens.spread_[:, None]).mean(axis=0)
    np.testing.assert_allclose(ens.score_samples(ecg.x_test), expected, rtol=1e-6)
    assert ens.evaluate(ecg.x_test, ecg.is_anomaly(ecg.y_test))["auroc"] > 0.9
    assert ens.score_map(ecg.x_test[:4]).shape == (4, 140)


def test_one_class_mnist_heatmaps_and_top_anomalies(data_dir, tmp_path):
    from hourglass.reports import figures

    ds = hg.datasets.one_vs_rest(hg.datasets.load("mnist", data_dir=data_dir, download=False), normal=[1])
    model = hg.create_model("conv-bn", seed=0)
    hg.fit(model, ds.x_train[:2000], epochs=2, batch_size=64, loss="mae", seed=0, progress=False)
    det = hg.Detector(model, score="mae").fit(ds.x_train[:2000])
    x, y = ds.x_test[:600], ds.y_test[:600]
    assert det.evaluate(x, y)["auroc"] > 0.9
    scores = det.score_samples(x)
    top = np.argsort(-scores)[:16]
    assert y[top].mean() >= 15 / 16  # the most anomalous images are not ones
    maps = det.score_map(x[top[:6]])
    assert maps.shape == (6, 1, 28, 28)
    np.testing.assert_allclose(maps.reshape(6, -1).mean(1), scores[top[:6]], rtol=1e-5)
    grid = figures.top_anomalies(x, scores, k=16, labels=y, class_names=["normal", "anomaly"])
    captions = [ax.get_xlabel() for ax in grid.axes if ax.get_xlabel()]
    assert len(captions) == 16 and captions[0] == f"{scores[top[0]]:.3g} · anomaly"
    heat = figures.anomaly_heatmaps(x[top[:6]], maps, scores[top[:6]])
    assert len(heat.axes) == 13  # 6 inputs, 6 maps, the colour bar
    for name, fig in (("top.png", grid), ("heat.svg", heat)):
        assert figures.save_figure(fig, tmp_path / name).stat().st_size > 5000
    with pytest.raises(ValueError, match="do not match"):
        figures.anomaly_heatmaps(x[:3], maps)


def test_roc_pr_and_reconstruction_figures(ecg, ecg_detector, fashion_small, tmp_path):
    from sklearn.metrics import average_precision_score, roc_auc_score

    from hourglass.reports import figures

    det, _ = ecg_detector
    y = ecg.is_anomaly(ecg.y_test)
    scores = det.score_samples(ecg.x_test)
    roc = figures.roc_curve(y, scores, det.threshold_)
    labels = roc.axes[0].get_legend_handles_labels()[1]
    assert labels[0] == f"AUROC {roc_auc_score(y, scores):.4f}" and labels[-1].startswith("threshold")
    m = det.evaluate(ecg.x_test, y)
    point = roc.axes[0].lines[-1].get_xydata()[0]  # the operating point is the detector's FPR / recall
    np.testing.assert_allclose(point, [m["fp"] / (m["fp"] + m["tn"]), m["recall"]])
    pr = figures.pr_curve(y, scores, det.threshold_)
    assert pr.axes[0].get_legend_handles_labels()[1][0] == f"AUPRC {average_precision_score(y, scores):.4f}"
    np.testing.assert_allclose(pr.axes[0].lines[-1].get_xydata()[0], [m["recall"], m["precision"]])
    x = fashion_small[1][:8]
    grid = figures.reconstruction_grid(x, x[::-1], noisy=np.clip(x + 0.2, 0, 1), n=6)
    assert len([ax for ax in grid.axes if ax.images]) == 18
    assert [grid.axes[r * 6].get_ylabel() for r in range(3)] == ["original", "noisy input", "denoised"]
    for name, fig in (("roc.png", roc), ("pr.svg", pr), ("grid.png", grid)):
        assert figures.save_figure(fig, tmp_path / name).stat().st_size > 3000


def test_error_blur_smooths_the_signed_error_and_separates_shared_strokes(data_dir, tmp_path):
    """On one-class MNIST (8 normal), a stroke drawn a pixel off costs little once the signed
    error is smoothed, a missing or extra stroke keeps its cost: the 3s, 5s and 9s stand out."""
    from scipy.ndimage import gaussian_filter

    ds = hg.datasets.one_vs_rest(hg.datasets.load("mnist", data_dir=data_dir, download=False), normal=[8])
    model = hg.create_model("conv", input_shape=(1, 28, 28), channels=(32, 64), latent_dim=16, seed=0)
    hg.fit(model, ds.x_train[:2000], epochs=3, batch_size=128, loss="mse", seed=0, progress=False)
    x, y = ds.x_test[:3000], ds.y_test[:3000]
    raw = hg.Detector(model, score="mse").fit(ds.x_train[:500])
    smooth = hg.Detector(model, score="mse", error_blur=1.0).fit(ds.x_train[:500])
    assert smooth.evaluate(x, y)["auroc"] > raw.evaluate(x, y)["auroc"] + 0.05  # 0.77 vs 0.68
    # the error map is the squared Gaussian-filtered difference (zeros beyond the edges, 3 sigma)
    diff = hg.reconstruct(model, x[:50]) - x[:50]
    for sigma in (1.0, 1.5):
        expected = gaussian_filter(diff, sigma=(0, 0, sigma, sigma), mode="constant", truncate=3.0) ** 2
        det = hg.Detector(model, score="mse", error_blur=sigma).fit(ds.x_train[:200])
        np.testing.assert_allclose(det.score_map(x[:50]), expected, atol=1e-6)
        np.testing.assert_allclose(det.score_samples(x[:50]), expected.reshape(50, -1).mean(axis=1), rtol=1e-4)
    both = hg.Detector(model, score="mae", error_blur=1.0, worst_fraction=0.05).fit(ds.x_train[:200])
    expected = np.abs(gaussian_filter(diff, sigma=(0, 0, 1, 1), mode="constant", truncate=3.0)).reshape(50, -1)
    np.testing.assert_allclose(both.score_samples(x[:50]), np.sort(expected, 1)[:, -39:].mean(1), rtol=1e-4)
    # saved, loaded and exported with it; a folder without it is written as before
    hg.save(both, tmp_path / "det")
    loaded = hg.load(tmp_path / "det")
    assert loaded.error_blur == 1.0 and "error_blur=1.0" in repr(loaded)
    np.testing.assert_array_equal(loaded.score_samples(x[:50]), both.score_samples(x[:50]))
    assert json.loads((tmp_path / "det" / "hourglass.json").read_text())["detector"]["error_blur"] == 1.0
    hg.save(raw, tmp_path / "raw")
    assert "error_blur" not in json.loads((tmp_path / "raw" / "hourglass.json").read_text())["detector"]
    onnx = pytest.importorskip("onnxruntime")
    session = onnx.InferenceSession(str(hg.export_onnx(loaded, tmp_path / "d.onnx", part="scorer")))
    _, scores, _ = session.run(None, {"x": x[:32]})
    np.testing.assert_allclose(scores, loaded.score_samples(x[:32]), rtol=1e-4)


def test_error_blur_smooths_series_along_time(ecg, ecg_detector):
    from scipy.ndimage import gaussian_filter1d

    det, _ = ecg_detector
    normal, x = ecg.x_train[ecg.y_train == 1], ecg.x_test[:100]
    smooth = hg.Detector(det.model, score="mse", error_blur=2.0).fit(normal)
    diff = hg.reconstruct(det.model, x) - x
    expected = gaussian_filter1d(diff, 2.0, axis=1, mode="constant", truncate=3.0) ** 2
    np.testing.assert_allclose(smooth.score_map(x), expected, atol=1e-7)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"error_blur": 0}, r"error_blur must be a positive number"),
        ({"error_blur": -1.0}, r"error_blur must be a positive number"),
        ({"error_blur": float("inf")}, r"error_blur must be a positive number"),
        ({"error_blur": "1px"}, r"error_blur must be a positive number"),
        ({"error_blur": True}, r"error_blur must be a positive number"),
        ({"error_blur": float("nan")}, r"error_blur must be a positive number"),
        ({"error_blur": 500.0}, r"error_blur=500.0 is wider than the input \(140 elements"),
    ],
)
def test_error_blur_refuses_bad_values(ecg, ecg_detector, kwargs, match):
    det, _ = ecg_detector
    with pytest.raises(hg.InvalidInputError, match=match):
        hg.Detector(det.model, score="mse", **kwargs).fit(ecg.x_train[:50])


def test_error_blur_where_it_does_not_apply(ecg):
    normal = ecg.x_train[ecg.y_train == 1][:100]
    vae = hg.create_model("vae", input_shape=(140,), hidden=(16,), latent_dim=2, seed=0)
    with pytest.raises(hg.InvalidInputError, match=r"error_blur is for reconstruction scores .* not 'elbo'"):
        hg.Detector(vae, score="elbo", error_blur=1.0).fit(normal)
    stacked = hg.create_model("stacked", input_shape=(140,), hidden=(16,), latent_dim=4, seed=0)
    with pytest.raises(hg.InvalidInputError, match=r"not 'code-knn'"):
        hg.Detector(stacked, score="code-knn", error_blur=1.0).fit(normal)
    members = hg.create_model("dense-ensemble", input_shape=(140,), n_members=2, hidden=(16,), latent_dim=4, seed=0)
    with pytest.raises(hg.InvalidInputError, match="error_blur is for one model"):
        hg.Detector(members, score="mse", error_blur=1.0).fit(normal)


def test_a_detectors_options_are_one_frozen_spec_validated_once_and_saved_as_before(ecg):
    """``ScoreSpec``: a bad option is refused when the detector is built, an option set later is
    validated again, and the spec round-trips through the saved form (the keys 0.1 wrote)."""
    from dataclasses import FrozenInstanceError

    from hourglass.detection.spec import ScoreSpec

    model = hg.create_model("stacked", input_shape=(140,), seed=0)
    with pytest.raises(hg.InvalidInputError, match="score must be one of"):
        hg.Detector(model, score="mse2")
    with pytest.raises(hg.InvalidInputError, match="worst_fraction is for reconstruction scores"):
        hg.Detector(model, score="code-knn", worst_fraction=0.1)
    with pytest.raises(hg.InvalidInputError, match="input_transform must be deterministic"):
        hg.Detector(model, input_transform=hg.GaussianNoise(0.1))
    det = hg.Detector(model, score="mse", worst_fraction=0.2)
    with pytest.raises(hg.InvalidInputError, match="worst_fraction must be a number"):
        det.worst_fraction = 2.0
    assert det.worst_fraction == 0.2 and det.spec.worst_fraction == 0.2  # unchanged by the refusal
    det.score = "l2"
    assert det.spec.score == "l2"
    with pytest.raises(FrozenInstanceError):
        det.spec.score = "mae"
    spec = ScoreSpec(score="feature-knn", n_neighbors=3, memory_size=50, batch_size=256)
    assert ScoreSpec.from_dict(spec.to_dict()) == spec
    assert set(ScoreSpec().to_dict()) == {"score", "batch_size", "n_samples", "input_transform"}
    assert ScoreSpec.from_dict({"score": "mae"}) == ScoreSpec()  # a folder without the newer keys
    # the model-dependent checks run at fit
    with pytest.raises(hg.InvalidInputError, match="error_blur"):
        hg.Detector(
            hg.create_model("dense-ensemble", input_shape=(140,), n_members=2), score="mse", error_blur=1.0
        ).fit(ecg.x_train[:50])


def test_each_scores_fitted_state_is_its_own_part_and_saves_its_own_arrays(ecg, tmp_path):
    from hourglass.detection.neighbors import NeighborMemory
    from hourglass.detection.scores import FeatureScale, MemberStandardisation

    x = ecg.x_train[:200]
    model = hg.create_model("stacked", input_shape=(140,), seed=0)
    hg.fit(model, x, epochs=2, progress=False)
    ens = hg.create_model("dense-ensemble", input_shape=(140,), n_members=3, seed=0)
    hg.fit(ens, x, epochs=2, progress=False)
    cases = [
        (hg.Detector(model, score="l2"), FeatureScale, {"scale"}),
        (hg.Detector(model, score="code-knn", memory_size=100), NeighborMemory, {"memory"}),
        (hg.Detector(ens, score="mse"), MemberStandardisation, {"center", "spread"}),
    ]
    for det, part_type, arrays in cases:
        det.fit(x)
        parts = [p for p in (det.feature_scale_, det.neighbors_, det.members_) if p is not None]
        assert [type(p) for p in parts] == [part_type]
        assert set(det.to_saved().arrays) == arrays | {"calibration_scores"}
        hg.save(det, tmp_path / part_type.__name__)
        again = hg.load(tmp_path / part_type.__name__)
        np.testing.assert_array_equal(again.score_samples(x[:20]), det.score_samples(x[:20]))


def test_nearest_takes_the_larger_of_the_nearest_and_the_mean_distance_each_scaled(ecg, tmp_path):
    from hourglass.detection.neighbors import LEVEL_PERCENTILE

    normal = ecg.x_train[ecg.y_train == 1]
    train, held = normal[:300], normal[300:400]
    model = hg.create_model("stacked", input_shape=(140,), seed=0)
    hg.fit(model, train, epochs=3, progress=False)
    det = hg.Detector(model, score="code-knn", n_neighbors=5, nearest=True).fit(train, calibration=held)
    assert "nearest=True" in repr(det)
    plain = hg.Detector(model, score="code-knn", n_neighbors=5).fit(train, calibration=held)
    near = det._run(ecg.x_test, "nearest")  # (n, 5) ascending
    held_near = det._run(held, "nearest")
    parts = []
    for values, on_held in ((near[:, 0], held_near[:, 0]), (near.mean(axis=1), held_near.mean(axis=1))):
        mid, top = np.median(on_held), np.percentile(on_held, LEVEL_PERCENTILE)
        parts.append((values - mid) / (top - mid))
    scores = det.score_samples(ecg.x_test)
    np.testing.assert_allclose(scores, np.maximum(*parts), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(plain.score_samples(ecg.x_test), near.mean(axis=1), rtol=1e-5)
    # on held-out normal data 99 % of each part lies below 1, so about 98 % of the score does
    assert 0.95 <= (det.score_samples(held) <= 1 + 1e-6).mean() <= 0.995
    # saved with its levels; a folder without them is refused rather than scored otherwise
    state = det.to_saved()
    assert set(state.arrays) == {"calibration_scores", "memory", "neighbor_levels"}
    assert state.meta["detector"]["nearest"] is True
    hg.save(det, tmp_path / "near")
    np.testing.assert_array_equal(hg.load(tmp_path / "near").score_samples(ecg.x_test), scores)
    assert "nearest" not in plain.to_saved().meta["detector"]  # the earlier format, unchanged
    from hourglass.detection.neighbors import NeighborMemory

    with pytest.raises(ValueError, match="neighbor_levels"):
        NeighborMemory.from_arrays({"memory": state.arrays["memory"]}, 5, state.arrays["memory"].shape[1], nearest=True)
    # without calibration data the levels come from the fit rows, each left out of its own neighbours
    loo = hg.Detector(model, score="code-knn", n_neighbors=5, nearest=True).fit(train)
    assert np.isfinite(loo.neighbors_.levels).all() and np.isfinite(loo.threshold_)
    with pytest.raises(hg.InvalidInputError, match="nearest=True is for the neighbour scores"):
        hg.Detector(model, score="mse", nearest=True)
    with pytest.raises(hg.InvalidInputError, match="nearest must be True or False"):
        hg.Detector(model, score="code-knn", nearest="yes")
