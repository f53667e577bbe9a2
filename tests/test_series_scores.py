"""How the series detector scores windows: the distance of a window's residual to the nearest
training residuals (the default), against the reconstruction error, on a slice of a real chaotic
TSB-AD series and on synthetic beats with shape anomalies inside the training part; and the score
per channel."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import hourglass as hg


def beats(rng, n_beats: int, odd: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic heartbeats (period ~100): P, QRS, T; an odd beat has a QRS three times as wide at
    the same height (the normal amplitude, another shape)."""
    xs, ys = [], []
    for i in range(n_beats):
        p = int(100 * rng.uniform(0.95, 1.05))
        t = np.arange(p) / p
        width = 0.045 if i in odd else 0.015
        b = 0.15 * np.exp(-0.5 * ((t - 0.15) / 0.03) ** 2) + np.exp(-0.5 * ((t - 0.35) / width) ** 2)
        xs.append(b + 0.3 * np.exp(-0.5 * ((t - 0.65) / 0.06) ** 2))
        ys.append(np.full(p, int(i in odd)))
    x = np.concatenate(xs)
    return x + rng.normal(0, 0.02, len(x)), np.concatenate(ys)


def test_residual_distance_finds_what_the_error_misses_on_a_chaotic_series():
    rec = hg.datasets.load("tsb-ad/226_MGAB_id_2_Synthetic")
    train = rec.values[:8000]
    test, labels = rec.values[44000:50000], rec.labels[44000:50000]  # the first anomaly at 45,134
    assert labels.any()
    auroc = {}
    for neighbors in ("auto", None):
        sd = hg.SeriesDetector(epochs=5, neighbors=neighbors).fit(train)
        assert sd.detector_.score == ("residual-knn" if neighbors else "mse")
        auroc[neighbors] = roc_auc_score(labels, sd.score_steps(test))
    assert auroc["auto"] > 0.85 and auroc["auto"] > auroc[None] + 0.1, auroc


def test_shape_anomalies_of_the_normal_amplitude_inside_the_training_part_still_score_high():
    rng = np.random.default_rng(0)
    n = 160  # 40 beats of training part, 2 of them (5 %) odd; 4 of the 120 later beats
    x, y = beats(rng, n, odd={7, 29, 60, 90, 120, 150})
    train_end = 40 * 100  # about the first 40 beats
    sd = hg.SeriesDetector(epochs=10).fit(x[:train_end])
    assert y[:train_end].mean() > 0.02
    scores = sd.score_steps(x)
    assert roc_auc_score(y[train_end:], scores[train_end:]) >= 0.95  # 0.971 (the error: 0.997)


def test_the_neighbors_option():
    t = np.arange(3000)
    x = np.sin(2 * np.pi * t / 50) + 0.05 * np.random.default_rng(0).normal(size=3000)
    assert hg.SeriesDetector(epochs=2, score_by="step").fit(x).detector_.score == "mse"  # "auto": the error
    assert hg.SeriesDetector(epochs=2, neighbors=3).fit(x).detector_.n_neighbors == 3
    with pytest.raises(hg.InvalidInputError, match="neighbors=None"):
        hg.SeriesDetector(score_by="step", neighbors=1).fit(x)
    for bad in (0, -1, "many", 1.5):
        with pytest.raises(hg.InvalidInputError, match="neighbors"):
            hg.SeriesDetector(neighbors=bad).fit(x)


def test_score_channels_names_the_channel_of_an_anomaly(tmp_path):
    pd = pytest.importorskip("pandas")
    t = np.arange(5000)
    rng = np.random.default_rng(1)
    a = np.sin(2 * np.pi * t / 40) + 0.05 * rng.normal(size=5000)
    b = 50 + 10 * np.cos(2 * np.pi * t / 60) + 0.5 * rng.normal(size=5000)
    b[4000:4060] = 50 + 10 * np.cos(2 * np.pi * t[4000:4060] / 30)  # a change of frequency in b only
    frame = pd.DataFrame({"pump": a, "valve": b})
    sd = hg.SeriesDetector(epochs=8).fit(frame[:3000])
    channels = sd.score_channels(frame)
    assert channels.shape == (5000, 2) and np.isfinite(channels).all()
    assert channels[4000:4060, 1].mean() > 5 * channels[4000:4060, 0].mean()
    events = sd.events(frame)
    hit = [e for e in events if e.start < 4060 and e.stop > 4000]
    assert hit
    [(name, share), *_] = sd.event_channels(hit, channels)[0]
    assert name == "valve" and share > 0.7
    page = hg.report(sd, frame, out=tmp_path / "report").read_text()
    assert "channels (share of the error)" in page and "valve" in page
    hg.save(sd, tmp_path / "sd")
    np.testing.assert_array_equal(hg.load(tmp_path / "sd").score_channels(frame), channels)
    with pytest.raises(hg.InvalidInputError, match="fewer than the window"):
        sd.score_channels(frame[:10])


def test_the_nearest_option():
    t = np.arange(3000)
    x = np.sin(2 * np.pi * t / 50) + 0.05 * np.random.default_rng(0).normal(size=3000)
    assert hg.SeriesDetector(epochs=2).fit(x).detector_.nearest  # "auto" with 10 neighbours
    assert not hg.SeriesDetector(epochs=2, neighbors=1).fit(x).detector_.nearest  # one neighbour: nothing to add
    assert not hg.SeriesDetector(epochs=2, nearest=False).fit(x).detector_.nearest
    with pytest.raises(hg.InvalidInputError, match="nearest=True needs a neighbour score"):
        hg.SeriesDetector(neighbors=None, nearest=True).fit(x)
    with pytest.raises(hg.InvalidInputError, match="nearest must be"):
        hg.SeriesDetector(nearest="yes").fit(x)


def test_the_nearest_levels_on_an_exact_repeat_and_a_warning_for_a_part_too_short_to_split():
    from hourglass.detection.neighbors import LEVEL_FLOOR

    t = np.arange(3000)
    sine = np.sin(2 * np.pi * t / 50)  # every window repeats: distances differ by float32 rounding only
    sd = hg.SeriesDetector(epochs=2).fit(sine[:2000])
    width = sd.detector_.neighbors_.memory.shape[1]
    assert min(sd.detector_.neighbors_.levels[[1, 3]]) >= LEVEL_FLOOR * np.sqrt(width)
    assert sd.predict_steps(sine).mean() < 0.05  # rounding is not scaled up into anomalies
    bumped = sine.copy()
    bumped[2500:2530] += 1.0
    scores = sd.score_steps(bumped)
    assert scores[2500:2530].min() > 100 * max(1.0, np.abs(scores[:2400]).max())
    # 150 steps: too short to split (a fifth is under one window), so the part is its own held-out
    # stretch; the levels then come from the training windows each left out of its own neighbours
    noisy = sine + 0.05 * np.random.default_rng(0).normal(size=3000)
    with pytest.warns(UserWarning, match="too short to hold out a stretch.*at least 250 steps"):
        short = hg.SeriesDetector(epochs=2).fit(noisy[:150])
    assert np.isfinite(short.detector_.neighbors_.levels).all()
