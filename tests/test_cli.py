"""The command line, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys

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
