"""Saved folders are a promise: folders written by every earlier release load with the current code
and give identical scores, predictions, p-values, maps, reconstructions and codes; saved again by
the current code, they still do. The folders and their expected results are in tests/fixtures/
(written by scripts/make_fixtures.py with that release)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hourglass as hg

FIXTURES = Path(__file__).parent / "fixtures"
RELEASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
DETECTORS = ("detector", "conv-detector", "vae-detector")


def expected(release: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / release / "expected.npz", allow_pickle=False) as f:
        return dict(f)


def check_detector(det, exp: dict, name: str) -> None:
    x = exp[f"{name}/x"]
    for method in ("score_samples", "predict", "decision_function", "p_values"):
        got = getattr(det, method)(x)
        np.testing.assert_array_equal(got, exp[f"{name}/{method}"], err_msg=f"{name}.{method}")
        assert got.dtype == exp[f"{name}/{method}"].dtype, (name, method, got.dtype)
    np.testing.assert_array_equal(det.score_map(x[:4]), exp[f"{name}/score_map"], err_msg=f"{name}.score_map")
    assert det.threshold_ == float(exp[f"{name}/threshold"])


def check_estimator(est, exp: dict, name: str) -> None:
    x = exp[f"{name}/x"]
    names = getattr(est, "feature_names_in_", None)
    if names is not None:  # fitted on a DataFrame: score one with the same columns
        import pandas as pd

        x = pd.DataFrame(x, columns=names)
    for method in ("score_samples", "predict", "decision_function", "p_values"):
        if f"{name}/{method}" in exp:
            np.testing.assert_array_equal(getattr(est, method)(x), exp[f"{name}/{method}"], err_msg=f"{name}.{method}")
    if f"{name}/explain_indices" in exp:
        np.testing.assert_array_equal(est.explain(x, top=3).indices, exp[f"{name}/explain_indices"])
    assert est.threshold_ == float(exp[f"{name}/threshold"])


def check_model(model, exp: dict) -> None:
    x = exp["model/x"]
    np.testing.assert_array_equal(hg.reconstruct(model, x), exp["model/reconstruct"])
    np.testing.assert_array_equal(hg.encode(model, x), exp["model/encode"])


@pytest.fixture(params=RELEASES)
def release(request):
    return request.param


@pytest.mark.parametrize("resave", [False, True], ids=["as-saved", "saved-again"])
def test_release_folders_load_with_identical_results(release, resave, tmp_path):
    exp = expected(release)

    def load(name):
        obj = hg.load(FIXTURES / release / name)
        if resave:
            hg.save(obj, tmp_path / name)
            obj = hg.load(tmp_path / name)
        return obj

    for name in DETECTORS:
        det = load(name)
        assert isinstance(det, hg.Detector), (name, type(det))
        check_detector(det, exp, name)
    assert load("detector").model.history_.epochs == 3  # the history saved with it
    assert isinstance(load("conv-detector").input_transform, hg.Downsample)
    for name in ("estimator-ensemble", "estimator-vae"):
        est = load(name)
        assert isinstance(est, hg.AutoencoderDetector)
        check_estimator(est, exp, name)
    ensemble = load("estimator-ensemble")
    if release == "v0.1.0":  # members trained one after another, one detector each
        assert isinstance(ensemble.detector_, hg.DetectorEnsemble) and len(ensemble.models_) == 3
    else:  # since 0.2: trained together, one DenseEnsemble in one detector
        assert isinstance(ensemble.detector_, hg.Detector) and ensemble.models_[0].n_members == 3
    assert isinstance(ensemble.detector_.threshold, hg.FixedFPR)
    model = load("model")
    assert isinstance(model, hg.Autoencoder) and model.name == "conv1d" and model.history_.epochs == 2
    check_model(model, exp)
    if (FIXTURES / release / "default-detector").exists():  # saved by 0.2 and later
        est = load("default-detector")
        assert isinstance(est, hg.AutoencoderDetector) and est.models_[0].n_members == 6
        check_estimator(est, exp, "default-detector")
    if (FIXTURES / release / "series-detector").exists():
        series = load("series-detector")
        assert isinstance(series, hg.SeriesDetector)
        x = exp["series-detector/x"]
        np.testing.assert_array_equal(series.score_steps(x), exp["series-detector/score_steps"])
        np.testing.assert_array_equal(series.predict_steps(x), exp["series-detector/predict_steps"])


def test_release_checkpoints_resume(release, tmp_path):
    """A checkpoint written by an earlier release resumes: its weights, optimizer, shuffle position
    and history carry on (the noise and model streams restart from the seed where the release's
    checkpoint format did not hold them separately)."""
    import shutil

    import torch
    from safetensors.torch import load_file

    source = FIXTURES / release / "checkpoint"
    saved = json_of(sorted(source.glob("epoch-*.json"))[-1])
    weights = {k[6:]: v for k, v in load_file(str(source / saved["weights"])).items() if k.startswith("model/")}
    ds = hg.datasets.load("ecg5000", split="tutorial")
    train = ds.x_train[ds.y_train == 1][:600]
    for epochs in (saved["epoch"], saved["epoch"] + 2):
        work = tmp_path / f"ckpt-{epochs}"
        shutil.copytree(source, work)
        model = hg.create_model("stacked", input_shape=(140,), hidden=(16,), latent_dim=4, seed=1, dropout=0.1)
        history = hg.fit(
            model,
            train,
            epochs=epochs,
            batch_size=128,
            progress=False,
            seed=0,
            checkpoint_dir=work,
            resume=True,
            corruption=hg.GaussianNoise(0.05),
        )
        assert history.settings["resumed_from_epoch"] == saved["epoch"]
        assert history.train_loss[: saved["epoch"]] == saved["history"]["train_loss"]
        assert history.epochs == epochs
        if epochs == saved["epoch"]:  # nothing left to train: exactly the checkpoint's weights
            assert all(torch.equal(model.state_dict()[k], v) for k, v in weights.items())
        else:
            assert np.isfinite(history.train_loss).all()


def json_of(path: Path) -> dict:
    import json

    return json.loads(path.read_text())
