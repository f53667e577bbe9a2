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
    with pytest.raises(hg.ModelFileError, match="hourglass.json: does not match the checksum"):
        hg.load(tmp_path / "m")
    # edited on purpose (verify=False): what the edit broke is still named
    with pytest.raises(hg.ModelFileError, match="do not fit"):
        hg.load(tmp_path / "m", verify=False)
    meta["model"]["name"] = "gpt"
    cfg.write_text(json.dumps(meta))
    with pytest.raises(hg.ModelFileError, match="invalid model description"):
        hg.load(tmp_path / "m", verify=False)


@pytest.fixture(scope="module")
def breastw(data_dir):
    return hg.datasets.load("adbench/4_breastw", data_dir=data_dir, download=False, seed=0)


def test_saved_files_are_checked_against_their_checksums(tmp_path, breastw):
    """Issue 43: a flipped weight byte, NaN weights or a threshold edited to -5 once loaded without a
    word. The save writes each file's SHA-256 into hourglass.json; load checks them, and refuses
    NaN / inf weights even when told not to verify."""
    est = hg.AutoencoderDetector(epochs=2, n_models=2, random_state=0).fit(breastw.x_train)
    hg.save(est, tmp_path / "m")
    scores = est.score_samples(breastw.x_test)
    weights, cfg = tmp_path / "m" / "model.safetensors", tmp_path / "m" / "hourglass.json"
    good_weights, good_cfg = weights.read_bytes(), cfg.read_text()
    np.testing.assert_array_equal(hg.load(tmp_path / "m").score_samples(breastw.x_test), scores)
    flipped = bytearray(good_weights)
    flipped[-3] ^= 0x10  # inside the last tensor's data: still a readable safetensors file
    weights.write_bytes(bytes(flipped))
    with pytest.raises(hg.ModelFileError, match="model.safetensors: does not match the checksum"):
        hg.load(tmp_path / "m")
    assert not np.array_equal(hg.load(tmp_path / "m", verify=False).score_samples(breastw.x_test), scores)
    weights.write_bytes(good_weights)
    meta = json.loads(good_cfg)
    meta["detector"]["threshold_value"] = -5.0  # every row would be flagged
    cfg.write_text(json.dumps(meta, indent=2))
    with pytest.raises(hg.ModelFileError, match="description was edited"):
        hg.load(tmp_path / "m")
    cfg.write_text(json.dumps(json.loads(good_cfg), indent=4))  # re-indented: the same description
    hg.load(tmp_path / "m")
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(weights))
    name = next(iter(tensors))
    tensors[name][0] = float("nan")
    save_file(tensors, str(weights), metadata={"format": "hourglass"})
    with pytest.raises(hg.ModelFileError, match=f"'{name}' holds NaN or inf"):
        hg.load(tmp_path / "m", verify=False)


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


def _leftover(tmp_path, name: str, kind: str, tag: str):
    folder = tmp_path / f".{name}.{kind}-{tag}"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"x" * 1000)
    return folder


def test_a_save_removes_the_leftovers_of_killed_saves_only(tmp_path):
    import os
    import subprocess
    import sys

    from hourglass.io import _host_tag

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = _leftover(tmp_path, "m", "tmp", f"{_host_tag()}-{gone.pid}-0badc0de")
        running = _leftover(tmp_path, "m", "tmp", f"{_host_tag()}-{alive.pid}-0badc0de")
        elsewhere = _leftover(tmp_path, "m", "tmp", f"0000beef-{gone.pid}-0badc0de")  # another host's
        legacy_old = _leftover(tmp_path, "m", "tmp", "1234abcd")  # 0.1's name: no writer in it
        legacy_new = _leftover(tmp_path, "m", "tmp", "5678abcd")
        for p in (legacy_old, *legacy_old.iterdir()):
            os.utime(p, (0, 0))
        other_target = _leftover(tmp_path, "m2", "tmp", f"{_host_tag()}-{gone.pid}-0badc0de")
        hg.save(hg.create_model("stacked", seed=0), tmp_path / "m")
        left = {p.name for p in tmp_path.iterdir()}
        assert dead.name not in left and legacy_old.name not in left
        assert {running.name, elsewhere.name, legacy_new.name, other_target.name, "m"} == left
    finally:
        alive.kill()
        alive.wait()


def test_a_save_killed_by_sigkill_is_cleaned_up_by_the_next(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    script = (
        "import hourglass as hg, sys\n"
        "m = hg.create_model('dense', input_shape=(1, 28, 28), hidden=(2048,), latent_dim=512, seed=0)\n"
        "while True: hg.save(m, sys.argv[1])\n"
    )
    target = tmp_path / "big"
    for _ in range(5):  # kill it while a temporary folder exists (each save takes tens of ms)
        writer = subprocess.Popen([sys.executable, "-c", script, str(target)])
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".big.tmp-*")) and time.monotonic() < deadline:
            time.sleep(0.001)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        if list(tmp_path.glob(".big.tmp-*")) or list(tmp_path.glob(".big.old-*")):
            break
    assert list(tmp_path.glob(".big.*-*")), "no save was caught mid-write"
    model = hg.create_model("stacked", seed=3)
    hg.save(model, target)
    assert [p.name for p in tmp_path.iterdir()] == ["big"]
    torch.testing.assert_close(hg.load(target).state_dict(), model.state_dict())


def test_an_interrupted_swap_gives_the_earlier_save_back(tmp_path):
    import subprocess
    import sys

    from hourglass.io import _host_tag

    model = hg.create_model("stacked", seed=0)
    hg.save(model, tmp_path / "m")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    # killed between setting the earlier save aside and moving the new one in
    (tmp_path / "m").rename(tmp_path / f".m.old-{_host_tag()}-{gone.pid}-0badc0de")
    with pytest.raises(hg.ModelFileError, match="interrupted save left the earlier one"):
        hg.load(tmp_path / "m")
    hg.io.remove_stale(tmp_path / "m")
    torch.testing.assert_close(hg.load(tmp_path / "m").state_dict(), model.state_dict())


def test_a_full_disk_during_a_save_is_a_save_error_and_keeps_the_earlier_save(tmp_path):
    import subprocess
    import sys

    # a file-size limit makes the write fail inside safetensors as a full disk does (EFBIG / ENOSPC)
    script = (
        "import resource, signal, sys, hourglass as hg\n"
        "small = hg.create_model('stacked', seed=0)\n"
        "hg.save(small, sys.argv[1])\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, resource.RLIM_INFINITY))\n"
        "big = hg.create_model('dense', input_shape=(1, 28, 28), hidden=(1024,), latent_dim=64, seed=0)\n"
        "try:\n"
        "    hg.save(big, sys.argv[1])\n"
        "except hg.SaveError as exc:\n"
        "    print('SaveError', isinstance(exc, OSError), exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "m")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (
        out.stdout.startswith("SaveError True could not save to ") and "the earlier save there is intact" in out.stdout
    )
    assert "File too large" in out.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    torch.testing.assert_close(hg.load(tmp_path / "m").state_dict(), hg.create_model("stacked", seed=0).state_dict())
