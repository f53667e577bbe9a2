"""ONNX export: every model family, every part, checked against PyTorch with onnxruntime on real data."""

from __future__ import annotations

import numpy as np
import pytest

import hourglass as hg

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

# (family, overrides, data): every registered model, trained a few steps on real data.
FAMILIES = [
    ("dense", {"latent_dim": 32}, "fashion"),
    ("stacked", {"hidden": (32, 16), "latent_dim": 8}, "ecg"),
    ("dense-ensemble", {"n_members": 3, "hidden": (32, 16), "latent_dim": 8}, "ecg"),
    ("conv", {}, "fashion"),
    ("conv-bn", {"channels": (16, 8)}, "fashion"),
    ("conv-vae", {"latent_dim": 8}, "fashion"),
    ("vae", {"likelihood": "gaussian", "latent_dim": 8}, "ecg"),
    ("cvae", {"latent_dim": 8}, "fashion"),
    ("conv1d", {"latent_dim": 16}, "ecg"),
    ("lstm", {"hidden": (32,), "latent_dim": 16}, "ecg"),
]


def test_every_registered_model_is_covered():
    assert sorted(name for name, _, _ in FAMILIES) == hg.list_models()


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _close(actual, expected):
    # 1e-5 absolute, or relative for large values (an ELBO is hundreds of nats; float32 keeps 7 digits)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def trained(ecg, fashion):
    """Each family trained for one short epoch on its real data, with its training slice."""
    out = {}
    x_img, labels = fashion.x_train[:256], fashion.y_train[:256]
    x_ecg = ecg.x_train[:256]
    for name, overrides, data in FAMILIES:
        shape = (140,) if data == "ecg" else (1, 28, 28)
        model = hg.create_model(name, input_shape=shape, seed=0, **overrides)
        x = x_ecg if data == "ecg" else x_img
        hg.fit(model, x, epochs=1, batch_size=64, labels=labels if model.conditional else None, progress=False)
        out[name] = (model, x, labels if model.conditional else None)
    return out


@pytest.mark.parametrize("name", [n for n, _, _ in FAMILIES if n != "cvae"])
def test_scorer_matches_the_detector(trained, name, tmp_path, ecg, fashion_small):
    model, x_train, _ = trained[name]
    x_new = ecg.x_test[:40] if model.input_shape == (140,) else fashion_small[1][:40]
    score = "elbo" if name == "vae" else "mae"
    det = hg.Detector(model, score=score, threshold=hg.Percentile(95)).fit(x_train)
    path = hg.export_onnx(det, tmp_path / f"{name}.onnx", part="scorer", example=x_train[:8])
    session = _session(path)
    for rows in (1, 40):  # the batch axis is dynamic
        reconstruction, scores, flags = session.run(None, {"x": x_new[:rows]})
        _close(scores, det.score_samples(x_new[:rows]))
        _close(reconstruction, hg.reconstruct(model, x_new[:rows]))
        np.testing.assert_array_equal(flags, det.predict(x_new[:rows]))
    names = {m.key: m.value for m in __import__("onnx").load(str(path)).metadata_props}
    assert names["hourglass_model"] == name and names["hourglass_part"] == "scorer"
    assert float(names["hourglass_threshold"]) == det.threshold_


@pytest.mark.parametrize("name", ["dense", "conv-vae", "cvae", "conv1d", "dense-ensemble"])
def test_full_encoder_and_decoder_parts(trained, name, tmp_path):
    model, x, labels = trained[name]
    x, labels = x[:33], None if labels is None else labels[:33]
    feeds = {} if labels is None else {"labels": labels.astype(np.int64)}
    code = hg.encode(model, x, labels=labels)
    expected = {
        "full": hg.reconstruct(model, x, labels=labels),
        "encoder": code,
        "decoder": hg.decode(model, code, labels=labels),
    }
    for part, want in expected.items():
        session = _session(hg.export_onnx(model, tmp_path / f"{part}.onnx", part=part))
        inputs = {("z" if part == "decoder" else "x"): code if part == "decoder" else x, **feeds}
        assert [i.name for i in session.get_inputs()] == list(inputs)
        _close(session.run(None, inputs)[0], want)


def test_scaled_tabular_ensemble_scorer(data_dir, tmp_path):
    """What `hourglass fit` saves for a table: an ensemble over scaled features, l2 scores."""
    ds = hg.datasets.load("adbench/4_breastw", data_dir=data_dir, download=False)
    est = hg.AutoencoderDetector(n_models=2, epochs=3, random_state=0).fit(ds.x_train)
    path = hg.export_onnx(est, tmp_path / "table.onnx", part="scorer")
    reconstruction, scores, flags = _session(path).run(None, {"x": ds.x_test})
    _close(scores, est.detector_.score_samples(ds.x_test))
    np.testing.assert_array_equal(flags, est.detector_.predict(ds.x_test))
    assert reconstruction.shape == ds.x_test.shape


def test_export_errors_are_clear(trained, tmp_path, ecg):
    model, x, _ = trained["stacked"]
    with pytest.raises(hg.InvalidInputError, match="part must be one of"):
        hg.export_onnx(model, tmp_path / "m.onnx", part="everything")
    with pytest.raises(hg.InvalidInputError, match="needs a fitted detector"):
        hg.export_onnx(model, tmp_path / "m.onnx", part="scorer")
    with pytest.raises(hg.NotFittedError):
        hg.export_onnx(hg.Detector(model), tmp_path / "m.onnx", part="scorer")
    with pytest.raises(hg.InvalidInputError, match="example has samples of shape"):
        hg.export_onnx(model, tmp_path / "m.onnx", example=np.zeros((4, 10), np.float32))
    with pytest.raises(hg.InvalidInputError, match="takes an hourglass model or detector"):
        hg.export_onnx("model.pt", tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_export_leaves_the_model_as_it_was(trained, tmp_path):
    model, x, _ = trained["conv-bn"]
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    hg.export_onnx(model, tmp_path / "m.onnx")
    assert model.training
    assert all((before[k] == v).all() for k, v in model.state_dict().items())
