"""Data larger than memory: scoring and training stream over a memory-mapped .npy in chunks, give
exactly the in-memory results, and keep at most about one chunk of the file resident."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hourglass as hg
from hourglass.streaming import STREAM_BYTES, STREAM_ROWS


@pytest.fixture(scope="module")
def big(tmp_path_factory, ecg):
    """ECG beats tiled to 2.3 chunks of rows (about 85 MB of float32), saved as .npy and mapped."""
    rows = int(STREAM_ROWS * 2.3)
    x = np.resize(ecg.x_test, (rows, 140)).astype(np.float32)
    x += np.linspace(0, 0.01, rows, dtype=np.float32)[:, None]  # no two chunks alike
    path = tmp_path_factory.mktemp("big") / "beats.npy"
    np.save(path, x)
    return path, x


@pytest.fixture(scope="module")
def detector(ecg):
    normal = ecg.x_train[ecg.y_train == 1]
    model = hg.create_model("stacked", input_shape=(140,), hidden=(32, 16), latent_dim=8, seed=0)
    hg.fit(model, normal, epochs=3, batch_size=256, loss="mae", progress=False)
    return hg.Detector(model, score="mae", scaler=hg.MinMaxScaler()).fit(normal)


def _resident_kb(path) -> int:
    """Resident kB of this process's mappings of ``path`` (/proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            if line[0] in "0123456789abcdef" and "-" in line.split()[0]:
                inside = line.rstrip().endswith(str(path))
            elif inside and line.startswith("Rss:"):
                total += int(line.split()[1])
    return total


def test_scoring_a_memory_mapped_file_matches_and_stays_small(big, detector):
    path, x = big
    mapped = np.load(path, mmap_mode="r")
    scores = detector.score_samples(mapped)
    np.testing.assert_array_equal(scores, detector.score_samples(x))
    np.testing.assert_array_equal(detector.predict(mapped), detector.predict(x))
    assert scores.shape == (len(x),)
    # every page was read, but at most about one chunk's pages are still mapped in
    assert _resident_kb(path) <= STREAM_BYTES // 1024 * 1.1, _resident_kb(path)
    np.testing.assert_array_equal(detector.score_map(mapped[:1000]), detector.score_map(x[:1000]))


def test_a_bad_row_deep_in_a_mapped_file_is_named(tmp_path, big, detector):
    _, x = big
    bad = x[: 2 * STREAM_ROWS].copy()
    bad[STREAM_ROWS + 4321, 7] = np.nan  # in a later chunk
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(hg.InvalidInputError, match=f"first at sample {STREAM_ROWS + 4321}"):
        detector.score_samples(np.load(tmp_path / "bad.npy", mmap_mode="r"))


def test_training_on_a_memory_mapped_file_equals_training_in_memory(big):
    path, x = big
    mapped = np.load(path, mmap_mode="r")
    models = []
    for data in (x, mapped):
        model = hg.create_model("stacked", input_shape=(140,), hidden=(32, 16), latent_dim=8, seed=0)
        hg.fit(model, data, epochs=2, steps_per_epoch=40, batch_size=512, loss="mae", seed=5, progress=False)
        models.append(model)
    for a, b in zip(models[0].state_dict().values(), models[1].state_dict().values()):
        assert torch.equal(a, b)
    assert _resident_kb(path) <= STREAM_BYTES // 1024 * 1.1


def test_other_dtypes_and_small_mapped_files_work_everywhere(tmp_path, ecg):
    """A float64 memory map is converted (streaming is for float32 files); a small float32 one
    goes through every public function without warnings about read-only memory."""
    import warnings

    model = hg.create_model("stacked", input_shape=(140,), seed=0)
    np.save(tmp_path / "f64.npy", ecg.x_test[:300].astype(np.float64))
    np.save(tmp_path / "f32.npy", ecg.x_test[:300])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("f64.npy", "f32.npy"):
            mapped = np.load(tmp_path / name, mmap_mode="r")
            assert hg.reconstruct(model, mapped).dtype == np.float32
            hg.fit(model, mapped, epochs=1, progress=False)
            det = hg.Detector(model, scaler=hg.StandardScaler()).fit(mapped)
            np.testing.assert_allclose(det.score_samples(mapped), det.score_samples(ecg.x_test[:300]), rtol=1e-6)
