"""Long recordings: the series detector on a slice of the real TSB-UAD ECG recording, streaming,
saving, the period, and the range-aware metrics (against a loop written from the definition)."""

from __future__ import annotations

import numpy as np
import pytest

import hourglass as hg

STEPS, TRAIN = 30_000, 3_000


@pytest.fixture(scope="module")
def ecg_slice():
    rec = hg.datasets.load("tsb-uad/MBA_ECG805")
    return rec.values[:STEPS], rec.labels[:STEPS]


@pytest.fixture(scope="module")
def series_detector(ecg_slice):
    values, _ = ecg_slice
    return hg.SeriesDetector(epochs=8, model_options={"latent_dim": 16}).fit(values[:TRAIN])


def test_period_of_the_real_ecg_and_of_a_sine():
    rec = hg.datasets.load("tsb-uad/MBA_ECG805")
    assert abs(hg.find_period(rec.x_train) - 99) <= 2  # SOURCES.md: a period of about 99 steps
    t = np.arange(3000)
    noisy = np.sin(2 * np.pi * t / 37) + np.random.default_rng(0).normal(0, 0.3, 3000)
    assert hg.find_period(noisy) == 37
    assert hg.find_period(np.random.default_rng(1).normal(size=3000), default=64) in range(3, 401)
    assert hg.find_period(np.arange(10.0), default=11) == 11  # too short for any lag: the default
    with pytest.raises(hg.InvalidInputError, match="NaN"):
        hg.find_period(np.array([1.0, np.nan, 2.0]))


def test_series_detector_finds_the_ecg_anomalies(series_detector, ecg_slice):
    values, labels = ecg_slice
    sd = series_detector
    assert abs(sd.window_ - 99) <= 2 and sd.stride_ == sd.window_ // 10
    scores = sd.score_steps(values)
    assert scores.shape == (STEPS,) and np.isfinite(scores).all()
    m = sd.evaluate(values, labels)
    assert m["auroc"] > 0.9 and m["vus_pr"] > 0.5, m
    flags = sd.predict_steps(values)
    assert set(np.unique(flags)) <= {0, 1} and flags.mean() < 0.2
    events = sd.events(values)
    assert events and all(e.start <= e.peak < e.stop and e.peak_score > sd.threshold_ for e in events)
    assert m["event_recall"] >= 0.7  # most labelled stretches touched by a flagged step
    assert 0 < len(sd.calibration_scores_) and "SeriesDetector" in sd._repr_html_()


def test_stream_gives_the_scores_of_the_whole_recording(series_detector, ecg_slice):
    values = ecg_slice[0][:5_000]
    whole = series_detector.score_steps(values)
    rng = np.random.default_rng(0)
    for sizes in ([5_000], [1] * 150 + [4_850], list(rng.integers(1, 400, 40))):
        stream = series_detector.stream()
        parts, at = [], 0
        for size in sizes:
            parts.append(stream.update(values[at : at + size]))
            at += size
            # bounded memory: the steps later windows need, and the pending steps' sums
            assert len(stream._buf) <= series_detector.window_ + series_detector.stride_ + max(sizes)
            assert len(stream._total) <= series_detector.window_ + max(sizes)
        parts.append(stream.update(values[at:]))
        parts.append(stream.flush())
        got = np.concatenate(parts)
        assert got.shape == whole.shape
        # atol: a training window's residual distance is ~0, where the model's float32 rounding
        # (which depends on the batch) is all there is
        np.testing.assert_allclose(got, whole, rtol=1e-5, atol=1e-5)
    with pytest.raises(hg.InvalidInputError, match="flushed"):
        stream.update(values[:10])
    short = series_detector.stream()
    short.update(values[:10])
    with pytest.raises(hg.InvalidInputError, match="fewer than the window"):
        short.flush()


def test_saved_series_detector_scores_the_same(series_detector, ecg_slice, tmp_path):
    values = ecg_slice[0][:4_000]
    path = hg.save(series_detector, tmp_path / "series")
    loaded = hg.load(path)
    assert isinstance(loaded, hg.SeriesDetector) and loaded.window_ == series_detector.window_
    np.testing.assert_array_equal(loaded.score_steps(values), series_detector.score_steps(values))
    assert loaded.threshold_ == series_detector.threshold_
    np.testing.assert_array_equal(loaded.predict_steps(values), series_detector.predict_steps(values))


