"""Save / load: exact round trips, atomic writes, no pickle, corrupt folders."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

import hourglass as hg


def test_detector_round_trip_gives_identical_scores(tmp_path, ecg, ecg_detector):
    det, history = ecg_detector
    hg.save(det, tmp_path / "ecg", history=history)
    assert sorted(p.name for p in (tmp_path / "ecg").iterdir()) == [
        "detector.safetensors",
        "hourglass.json",
        "model.safetensors",
    ]
    again = hg.load(tmp_path / "ecg")
    np.testing.assert_array_equal(again.score_samples(ecg.x_test), det.score_samples(ecg.x_test))
    np.testing.assert_array_equal(again.predict(ecg.x_test), det.predict(ecg.x_test))
    np.testing.assert_array_equal(again.p_values(ecg.x_test), det.p_values(ecg.x_test))
    assert again.threshold_ == det.threshold_ and again.score == det.score
    assert again.model.history_.train_loss == history.train_loss
    meta = json.loads((tmp_path / "ecg" / "hourglass.json").read_text())
    assert meta["hourglass_version"] == hg.__version__ and meta["model"]["name"] == "stacked"


def test_scaler_and_bare_model_round_trip(tmp_path, fashion_small):
    x = fashion_small[1][:50]
    bn = hg.create_model("conv-bn", seed=0)
    hg.fit(bn, fashion_small[0][:256], epochs=1, batch_size=64, progress=False)
    hg.save(bn, tmp_path / "bn")
    loaded = hg.load(tmp_path / "bn")
    assert isinstance(loaded, hg.Autoencoder) and loaded.name == "conv-bn"
    np.testing.assert_array_equal(hg.reconstruct(loaded, x), hg.reconstruct(bn, x))  # incl. batch-norm stats
    scaler = hg.StandardScaler().fit(x.reshape(50, -1))
    det = hg.Detector(hg.create_model("dense", seed=0), scaler=scaler, threshold=hg.Percentile(99)).fit(
        x.reshape(50, -1)
    )
    hg.save(det, tmp_path / "det")
    det2 = hg.load(tmp_path / "det")
    assert isinstance(det2.scaler, hg.StandardScaler) and isinstance(det2.threshold, hg.Percentile)
    np.testing.assert_array_equal(det2.score_samples(x.reshape(50, -1)), det.score_samples(x.reshape(50, -1)))


def test_save_is_atomic_and_never_clobbers_user_files(tmp_path):
    model = hg.create_model("stacked", seed=0)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.txt").write_text("precious")
    with pytest.raises(hg.ModelFileError, match="not an hourglass folder"):
        hg.save(model, tmp_path / "notes")
    assert (tmp_path / "notes" / "thesis.txt").read_text() == "precious"
    hg.save(model, tmp_path / "m")
    other = hg.create_model("stacked", seed=1)
    hg.save(other, tmp_path / "m")  # replaces an hourglass folder
    torch.testing.assert_close(hg.load(tmp_path / "m").state_dict(), other.state_dict())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "notes"]  # no temporary folders left


def test_missing_and_corrupt_folders_are_clear_errors(tmp_path):
    with pytest.raises(hg.ModelFileError, match="no such model folder"):
        hg.load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(hg.ModelFileError, match="missing hourglass.json"):
        hg.load(tmp_path / "empty")
    hg.save(hg.create_model("stacked", seed=0), tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])
    with pytest.raises(hg.ModelFileError, match="corrupt or truncated"):
        hg.load(tmp_path / "m")
    weights.write_bytes(good)
    cfg = tmp_path / "m" / "hourglass.json"
    meta = json.loads(cfg.read_text())
    cfg.write_text(cfg.read_text()[:40])
    with pytest.raises(hg.ModelFileError, match="corrupt JSON"):
        hg.load(tmp_path / "m")
    meta["model"]["config"]["latent_dim"] = 9
    cfg.write_text(json.dumps(meta))
    with pytest.raises(hg.ModelFileError, match="do not fit"):
        hg.load(tmp_path / "m")
    meta["model"]["name"] = "gpt"
    cfg.write_text(json.dumps(meta))
    with pytest.raises(hg.ModelFileError, match="invalid model description"):
        hg.load(tmp_path / "m")


class _Boom:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_loading_never_unpickles(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hg.save(hg.create_model("stacked", seed=0), tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(pickle.dumps({"w": _Boom()}))
    with pytest.raises(hg.ModelFileError):
        hg.load(tmp_path / "m")
    assert not (tmp_path / "PWNED").exists()
