"""Data sets: real files, the shared download / verify / cache path, and corrupt files."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import threading

import numpy as np
import pytest

import hourglass as hg
from hourglass.datasets.files import Resource, fetch
from hourglass.datasets.idx import read_idx


def test_fashion_mnist_shapes_range_and_labels(fashion):
    assert fashion.x_train.shape == (60000, 1, 28, 28) and fashion.x_test.shape == (10000, 1, 28, 28)
    assert fashion.x_train.dtype == np.float32
    assert fashion.x_train.min() == 0.0 and fashion.x_train.max() == 1.0
    assert np.bincount(fashion.y_train).tolist() == [6000] * 10
    assert np.bincount(fashion.y_test).tolist() == [1000] * 10
    assert fashion.class_names[9] == "Ankle boot"


def test_mnist_matches_published_facts(data_dir):
    ds = hg.datasets.load("mnist", data_dir=data_dir, download=False)
    assert ds.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert ds.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(ds.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert abs(float(ds.x_train.mean()) - 0.1307) < 1e-3


def test_ecg5000_ships_with_the_package_ucr_split():
    ds = hg.datasets.load("ecg5000")
    assert ds.x_train.shape == (500, 140) and ds.x_test.shape == (4500, 140)
    assert dict(zip(*np.unique(ds.y_train, return_counts=True))) == {1: 292, 2: 177, 3: 10, 4: 19, 5: 2}
    assert dict(zip(*np.unique(ds.y_test, return_counts=True))) == {1: 2627, 2: 1590, 3: 86, 4: 175, 5: 22}
    # First row of the UCR training file: label 1, then -0.11252183 -2.8272038 -3.7738969
    np.testing.assert_allclose(ds.x_train[0, :3], [-0.11252183, -2.8272038, -3.7738969], rtol=1e-6)
    assert ds.is_anomaly([1, 2, 5]).tolist() == [0, 1, 1]


def test_ecg5000_tutorial_protocol(ecg):
    from sklearn.model_selection import train_test_split

    raw = hg.datasets.load("ecg5000")
    x = np.concatenate([raw.x_train, raw.x_test])
    y = np.concatenate([raw.y_train, raw.y_test])
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, random_state=21)
    assert ecg.x_train.shape == (4000, 140) and ecg.x_test.shape == (1000, 140)
    np.testing.assert_array_equal(ecg.y_test, y_te)
    lo, hi = x_tr.min(), x_tr.max()
    np.testing.assert_allclose(ecg.x_test, (x_te - lo) / (hi - lo), rtol=1e-5, atol=1e-6)
    assert ecg.x_train.min() == 0.0 and abs(ecg.x_train.max() - 1.0) < 1e-6


def test_adbench_stratified_split(data_dir):
    ds = hg.datasets.load("adbench/29_Pima", data_dir=data_dir, download=False)
    assert ds.x_train.shape[1] == 8 and len(ds.x_train) + len(ds.x_test) == 768
    assert len(ds.x_test) == round(768 * 0.3) or abs(len(ds.x_test) - 768 * 0.3) < 1
    assert set(np.unique(ds.y_train)) == {0, 1}
    assert abs(ds.y_train.mean() - ds.y_test.mean()) < 0.02  # stratified
    assert "adbench/29_Pima" in hg.datasets.list_datasets()


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(hg.DatasetNotFoundError, match="unknown data set"):
        hg.datasets.load("cifar-1000")
    with pytest.raises(hg.DatasetNotFoundError, match="unknown ADBench set"):
        hg.datasets.load("adbench/nope")


def _write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_truncated_idx_file_names_the_file(tmp_path, data_dir):
    good = gzip.decompress((data_dir / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    cut = _write(tmp_path / "labels.gz", gzip.compress(good[:5000]))
    with pytest.raises(hg.DataFileError, match=r"labels\.gz.*truncated"):
        read_idx(cut)
    half_gzip = _write(
        tmp_path / "half.gz", (data_dir / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()[:2000]
    )
    with pytest.raises(hg.DataFileError, match=r"half\.gz"):
        read_idx(half_gzip)
    with pytest.raises(hg.DataFileError, match="bad magic"):
        read_idx(_write(tmp_path / "junk", b"\x07\x07\x08\x01" + b"\0" * 10))
    with pytest.raises(hg.DataFileError, match="shape"):
        read_idx(_write(tmp_path / "ok.gz", gzip.compress(good)), expected_shape=(60000,))


def test_corrupt_file_in_data_dir_is_reported_by_load(tmp_path, data_dir, monkeypatch):
    monkeypatch.delenv("HOURGLASS_DATA_DIR")
    src = data_dir / "fashion-mnist"
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        _write(tmp_path / "fashion-mnist" / name, (src / name).read_bytes())
    _write(
        tmp_path / "fashion-mnist" / "t10k-images-idx3-ubyte.gz",
        (src / "t10k-images-idx3-ubyte.gz").read_bytes()[:100000],
    )
    with pytest.raises(hg.DataFileError, match="t10k-images-idx3-ubyte.gz"):
        hg.datasets.load("fashion-mnist", data_dir=tmp_path, download=False)


def test_missing_files_without_download(tmp_path, monkeypatch):
    monkeypatch.delenv("HOURGLASS_DATA_DIR")
    with pytest.raises(hg.DatasetNotFoundError, match="download=False"):
        hg.datasets.load("mnist", data_dir=tmp_path, cache_dir=tmp_path / "cache", download=False)


@pytest.fixture
def http_server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/www; stopped after the test."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_download_verifies_and_caches(http_server, tmp_path, data_dir, monkeypatch):
    monkeypatch.delenv("HOURGLASS_DATA_DIR")
    root, url = http_server
    payload = (data_dir / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (root / "labels.gz").write_bytes(payload)
    res = Resource("labels.gz", url + "labels.gz", hashlib.sha256(payload).hexdigest())
    cache = tmp_path / "cache"
    path = fetch("demo", res, cache=cache)
    assert path == cache / "demo" / "labels.gz" and path.read_bytes() == payload
    assert read_idx(path).shape == (10000,)
    (root / "labels.gz").unlink()  # the second call must come from the cache
    assert fetch("demo", res, cache=cache) == path


def test_download_checksum_mismatch_is_rejected(http_server, tmp_path, monkeypatch):
    monkeypatch.delenv("HOURGLASS_DATA_DIR")
    root, url = http_server
    (root / "labels.gz").write_bytes(b"not the file you pinned")
    res = Resource("labels.gz", url + "labels.gz", "0" * 64)
    with pytest.raises(hg.ChecksumError, match="does not match its pinned sha256"):
        fetch("demo", res, cache=tmp_path / "cache")
    assert not (tmp_path / "cache" / "demo" / "labels.gz").exists()


def test_dataset_download_from_mirror_checks_official_hashes(http_server, tmp_path, data_dir, monkeypatch):
    """The shared MNIST files are re-compressed (same pixels, other gzip bytes): served as a mirror,
    they must fail the pinned sha256 of the official files instead of being used silently."""
    monkeypatch.delenv("HOURGLASS_DATA_DIR")
    root, url = http_server
    for f in (data_dir / "mnist").iterdir():
        (root / f.name).write_bytes(f.read_bytes())
    with pytest.raises(hg.ChecksumError):
        hg.datasets.load("mnist", data_dir=tmp_path / "empty", cache_dir=tmp_path / "cache", base_url=url)


def test_unreachable_server_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("HOURGLASS_DATA_DIR")
    res = Resource("x.gz", "http://127.0.0.1:9/x.gz", "0" * 64)  # port 9: nothing listens
    with pytest.raises(hg.DatasetNotFoundError, match="could not be downloaded"):
        fetch("demo", res, cache=tmp_path / "cache")


def test_npz_loader_never_unpickles(tmp_path, monkeypatch):
    folder = tmp_path / "adbench"
    folder.mkdir()
    np.savez(folder / "evil.npz", X=np.array([object()] * 4, dtype=object), y=np.zeros(4))
    np.savez(folder / "bad_y.npz", X=np.ones((4, 2)), y=np.array([0, 2, 1, 0]))
    (folder / "junk.npz").write_bytes(b"PK\x03\x04 definitely not a zip")
    monkeypatch.setenv("HOURGLASS_DATA_DIR", str(tmp_path))
    with pytest.raises(hg.DataFileError, match="evil.npz"):
        hg.datasets.load("adbench/evil")
    with pytest.raises(hg.DataFileError, match="0 \\(normal\\) and 1"):
        hg.datasets.load("adbench/bad_y")
    with pytest.raises(hg.DataFileError, match="junk.npz"):
        hg.datasets.load("adbench/junk")


def test_one_vs_rest_split(data_dir):
    ds = hg.datasets.load("mnist", data_dir=data_dir, download=False)
    ones = hg.datasets.one_vs_rest(ds, normal=[1])
    # the anomaly-detection article's split: 6742 training ones; 1135 normal vs 8865 anomalous test images
    assert len(ones.x_train) == 6742 and (ones.y_train == 0).all()
    assert int((ones.y_test == 0).sum()) == 1135 and int(ones.y_test.sum()) == 8865
    np.testing.assert_array_equal(ones.is_anomaly(ones.y_test), ones.y_test)
    np.testing.assert_array_equal(ones.x_test[ones.y_test == 0], ds.x_test[ds.y_test == 1])
    two = hg.datasets.one_vs_rest(ds, normal=3)
    assert len(two.x_train) == int((ds.y_train == 3).sum())
    with pytest.raises(hg.InvalidInputError, match="do not occur"):
        hg.datasets.one_vs_rest(ds, normal=[11])
    with pytest.raises(hg.InvalidInputError, match="only one class"):
        hg.datasets.one_vs_rest(ds, normal=list(range(10)))
    with pytest.raises(hg.InvalidInputError, match="integer labels"):
        hg.datasets.one_vs_rest(ds, normal=[])


def test_a_relative_data_dir_means_the_directory_it_was_given_in(tmp_path, monkeypatch, data_dir):
    """HOURGLASS_DATA_DIR=../shared/data keeps pointing at the same folder after a change of directory."""
    from hourglass.datasets.files import search_dirs

    monkeypatch.chdir(data_dir / "mnist")
    monkeypatch.setenv("HOURGLASS_DATA_DIR", f"../../{data_dir.name}")
    assert [d.resolve() for d in search_dirs()] == [data_dir.resolve()]
    monkeypatch.chdir(tmp_path)  # a notebook, a guide or a test running elsewhere
    assert [d.resolve() for d in search_dirs()] == [data_dir.resolve()]
    ds = hg.datasets.load("mnist", download=False)
    assert ds.x_train.shape == (60000, 1, 28, 28)
