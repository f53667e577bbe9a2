"""The package as users install and run it: metadata, entry points, import cost, exit codes, JSON."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import hourglass as hg
from hourglass.atomic import read_json, strict_json
from hourglass.cli import main
from hourglass.version import DISTRIBUTION

ROOT = Path(__file__).resolve().parent.parent


def _strict_loads(text: str):
    """json.loads that refuses NaN / Infinity, as JavaScript's JSON.parse and jq do."""

    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_metadata_license_and_version_in_one_place():
    meta = metadata.metadata(DISTRIBUTION)
    assert meta["Name"] == DISTRIBUTION == "hourglass-ae"  # "hourglass" on PyPI is an rq scheduler
    assert meta["Version"] == hg.__version__
    assert meta["License-Expression"] == "MIT"
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert (Path(hg.__file__).parent / "py.typed").is_file()
    assert "## [0.1.0]" in (ROOT / "CHANGELOG.md").read_text()


def test_import_leaves_scikit_learn_matplotlib_and_pandas_for_later():
    code = (
        "import sys, hourglass as hg\n"
        "heavy = [m for m in ('sklearn', 'matplotlib', 'pandas', 'scipy', 'onnx', 'pyarrow') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
        "hg.AutoencoderDetector\n"
        "print('sklearn' in sys.modules)\n"
        "print(hg.estimators.tabular_architecture is not None)\n"  # the submodule, as in 0.1.0
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "", f"import hourglass loaded {out[0]}"
    assert out[1] == "True"  # the estimator is there on first use
    assert out[2] == "True"


def test_python_dash_m_runs_the_command_line():
    out = subprocess.run([sys.executable, "-m", "hourglass", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"hourglass {hg.__version__} (installed as hourglass-ae)"
    out = subprocess.run([sys.executable, "-m", "hourglass", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "Usage: hourglass" in out.stdout and "Exit codes" in out.stdout


def test_exit_codes_are_the_documented_ones(tmp_path):
    runner = CliRunner()
    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "x.csv").write_text("a\n1\n")
    missing = runner.invoke(
        main, ["score", str(tmp_path / "not-a-model"), str(tmp_path / "x.csv"), "--out", str(tmp_path / "s.csv")]
    )
    assert missing.exit_code == 1 and "Traceback" not in missing.output, missing.output
    gone = runner.invoke(
        main, ["score", str(tmp_path / "no-such-folder"), str(tmp_path / "x.csv"), "--out", str(tmp_path / "s.csv")]
    )
    assert gone.exit_code == 2 and "does not exist" in gone.output  # a path click checks: a usage error
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,oops\n")
    bad = runner.invoke(main, ["fit", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "r")])
    assert bad.exit_code == 1 and "column 'b'" in bad.output
    assert runner.invoke(main, ["fit", "--no-such-option"]).exit_code == 2
    assert runner.invoke(main, ["no-such-command"]).exit_code == 2
    assert runner.invoke(main, ["demo", "--epochs", "zero"]).exit_code == 2


def test_the_code_passes_the_linter_and_the_formatter():
    """ruff, pinned in the test extra so that every machine formats alike (pyproject.toml's [tool.ruff])."""
    for args in (["check", "."], ["format", "--check", "."]):
        out = subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)
        assert out.returncode == 0, f"ruff {' '.join(args)}:\n{out.stdout}{out.stderr}"


def test_strict_json_notes_and_restores_non_finite_values():
    payload = {"a": [1.0, math.nan, {"b/c": math.inf}], "x": np.float32(-np.inf), "ok": 2}
    text = strict_json(payload)
    parsed = _strict_loads(text)
    assert parsed["a"][1] is None and parsed["nonfinite"] == {"/a/1": "nan", "/a/2/b~1c": "inf", "/x": "-inf"}
    back = read_json(text)
    assert math.isnan(back["a"][1]) and back["a"][2]["b/c"] == math.inf and back["x"] == -math.inf
    assert "nonfinite" not in back and back["ok"] == 2
    assert read_json('{"v": NaN}')["v"] != read_json('{"v": NaN}')["v"]  # old files with NaN literals still read


def test_saved_folders_are_strict_json_and_load_back_non_finite_history(tmp_path, ecg):
    model = hg.create_model("stacked", input_shape=(140,), hidden=(16,), latent_dim=4, seed=0)
    history = hg.fit(model, ecg.x_train[:200], epochs=2, batch_size=64, progress=False)
    history.val_loss = [math.nan, math.inf]  # what a run without usable validation rows may hold
    hg.save(model, tmp_path / "m", history=history)
    _strict_loads((tmp_path / "m" / "hourglass.json").read_text())
    loaded = hg.load(tmp_path / "m")
    assert math.isnan(loaded.history_.val_loss[0]) and loaded.history_.val_loss[1] == math.inf
    np.testing.assert_array_equal(hg.reconstruct(loaded, ecg.x_test[:50]), hg.reconstruct(model, ecg.x_test[:50]))


def test_cli_metrics_are_strict_json(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    lines = ["a,b,c,d,y"] + [",".join(f"{v:.5f}" for v in row) + ",0" for row in x]  # one class only: AUROC undefined
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(
        main,
        [
            "fit",
            str(tmp_path / "t.csv"),
            "--label-column",
            "y",
            "--normal-label",
            "0",
            "--out",
            str(tmp_path / "run"),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    _strict_loads((tmp_path / "run" / "metrics.json").read_text())


@pytest.fixture(scope="module")
def ecg():
    return hg.datasets.load("ecg5000", split="tutorial")


def test_the_unrelated_hourglass_distribution_in_the_same_folder_is_named(tmp_path):
    """PyPI's "hourglass" (a scheduler for rq) installs hourglass/schedule.py, clock.py, job.py beside
    our files; import hourglass then warns with the repair command."""
    from hourglass.version import check_no_name_clash

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_no_name_clash()  # this installation: no clash
        check_no_name_clash(tmp_path)
    (tmp_path / "schedule.py").write_text("")
    with pytest.warns(RuntimeWarning, match="pip uninstall -y hourglass hourglass-ae && pip install hourglass-ae"):
        check_no_name_clash(tmp_path)
