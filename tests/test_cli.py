"""The command line, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from click.testing import CliRunner

import hourglass as hg
from hourglass.cli import main


def test_demo_trains_reports_and_saves(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "demo"), "--quiet"])
    assert result.exit_code == 0, result.output
    for word in ("accuracy", "precision", "recall", "auroc"):
        assert word in result.output
    report = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    assert report["metrics"]["accuracy"] >= 0.93 and report["metrics"]["auroc"] >= 0.94
    for png in ("loss.png", "error_histogram.png", "reconstructions.png"):
        data = (tmp_path / "demo" / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    det = hg.load(tmp_path / "demo" / "model")
    assert det.threshold_ == report["metrics"]["threshold"]


def test_list_commands():
    runner = CliRunner()
    assert runner.invoke(main, ["list", "models"]).output.split() == hg.list_models()
    out = runner.invoke(main, ["list", "datasets"]).output.split()
    assert {"ecg5000", "fashion-mnist", "mnist"} <= set(out)
    bad = runner.invoke(main, ["list", "gizmos"])
    assert bad.exit_code == 2 and "gizmos" in bad.output


def test_cli_rejects_bad_arguments_without_traceback():
    result = CliRunner().invoke(main, ["demo", "--epochs", "0"])
    assert result.exit_code == 2 and "Traceback" not in result.output and "epochs" in result.output


def test_console_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "hourglass.cli", "--help"], capture_output=True, text=True, check=True)
    assert "demo" in out.stdout and "Examples" in out.stdout


def _table_csv(path, ds, rows=slice(None), with_label=True):
    names = [f"f{i}" for i in range(ds.x_train.shape[1])]
    x, y = ds.x_train[rows], ds.y_train[rows]
    lines = [",".join(names + (["y"] if with_label else []))]
    lines += [",".join([f"{v:.6g}" for v in row] + ([str(int(t))] if with_label else [])) for row, t in zip(x, y)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_fit_and_score_a_users_csv(tmp_path, data_dir):
    ds = hg.datasets.load("adbench/4_breastw", data_dir=data_dir, download=False, seed=0)
    train_csv = _table_csv(tmp_path / "train.csv", ds)
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["fit", str(train_csv), "--label-column", "y", "--out", str(tmp_path / "run"), "--epochs", "30", "--quiet"],
    )
    assert result.exit_code == 0, result.output
    assert "auroc" in result.output
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert report["metrics"]["auroc"] > 0.9 and report["features"] == ds.x_train.shape[1]
    # New rows with the columns in another order plus a text column: matched by name.
    names = [f"f{i}" for i in range(ds.x_test.shape[1])]
    lines = [",".join(["id"] + names[::-1] + ["y"])]
    lines += [
        ",".join([f"row{i}"] + [f"{v:.6g}" for v in row[::-1]] + [str(int(t))])
        for i, (row, t) in enumerate(zip(ds.x_test, ds.y_test))
    ]
    (tmp_path / "new.csv").write_text("\n".join(lines) + "\n")
    result = runner.invoke(
        main,
        [
            "score",
            str(tmp_path / "run"),
            str(tmp_path / "new.csv"),
            "--label-column",
            "y",
            "--out",
            str(tmp_path / "scores.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    table = (tmp_path / "scores.csv").read_text().splitlines()
    assert table[0] == "row,score,is_anomaly,p_value,y" and len(table) == len(ds.x_test) + 1
    est = hg.load(tmp_path / "run" / "model")
    scores = np.array([float(line.split(",")[1]) for line in table[1:]])
    np.testing.assert_allclose(scores, -est.score_samples(ds.x_test), rtol=1e-5)
    flagged = np.array([int(line.split(",")[2]) for line in table[1:]])
    np.testing.assert_array_equal(flagged, est.predict(ds.x_test) == -1)


def test_fit_errors_are_one_line(tmp_path):
    (tmp_path / "bad.csv").write_text("a,b,y\n1,2,0\n3,oops,1\n")
    result = CliRunner().invoke(main, ["fit", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "r")])
    assert result.exit_code != 0
    assert "line 3, column 'b'" in result.output and "Traceback" not in result.output
    (tmp_path / "lab.csv").write_text("a,b,y\n1,2,ok\n3,4,bad\n")
    result = CliRunner().invoke(
        main, ["fit", str(tmp_path / "lab.csv"), "--label-column", "y", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code != 0 and "--normal-label" in result.output


def test_fit_and_score_an_image_folder(tmp_path, fashion_small):
    from PIL import Image

    for split, x in (("train", fashion_small[0][:300]), ("new", fashion_small[1][:20])):
        (tmp_path / split).mkdir()
        for i, img in enumerate(x):
            Image.fromarray((img[0] * 255).round().astype(np.uint8)).save(tmp_path / split / f"{i:03d}.png")
    runner = CliRunner()
    result = runner.invoke(
        main, ["fit", str(tmp_path / "train"), "--out", str(tmp_path / "run"), "--epochs", "2", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "conv" in result.output
    result = runner.invoke(
        main, ["score", str(tmp_path / "run"), str(tmp_path / "new"), "--out", str(tmp_path / "scores.csv")]
    )
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "scores.csv").read_text().splitlines()
    assert lines[0] == "row,score,is_anomaly,p_value,file" and len(lines) == 21


def test_the_command_line_reads_what_the_library_reads(tmp_path, data_dir):
    """A TSB-UAD .out recording (its last column the label), a header-less CSV whose label column
    is given by number, and an IDX file (MNIST's own format)."""
    runner = CliRunner()
    lines = (data_dir / "tsb-uad" / "MBA_ECG805_data.out").read_text().splitlines()[:3000]
    recording = tmp_path / "ecg.out"
    recording.write_text("\n".join(lines) + "\n")
    run = tmp_path / "rec"
    args = ["fit", str(recording), "--steps", "--train-steps", "1000", "--epochs", "2", "--out", str(run), "--quiet"]
    fitted = runner.invoke(main, args)
    assert fitted.exit_code == 0, fitted.output
    assert "1000 steps x 1 channel(s)" in fitted.output and "vus_pr" in fitted.output  # labels found
    scored = runner.invoke(main, ["score", str(run), str(recording), "--out", str(tmp_path / "s.csv"), "--quiet"])
    assert scored.exit_code == 0, scored.output
    assert (tmp_path / "s.csv").read_text().startswith("step,score,is_anomaly,label\n")
    labels = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1)[:, 3]
    np.testing.assert_array_equal(labels, [float(line.split(",")[-1]) for line in lines])

    ds = hg.datasets.load("adbench/4_breastw", data_dir=data_dir, download=False, seed=0)
    plain = tmp_path / "plain.csv"
    rows = np.column_stack([ds.x_train[:, :2], ds.y_train, ds.x_train[:, 2:]])  # the label in column 2
    np.savetxt(plain, rows, delimiter=",", fmt="%.6g")
    result = runner.invoke(main, ["fit", str(plain), "--label-column", "2", "--out", str(tmp_path / "t"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert f"x {ds.x_train.shape[1]} features" in result.output and "auroc" in result.output

    images = hg.datasets.read_idx_table(data_dir / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").x[:256]
    idx = tmp_path / "few-images-idx3-ubyte"
    raw = np.round(images[:, 0] * 255).astype(np.uint8)
    idx.write_bytes(b"\x00\x00\x08\x03" + b"".join(int(d).to_bytes(4, "big") for d in raw.shape) + raw.tobytes())
    result = runner.invoke(main, ["fit", str(idx), "--epochs", "1", "--out", str(tmp_path / "img"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "trained conv on 256 rows" in result.output
