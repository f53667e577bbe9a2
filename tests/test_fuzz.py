"""Property-based fuzzing of every loader: any byte string either loads into well-formed arrays
or raises the library's own error (an hg.HourglassError), never another exception, a hang, or
code execution (nothing is unpickled: a pickle payload must be refused, not run)."""

from __future__ import annotations

import gzip
import io
import json
import pickle
import shutil
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import hourglass as hg
from hourglass.datasets.idx import read_idx

FUZZ = settings(
    max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=True
)


class Exploded(Exception):
    """Raised by the pickle payload below if anything ever unpickles it."""


class _Bomb:
    def __reduce__(self):
        return (Exploded, ("a loader executed code from a data file",))


PICKLE = pickle.dumps(_Bomb())


def _mutations(seed: bytes):
    """Bytes near a valid file: truncations, bit flips, spliced junk. Finds more than random bytes,
    which rarely get past the first magic-number check."""
    return st.one_of(
        st.binary(max_size=2048),
        st.integers(0, len(seed)).map(lambda n: seed[:n]),
        st.tuples(st.integers(0, max(0, len(seed) - 1)), st.integers(1, 255)).map(
            lambda t: seed[: t[0]] + bytes([seed[t[0]] ^ t[1]]) + seed[t[0] + 1 :] if seed else seed
        ),
        st.tuples(st.integers(0, len(seed)), st.binary(min_size=1, max_size=64)).map(
            lambda t: seed[: t[0]] + t[1] + seed[t[0] :]
        ),
    )


def _idx_bytes(arr: np.ndarray) -> bytes:
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[arr.dtype]
    header = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return gzip.compress(header + arr.tobytes())


def _check_loaded(x) -> None:
    assert isinstance(x, np.ndarray) and x.size >= 0


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _npy_bytes(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


VALID_IDX = _idx_bytes(np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3))
VALID_CSV = b"a,b,label\n1,2,0\n3.5,-4,1\n"
VALID_NPY = _npy_bytes(np.arange(12, dtype=np.float32).reshape(4, 3))
VALID_NPZ = _npz_bytes(X=np.arange(12, dtype=np.float32).reshape(4, 3), y=np.array([0, 1, 0, 1]))


@FUZZ
@given(_mutations(VALID_IDX))
@example(gzip.compress(PICKLE))
def test_idx_reader(tmp_path, data):
    path = tmp_path / "f-idx3-ubyte.gz"
    path.write_bytes(data)
    try:
        _check_loaded(read_idx(path))
    except hg.HourglassError:
        pass


TABLES = {"data.csv": VALID_CSV, "data.npy": VALID_NPY, "data.npz": VALID_NPZ}
UTF16_CSV = b"\xff\xfe" + "a,b\n1,2\n".encode("utf-16-le")


@pytest.mark.parametrize("name", sorted(TABLES))
@FUZZ
@given(data=st.data())
def test_table_readers(tmp_path, name, data):
    raw = data.draw(st.one_of(_mutations(TABLES[name]), st.sampled_from([PICKLE, UTF16_CSV, b""])), label="bytes")
    path = tmp_path / name
    path.write_bytes(raw)
    try:
        table = hg.datasets.read_table(path)
        assert table.x.dtype == np.float32 and table.x.ndim >= 2 and len(table.x) > 0
    except hg.HourglassError:
        pass


def test_object_arrays_are_refused_not_unpickled(tmp_path):
    """An .npy / .npz holding a pickled object array (np.save with allow_pickle) must not run it."""
    bomb = np.empty(1, dtype=object)
    bomb[0] = _Bomb()
    np.save(tmp_path / "bomb.npy", bomb, allow_pickle=True)
    np.savez(tmp_path / "bomb.npz", X=bomb)
    for name in ("bomb.npy", "bomb.npz"):
        with pytest.raises(hg.DataFileError):
            hg.datasets.read_table(tmp_path / name)


def _png_bytes() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(buf, format="PNG")
    return buf.getvalue()


VALID_PNG = _png_bytes()


