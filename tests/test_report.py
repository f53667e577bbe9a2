"""hg.report: one self-contained HTML page, checked for content and rendered in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil

import pytest

import hourglass as hg

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def reports(tmp_path_factory, ecg_detector, ecg, fashion, data_dir):
    """Reports over the three kinds of data: ECG signals, images (a denoiser and a detector), a table."""
    out = {}
    det, history = ecg_detector
    out["ecg"] = hg.report(
        det,
        ecg.x_test,
        ecg.is_anomaly(ecg.y_test),
        out=tmp_path_factory.mktemp("ecg"),
        history=history,
        title="ECG5000 <detector>",
    )

    model = hg.create_model("conv", input_shape=(1, 28, 28), latent_dim=16, seed=0)
    noise = hg.GaussianNoise(0.3, clip=(0, 1))
    history = hg.fit(model, fashion.x_train[:1024], corruption=noise, epochs=2, batch_size=128, seed=0, progress=False)
    out["denoiser"] = hg.report(
        model,
        fashion.x_test[:300],
        out=tmp_path_factory.mktemp("denoiser"),
        history=history,
        class_labels=fashion.y_test[:300],
        class_names=fashion.class_names,
    )
    shirts = hg.Detector(model, score="mae").fit(fashion.x_train[:1024])
    out["images"] = hg.report(
        shirts,
        fashion.x_test[:300],
        (fashion.y_test[:300] == 9).astype(int),
        out=tmp_path_factory.mktemp("images"),
        class_labels=fashion.y_test[:300],
        class_names=fashion.class_names,
    )

    table = hg.datasets.load("adbench/4_breastw", data_dir=data_dir, download=False)
    est = hg.AutoencoderDetector(n_models=2, epochs=3, random_state=0).fit(table.x_train)
    out["table"] = hg.report(est, table.x_test, table.y_test, out=tmp_path_factory.mktemp("table"))
    return out


def _sections(page: str) -> list[str]:
    return re.findall(r'<section id="([a-z]+)">', page)


def test_report_holds_what_fits_the_model_and_data(reports, ecg_detector):
    ecg = reports["ecg"].read_text()
    assert _sections(ecg) == [
        "overview",
        "detection",
        "training",
        "reconstructions",
        "anomalies",
        "latent",
        "configuration",
    ]
    det, history = ecg_detector
    assert "ECG5000 &lt;detector&gt;" in ecg  # text is escaped
    assert f"{det.threshold_:.4g}" in ecg and "MeanStd(k=1.0)" in ecg and '"latent_dim": 8' in ecg
    for caption in ("ROC curve", "Precision-recall curve", "Training and validation loss", "shaded band"):
        assert caption in ecg
    denoiser = reports["denoiser"].read_text()
    assert "noisy input" not in denoiser  # (row labels live inside the PNG; the caption says it)
    assert "the training corruption applied" in denoiser and "detection" not in _sections(denoiser)
    assert "errors" in _sections(denoiser)
    images = reports["images"].read_text()
    assert {"anomalies", "latent"} <= set(_sections(images)) and "Per-pixel error" in images
    table = reports["table"].read_text()
    assert "largest errors" in table and "reconstructions" not in _sections(table)


def test_report_is_self_contained(reports):
    for path in reports.values():
        page = path.read_text()
        sources = re.findall(r'(?:src|href)="([^"]*)"', page)
        assert sources and all(s.startswith(("data:image/png;base64,", "#")) for s in sources)
        assert "http://" not in page and "https://" not in page and "<script" not in page
        assert not [p for p in path.parent.iterdir() if p.name != "report.html"]  # no stray temp file


def test_report_rejects_bad_input(ecg_detector, ecg, tmp_path):
    det, _ = ecg_detector
    with pytest.raises(hg.InvalidInputError, match="y_test has 3 labels for 10 samples"):
        hg.report(det, ecg.x_test[:10], [0, 1, 0], out=tmp_path)
    with pytest.raises(hg.InvalidInputError, match="1 for anomalies and 0 for normal"):
        hg.report(det, ecg.x_test[:10], ecg.y_test[:10] + 1, out=tmp_path)
    with pytest.raises(hg.InvalidInputError, match="empty"):
        hg.report(det, ecg.x_test[:0], out=tmp_path)
    with pytest.raises(hg.InvalidInputError, match=r"expects samples of shape \(140,\)"):
        hg.report(det, ecg.x_test[:10, :100], out=tmp_path)
    with pytest.raises(hg.NotFittedError):
        hg.report(hg.Detector(det.model), ecg.x_test[:10], out=tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason="Chromium and chromedriver are not installed")
def test_report_renders_in_headless_chromium(reports, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager look for a driver online
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        for name, path in reports.items():
            driver.get(path.resolve().as_uri())
            images = driver.execute_script(
                "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight]);"
            )
            expected = path.read_text().count("<img ")
            assert len(images) == expected > 0, name
            assert all(done and w > 100 and h > 100 for done, w, h in images), (name, images)
            # nothing was fetched: every image is inline
            fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name);")
            assert [u for u in fetched if not u.startswith("data:")] == [], name
            assert driver.title and "hourglass" in driver.find_element("css selector", "p.sub").text
    finally:
        driver.quit()