def test_onnx_export_scores_windows_like_pytorch(series_detector, ecg_slice, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path = hg.export_onnx(series_detector, tmp_path / "series.onnx", part="scorer")
    wins = hg.windows(ecg_slice[0][:2_000, 0], series_detector.window_, 50)[:, None, :]  # raw (n, 1, window)
    session = ort.InferenceSession(str(path))
    got = session.run(["score", "is_anomaly"], {"x": wins})
    np.testing.assert_allclose(got[0], series_detector.detector_.score_samples(wins), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(got[1].astype(int), series_detector.detector_.predict(wins))


def test_several_channels_a_frame_and_several_recordings():
    pd = pytest.importorskip("pandas")
    t = np.arange(4000)
    rng = np.random.default_rng(0)
    a = np.sin(2 * np.pi * t / 40) + 0.05 * rng.normal(size=4000)
    b = 100 + 20 * np.cos(2 * np.pi * t / 40) + rng.normal(size=4000)  # other units: scaled per channel
    b[3000:3040] = 100  # a flat line in one channel
    frame = pd.DataFrame({"vibration": a, "temperature": b})
    sd = hg.SeriesDetector(epochs=10, threshold=hg.MeanStd(k=3)).fit([frame[:1000], frame[1000:2000]])
    assert sd.n_channels_ == 2 and sd.channel_names == ["vibration", "temperature"]
    assert sd.window_ == 80  # two periods of 40: the fewest that span min_window=48 steps
    assert sd.scale_[1] > 10 * sd.scale_[0]  # robust scale per channel
    scores = sd.score_steps(frame[["temperature", "vibration"]])  # matched by name
    np.testing.assert_array_equal(scores, sd.score_steps(frame.to_numpy()))
    # above every unseen normal step (the two training parts score near 0: their own residuals)
    assert scores[3000:3040].min() > scores[2000:2960].max() and scores[3000:3040].min() > sd.threshold_
    assert isinstance(sd.threshold, hg.MeanStd) and sd.threshold_ > np.median(sd.calibration_scores_)
    with pytest.raises(hg.InvalidInputError, match="lacks the channel column"):
        sd.score_steps(frame[["vibration"]])
    with pytest.raises(hg.InvalidInputError, match="1 channel"):
        sd.score_steps(a)


@pytest.mark.parametrize(
    "kwargs, data, match",
    [
        ({}, np.r_[np.zeros(50), np.nan, np.zeros(949)], "NaN / inf values, first at time step 50 .channel 0."),
        ({}, np.array(["a", "b"]), "must hold numbers"),
        ({}, np.zeros((10, 2, 2)), r"\(time,\) or \(time, channels\)"),
        ({"window": 1}, np.zeros(500), "window must be at least 2"),
        ({"window": 600}, np.zeros(500), "shorter than the window 600"),
        ({"score_by": "max"}, np.zeros(500), "score_by must be"),
        ({"model": "conv"}, np.zeros(500), "model must be one of"),
        ({"trim": 0.7}, np.zeros(500), "trim must lie"),
        ({"min_window": -1}, np.zeros(500), "min_window must be a whole number"),
        ({"min_window": 2.5}, np.zeros(500), "min_window must be a whole number"),
    ],
)
def test_bad_input_is_named(kwargs, data, match):
    with pytest.raises(hg.InvalidInputError, match=match):
        hg.SeriesDetector(epochs=1, **kwargs).fit(data)


def test_a_short_period_gives_a_window_of_whole_periods():
    t = np.arange(4000)  # an hourly cycle sampled every 5 minutes: 12 steps
    signal = np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 0.05, 4000)
    assert hg.SeriesDetector(min_window=0, epochs=1).fit(signal).window_ == 12
    sd = hg.SeriesDetector(min_window=64, epochs=1).fit(signal)
    assert sd.window_ == 72  # six periods: the fewest that span 64 steps
    assert hg.SeriesDetector(window=20, min_window=64, epochs=1).fit(signal).window_ == 20  # a given window stays


def test_unfitted_and_too_short():
    with pytest.raises(hg.NotFittedError):
        hg.SeriesDetector().score_steps(np.zeros(100))
    sd = hg.SeriesDetector(window=20, epochs=1).fit(np.sin(np.arange(400) / 3))
    with pytest.raises(hg.InvalidInputError, match="fewer than the window"):
        sd.score_steps(np.zeros(10))


# -- metrics ----------------------------------------------------------------------------------------
def _vus_by_the_definition(y, scores, window, thresholds=250):
    """VUS-ROC / VUS-PR written as the definition reads, one threshold and one stretch at a time."""
    n = len(y)
    runs = hg.stretches(y)
    levels = -np.sort(-scores)[np.linspace(0, n - 1, thresholds).astype(int)]
    rocs, prs = [], []
    for w in range(window + 1):
        soft = y.astype(float)
        for s, e in runs:
            for d in range(1, w // 2 + 1):
                if e - 1 + d < n:
                    soft[e - 1 + d] += np.sqrt(1 - d / w)
                if s - d >= 0:
                    soft[s - d] += np.sqrt(1 - d / w)
        soft = np.minimum(soft, 1)
        merged = []  # the stretches widened by w // 2 each side, merged where they then meet
        for s, e in runs:
            a, b = s - w // 2, e - 1 + w // 2
            if merged and not merged[-1][1] < a:
                merged[-1][1] = b
            else:
                merged.append([a, b])
        merged = [(max(a, 0), min(b, n - 1)) for a, b in merged]
        tpr, fpr, prec = [0.0], [0.0], []
        for level in levels:
            pred = scores >= level
            tp = float((soft * pred).sum())
            p_new = (y.sum() + y.sum() + float((soft * pred * (1 - y)).sum())) / 2
            found = sum(pred[a : b + 1].any() for a, b in merged)
            tpr.append(min(tp / p_new, 1) * found / len(merged))
            fpr.append((pred.sum() - tp) / (n - p_new))
            prec.append(tp / pred.sum())
        tpr.append(1.0)
        fpr.append(1.0)
        rocs.append(sum((fpr[i + 1] - fpr[i]) * (tpr[i + 1] + tpr[i]) / 2 for i in range(len(tpr) - 1)))
        prs.append(sum((tpr[i + 1] - tpr[i]) * prec[i] for i in range(len(prec))))
    return np.mean(rocs), np.mean(prs)


def test_vus_matches_a_loop_written_from_the_definition():
    rng = np.random.default_rng(0)
    for n, w in ((400, 0), (600, 9), (800, 30)):
        y = np.zeros(n, int)
        for a in rng.choice(n - 40, 4, replace=False):
            y[a : a + rng.integers(1, 30)] = 1
        scores = np.round(rng.random(n) + np.convolve(y, np.ones(9) / 9, "same"), 2)  # ties too
        expected = _vus_by_the_definition(y, scores, w, thresholds=50)
        got = hg.vus(y, scores, w, thresholds=50)
        assert got["vus_roc"] == pytest.approx(expected[0], abs=1e-12)
        assert got["vus_pr"] == pytest.approx(expected[1], abs=1e-12)


def test_vus_rewards_a_score_that_finds_each_stretch():
    y = np.zeros(2000, int)
    y[500:520] = y[1500:1530] = 1
    bump = np.exp(-0.5 * ((np.arange(2000)[:, None] - np.array([510, 1515])) / 25.0) ** 2).max(axis=1)
    early = np.roll(bump, -40)  # rises before the anomalies: point-wise weak, range-aware better
    assert hg.vus(y, bump, 50)["vus_pr"] > 0.5
    from sklearn.metrics import average_precision_score

    assert hg.vus(y, early, 50)["vus_pr"] > 1.4 * average_precision_score(y, early)
    assert np.isnan(hg.vus(np.zeros(100, int), np.arange(100.0), 10)["vus_pr"])
    from hourglass.detection.range_metrics import range_auc

    with pytest.raises(hg.InvalidInputError, match="both labelled"):
        range_auc(np.ones(100, int), np.arange(100.0), 10)
    with pytest.raises(hg.InvalidInputError, match="window must be an integer >= 0"):
        hg.vus(y, bump, -1)


def test_event_metrics_and_point_adjusted_f1():
    y = np.zeros(100, int)
    y[10:20] = y[50:60] = y[80:85] = 1
    flags = np.zeros(100, int)
    flags[15] = flags[52:54] = flags[30:33] = 1  # finds two of three stretches, one false event
    m = hg.event_metrics(y, flags)
    assert m["event_recall"] == pytest.approx(2 / 3) and m["event_precision"] == pytest.approx(2 / 3)
    assert m["events_labelled"] == 3 and m["events_flagged"] == 3
    # point-adjusted: 20 labelled steps count as found for 3 flagged ones
    assert hg.point_adjusted_f1(y, flags) == pytest.approx(2 * 20 / (2 * 20 + 3 + 5))


def test_command_line_fits_and_scores_a_recording_per_step(tmp_path):
    from click.testing import CliRunner

    from hourglass.cli import main

    t = np.arange(3000)
    values = np.sin(2 * np.pi * t / 30) + 0.05 * np.random.default_rng(0).normal(size=3000)
    labels = np.zeros(3000, int)
    values[2500:2520] += 2.0
    labels[2500:2520] = 1
    path = tmp_path / "recording.csv"
    path.write_text("value,Label\n" + "\n".join(f"{v:.6f},{y}" for v, y in zip(values, labels)) + "\n")
    runner = CliRunner()
    run = tmp_path / "run"
    fitted = runner.invoke(
        main,
        ["fit", str(path), "--steps", "--train-steps", "1500", "--label-column", "Label", "--epochs", "3"]
        + ["--out", str(run), "--quiet"],
    )
    assert fitted.exit_code == 0, fitted.output
    assert "window 60 steps" in fitted.output and "vus_pr" in fitted.output  # two periods of 30 (min_window=48)
    out = tmp_path / "steps.csv"
    scored = runner.invoke(
        main,
        ["score", str(run), str(path), "--steps", "--label-column", "Label", "--chunk-rows", "700"]
        + ["--out", str(out), "--quiet"],
    )
    assert scored.exit_code == 0, scored.output
    table = np.loadtxt(out, delimiter=",", skiprows=1)
    assert out.read_text().startswith("step,score,is_anomaly,Label\n") and table.shape == (3000, 4)
    np.testing.assert_array_equal(table[:, 0], np.arange(3000))
    np.testing.assert_array_equal(table[:, 3], labels)  # labels stay with their steps
    sd = hg.load(run / "model")
    # atol: scores are on the held-out scale (1 at its 99th percentile), and the model's float32
    # rounding depends on the batch
    np.testing.assert_allclose(table[:, 1], sd.score_steps(values), rtol=1e-5, atol=1e-4)
    assert table[2500:2520, 2].any() and "events" in scored.output
    plain = tmp_path / "plain"
    hg.save(hg.Detector(hg.create_model("dense", input_shape=(2,), seed=0)).fit(np.zeros((8, 2))), plain)
    refused = runner.invoke(main, ["score", str(plain), str(path), "--steps", "--out", str(tmp_path / "x.csv")])
    assert refused.exit_code == 1 and "SeriesDetector" in refused.output


def test_report_shows_the_recording_and_its_events(series_detector, ecg_slice, tmp_path):
    values, labels = ecg_slice[0][:6_000], ecg_slice[1][:6_000]
    path = hg.report(series_detector, values, labels, out=tmp_path / "report", save_figures=True)
    page = path.read_text()
    for heading in ("Overview", "Recording", "Events", "Metrics", "vus_pr", "Configuration"):
        assert heading in page
    assert (tmp_path / "report" / "recording.png").stat().st_size > 10_000
    assert "data:image/png;base64" in page


def test_a_long_recordings_report_draws_envelopes_zooms_on_its_events_and_counts_alike(
    series_detector, ecg_slice, tmp_path
):
    from matplotlib.collections import PolyCollection

    from hourglass.reports import figures

    values, labels = ecg_slice[0][:6_000], ecg_slice[1][:6_000]
    scores = series_detector.score_steps(values)
    events = series_detector.events_of_scores(scores)
    assert events, "the slice holds flagged events"
    path = hg.report(series_detector, values, labels, out=tmp_path / "report", save_figures=True)
    page = path.read_text()
    assert f"Events ({len(events)};" in page and "envelope" in page
    assert (tmp_path / "report" / "events.png").stat().st_size > 10_000  # the zoomed panels
    fig = figures.signal_anomalies(values.T, scores, threshold=series_detector.threshold_, events=events)
    top = fig.axes[0]
    assert any(isinstance(c, PolyCollection) for c in top.collections)  # an envelope, not 6,000 points
    assert all(len(line.get_xdata()) <= 2 * figures._COLUMNS for line in top.lines)
    assert top.get_title().endswith(f"({len(events)} events)")
    zooms = figures.event_zooms(values.T, scores, events, series_detector.threshold_, context=100)
    best = max(events, key=lambda e: e.peak_score)
    assert zooms.axes[0].get_title().startswith(f"#1: steps {best.start:,}-{best.stop:,}")