@FUZZ
@given(_mutations(VALID_PNG), st.sampled_from(["a.png", "b.jpg", "c.bmp", "d.gif"]))
def test_image_folder_reader(tmp_path, data, name):
    folder = tmp_path / "images"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "cls").mkdir(parents=True)
    (folder / "cls" / "ok.png").write_bytes(VALID_PNG)
    (folder / "cls" / name).write_bytes(data)
    try:
        out = hg.datasets.read_image_folder(folder, size=(8, 8))
        assert out.x.shape[1:] == (1, 8, 8) and np.isfinite(out.x).all()
        assert 0 <= out.x.min() and out.x.max() <= 1
    except hg.HourglassError:
        pass


@pytest.fixture(scope="module")
def saved_detector(tmp_path_factory, ecg):
    folder = tmp_path_factory.mktemp("saved") / "det"
    model = hg.create_model("stacked", input_shape=(140,), hidden=(8,), latent_dim=4, seed=0)
    hg.fit(model, ecg.x_train[:200], epochs=1, progress=False)
    hg.save(hg.Detector(model, scaler=hg.MinMaxScaler()).fit(ecg.x_train[:200]), folder)
    return folder


@FUZZ
@given(st.data())
def test_model_folder_loader(tmp_path, saved_detector, data):
    names = sorted(p.name for p in saved_detector.iterdir())
    victim = data.draw(st.sampled_from(names), label="file")
    folder = tmp_path / "det"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(saved_detector, folder)
    original = (saved_detector / victim).read_bytes()
    if victim.endswith(".json"):
        # structured mutations of the JSON as well as byte-level ones
        meta = json.loads(original)
        key = data.draw(st.sampled_from(sorted(meta)), label="key")
        value = data.draw(
            st.one_of(
                st.none(),
                st.integers(),
                st.text(max_size=5),
                st.lists(st.integers(), max_size=3),
                st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
            ),
            label="value",
        )
        mutated = (
            json.dumps({**meta, key: value}).encode()
            if data.draw(st.booleans())
            else data.draw(_mutations(original), label="bytes")
        )
    else:
        mutated = data.draw(_mutations(original), label="bytes")
    (folder / victim).write_bytes(mutated)
    try:
        loaded = hg.load(folder)
        scores = loaded.score_samples(np.zeros((2, 140), np.float32)) if isinstance(loaded, hg.Detector) else None
        assert scores is None or scores.shape == (2,)
    except hg.HourglassError:
        pass


@FUZZ
@given(st.data())
def test_flipped_bytes_are_refused_or_change_nothing(tmp_path, saved_detector, data):
    """Issue 43: one flipped byte anywhere in a saved folder (weights, fitted arrays, description)
    is refused by the checksums, or leaves the scores exactly as they were (whitespace in the JSON)."""
    x = np.linspace(-1, 1, 2 * 140, dtype=np.float32).reshape(2, 140)
    expected = hg.load(saved_detector).score_samples(x)
    victim = data.draw(st.sampled_from(sorted(p.name for p in saved_detector.iterdir())), label="file")
    folder = tmp_path / "flipped"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(saved_detector, folder)
    original = (saved_detector / victim).read_bytes()
    at = data.draw(st.integers(0, len(original) - 1), label="at")
    bit = data.draw(st.integers(0, 7), label="bit")
    (folder / victim).write_bytes(original[:at] + bytes([original[at] ^ (1 << bit)]) + original[at + 1 :])
    try:
        loaded = hg.load(folder)
    except hg.HourglassError:
        return
    np.testing.assert_array_equal(loaded.score_samples(x), expected)


def test_zip_bomb_like_npz_is_not_read_whole(tmp_path):
    """A zip entry claiming a huge array fails on its header, without allocating it."""
    path = tmp_path / "big.npz"
    header = b"\x93NUMPY\x01\x00" + b"{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 10), }"
    header += b" " * (118 - len(header)) + b"\n"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("X.npy", header + b"\x00" * 16)
    with pytest.raises(hg.DataFileError):
        hg.datasets.read_table(path)
