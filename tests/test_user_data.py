"""The user's own files: CSV, .npy / .npz and image folders, built from real data sets."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import hourglass as hg


@pytest.fixture(scope="session")
def pima(data_dir):
    return hg.datasets.load("adbench/29_Pima", data_dir=data_dir, download=False, seed=0)


def write_csv(path, rows, header=None, sep=","):
    lines = [sep.join(header)] if header else []
    lines += [sep.join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_with_header_and_label_column(tmp_path, pima):
    names = [f"f{i}" for i in range(pima.x_train.shape[1])]
    rows = [list(x) + [int(y)] for x, y in zip(pima.x_train[:50], pima.y_train[:50])]
    path = write_csv(tmp_path / "pima.csv", rows, names + ["y"])
    t = hg.datasets.read_table(path, label_column="y")
    np.testing.assert_allclose(t.x, pima.x_train[:50], rtol=1e-6)
    np.testing.assert_array_equal(t.y, pima.y_train[:50])
    assert t.feature_names == names and t.label_name == "y"
    # by index, semicolons, no header
    path2 = write_csv(tmp_path / "pima2.csv", rows, sep=";")
    t2 = hg.datasets.read_csv(path2, label_column=-1)
    np.testing.assert_allclose(t2.x, t.x) and np.testing.assert_array_equal(t2.y, t.y)
    assert t2.feature_names[0] == "x0"
    # columns chosen by name, in another order, ignoring a text column
    path3 = write_csv(tmp_path / "pima3.csv", [["note"] + r for r in rows], ["comment"] + names + ["y"])
    t3 = hg.datasets.read_csv(path3, columns=names[::-1])
    np.testing.assert_allclose(t3.x, t.x[:, ::-1])
    # a file without a header is read in order when it holds exactly the expected features
    t4 = hg.datasets.read_csv(path2, label_column=-1, columns=names)
    np.testing.assert_allclose(t4.x, t.x)
    assert t4.feature_names == names
    with pytest.raises(hg.InvalidInputError, match="9 feature columns are not the 8 expected"):
        hg.datasets.read_csv(path2, columns=names)


@pytest.mark.parametrize(
    "body, match",
    [
        ("a,b\n1,2\n3,abc\n", r"line 3, column 'b': 'abc' is not a number"),
        ("a,b\n1,2\n,4\n", r"line 3, column 'a': an empty cell"),
        ("a,b\n1,2\n3,4,5\n", r"line 3 has 3 cells but the header has 2"),
        ("a,b\n", r"a header but no data rows"),
        ("", r"empty"),
    ],
)
def test_bad_csv_cells_are_named(tmp_path, body, match):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(hg.DataFileError, match=match):
        hg.datasets.read_csv(path)


def test_csv_label_and_file_errors(tmp_path):
    path = write_csv(tmp_path / "t.csv", [[1, 2, 0]], ["a", "b", "y"])
    with pytest.raises(hg.InvalidInputError, match="no column named 'label'"):
        hg.datasets.read_csv(path, label_column="label")
    with pytest.raises(hg.InvalidInputError, match=r"missing column\(s\) \['c'\]"):
        hg.datasets.read_csv(path, columns=["a", "c"])
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(hg.DataFileError, match="not a UTF-8 text file"):
        hg.datasets.read_csv(tmp_path / "bin.csv")
    with pytest.raises(hg.DataFileError, match="no such file"):
        hg.datasets.read_csv(tmp_path / "nope.csv")
    with pytest.raises(hg.InvalidInputError, match="unsupported file type"):
        hg.datasets.read_table(tmp_path / "data.xlsx")


def test_npy_and_npz(tmp_path, pima):
    np.save(tmp_path / "x.npy", pima.x_train)
    np.testing.assert_array_equal(hg.datasets.read_table(tmp_path / "x.npy").x, pima.x_train)
    np.savez(tmp_path / "xy.npz", X=pima.x_train, y=pima.y_train)
    t = hg.datasets.read_table(tmp_path / "xy.npz")
    np.testing.assert_array_equal(t.x, pima.x_train)
    np.testing.assert_array_equal(t.y, pima.y_train)
    # truncated, pickled, wrong key
    data = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(hg.DataFileError, match="cut.npy: corrupt or truncated"):
        hg.datasets.read_table(tmp_path / "cut.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(hg.DataFileError, match="pickled"):
        hg.datasets.read_table(tmp_path / "obj.npy")
    with pytest.raises(hg.DataFileError, match="no array 'Z'"):
        hg.datasets.read_npz(tmp_path / "xy.npz", x_key="Z")
    data = (tmp_path / "xy.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 3])
    with pytest.raises(hg.DataFileError, match="cut.npz"):
        hg.datasets.read_table(tmp_path / "cut.npz")


def test_image_folder_grayscale_rgb_resize_and_classes(tmp_path, fashion_small):
    images = (fashion_small[0][:6, 0] * 255).round().astype(np.uint8)
    for i, img in enumerate(images):
        sub = tmp_path / ("shirts" if i % 2 else "shoes")
        sub.mkdir(exist_ok=True)
        Image.fromarray(img).save(sub / f"{i}.png")
    folder = hg.datasets.read_image_folder(tmp_path)
    assert folder.x.shape == (6, 1, 28, 28) and folder.x.dtype == np.float32
    assert folder.class_names == ["shirts", "shoes"]
    order = [int(f.rsplit("/", 1)[1].split(".")[0]) for f in folder.files]
    np.testing.assert_allclose(folder.x[:, 0], images[order] / 255.0, atol=1e-6)
    np.testing.assert_array_equal(folder.y, [0 if i % 2 else 1 for i in order])
    rgb = hg.datasets.read_image_folder(tmp_path, size=(14, 14), color="rgb")
    assert rgb.x.shape == (6, 3, 14, 14)


def test_unreadable_images_are_named(tmp_path, fashion_small):
    Image.fromarray((fashion_small[0][0, 0] * 255).astype(np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(hg.DataFileError, match="broken.png"):
        hg.datasets.read_image_folder(tmp_path)
    with pytest.warns(UserWarning, match="broken.png"):
        folder = hg.datasets.read_image_folder(tmp_path, skip_unreadable=True)
    assert len(folder.x) == 1
    (tmp_path / "empty").mkdir()
    with pytest.raises(hg.DataFileError, match="no image files"):
        hg.datasets.read_image_folder(tmp_path / "empty")
