"""How objects show themselves in notebooks and as tables, and that plotting leaves pyplot alone."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import hourglass as hg
from hourglass.display import line_plot


@pytest.fixture(scope="module")
def fitted():
    ds = hg.datasets.load("ecg5000", split="tutorial")
    normal = ds.x_train[ds.y_train == 1][:600]
    model = hg.create_model("stacked", input_shape=(140,), hidden=(32,), latent_dim=8, seed=0)
    history = hg.fit(model, normal, epochs=12, batch_size=128, validation=ds.x_test[:200], progress=False)
    det = hg.Detector(model, score="mae", feature_names=[f"t{i}" for i in range(140)]).fit(normal)
    return ds, history, det


def test_history_as_a_frame_and_inline(fitted):
    _, history, _ = fitted
    frame = history.to_frame()
    assert list(frame.columns) == ["train_loss", "val_loss", "seconds"] and frame.index.name == "epoch"
    assert frame.index[0] == 1 and len(frame) == history.epochs
    np.testing.assert_allclose(frame["val_loss"], history.val_loss)
    html = history._repr_html_()
    assert f"{history.epochs} epochs" in html and "<svg" in html and html.count("<polyline") == 2
    assert "..." in html  # 12 epochs: the first and last five shown


def test_ensemble_history_frame_has_its_members():
    rng = np.random.default_rng(0)
    est = hg.AutoencoderDetector(n_models=3, epochs=4, random_state=0).fit(rng.normal(size=(300, 6)))
    frame = est.history_.to_frame()
    assert {"member0_train_loss", "member2_val_loss"} <= set(frame.columns)


def test_metrics_are_a_dict_that_shows_a_table(fitted):
    ds, _, det = fitted
    metrics = det.evaluate(ds.x_test[:300], ds.is_anomaly(ds.y_test[:300]))
    assert isinstance(metrics, dict) and json.loads(json.dumps(metrics)) == dict(metrics)
    assert "<td>auroc</td>" in metrics._repr_html_()
    assert metrics.to_frame().loc["auroc", "value"] == metrics["auroc"]


def test_explanation_as_a_frame_with_feature_names(fitted):
    ds, _, det = fitted
    e = det.explain(ds.x_test[:4], top=3)
    frame = e.to_frame()
    assert frame.index.names == ["sample", "rank"] and len(frame) == 12
    assert frame.loc[(0, 1), "element"] == e.names[0, 0] and frame.loc[(0, 1), "element"].startswith("t")
    np.testing.assert_allclose(frame["share"].to_numpy(), e.shares.ravel())
    assert e.to_frame(index=[10, 11, 12, 13]).index.get_level_values("sample")[0] == 10
    assert "Explanation of 4 samples" in e._repr_html_()


def test_detectors_show_what_they_are(fitted):
    _, _, det = fitted
    html = det._repr_html_()
    assert "stacked" in html and "(140,)" in html and "t0, t1" in html
    assert "not fitted" in hg.Detector(det.model)._repr_html_()


def test_report_path_is_a_path_that_shows_the_report(fitted, tmp_path):
    ds, history, det = fitted
    path = hg.report(det, ds.x_test[:100], ds.is_anomaly(ds.y_test[:100]), out=tmp_path, history=history)
    assert path == tmp_path / "report.html" and path.read_text().startswith("<!DOCTYPE html>")
    assert path._repr_html_().count("<iframe srcdoc=") == 1


def test_line_plot_leaves_gaps_for_non_finite_values():
    svg = line_plot({"a": [1.0, math.nan, 3.0, 2.0], "b": [math.inf]})
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 1
    assert line_plot({"a": [math.nan]}) == ""


def test_reports_and_figures_never_touch_pyplot_or_the_backend(tmp_path):
    code = (
        "import sys, matplotlib, hourglass as hg\n"
        "from hourglass.reports import figures\n"
        "ds = hg.datasets.load('ecg5000', split='tutorial')\n"
        "m = hg.create_model('stacked', input_shape=(140,), seed=0)\n"
        "h = hg.fit(m, ds.x_train[:200], epochs=2, progress=False)\n"
        "det = hg.Detector(m).fit(ds.x_train[:200])\n"
        f"hg.report(det, ds.x_test[:60], ds.is_anomaly(ds.y_test[:60]), out={str(tmp_path)!r}, history=h)\n"
        "png = figures.loss_curves(h)._repr_png_()\n"
        "print(matplotlib.rcParams['backend'], 'matplotlib.pyplot' in sys.modules, png[:4] == b'\\x89PNG')\n"
    )
    env = {**os.environ, "MPLBACKEND": "svg"}  # the user's choice, which hourglass must keep
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["svg", "False", "True"], out.stdout + out.stderr
