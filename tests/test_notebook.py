"""The example notebook, executed end to end in a real Jupyter kernel (nbclient + ipykernel), as a
user would run it; the assertions read the outputs the notebook shows."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "hourglass-in-a-notebook.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    workdir = tmp_path_factory.mktemp("notebook")
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}).execute()
    return nb, workdir


def outputs(nb, source_start: str) -> list[dict]:
    cells = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(source_start)]
    assert len(cells) == 1, source_start
    return cells[0].outputs


def shown(outs, mime: str) -> str:
    return "".join(o.get("data", {}).get(mime, "") for o in outs if o.output_type in ("execute_result", "display_data"))


def printed(outs) -> str:
    return "".join(o.get("text", "") for o in outs if o.output_type == "stream")


def test_the_detector_part_shows_history_detector_metrics_and_explanations(executed):
    nb, workdir = executed
    assert "History" in shown(outputs(nb, "ds = hg.datasets.load"), "text/html")
    assert "<svg" in shown(outputs(nb, "ds = hg.datasets.load"), "text/html")  # the loss curve
    frame = shown(outputs(nb, "history.to_frame()"), "text/html")
    assert "train_loss" in frame and "val_loss" in frame
    detector = shown(outputs(nb, "det = hg.Detector"), "text/html")
    assert "stacked" in detector and "MeanStd" in detector
    metrics_cell = outputs(nb, "metrics = det.evaluate")
    auroc = float(re.search(r"AUROC (\d\.\d+)", printed(metrics_cell)).group(1))
    assert auroc > 0.9  # the tutorial's detector, 20 epochs
    assert "auroc" in shown(metrics_cell, "text/html")
    assert "Explanation of 3 samples" in shown(outputs(nb, "top = np.argsort"), "text/html")
    png = shown(outputs(nb, "scores = det.score_samples"), "image/png")
    assert len(png) > 5000  # base64 of a rendered histogram
    report = shown(outputs(nb, "hg.report("), "text/html")
    assert "<iframe" in report and "anomaly detector" in report
    assert (workdir / "runs" / "notebook-report" / "report.html").is_file()


def test_the_denoiser_and_the_codes_render_inline(executed):
    nb, _ = executed
    denoise = outputs(nb, 'fm = hg.datasets.load("fashion-mnist")')
    noisy, denoised = map(float, re.search(r"noisy (\d\.\d+), denoised (\d\.\d+)", printed(denoise)).groups())
    assert denoised < noisy
    assert len(shown(denoise, "image/png")) > 5000
    codes = outputs(nb, "dense = hg.create_model")
    assert "codes (1000, 32)" in printed(codes) and len(shown(codes, "image/png")) > 5000


def test_hourglass_leaves_the_notebook_backend_alone(executed):
    nb, _ = executed
    assert "backend unchanged: True" in printed(outputs(nb, 'print("backend unchanged:"'))
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
