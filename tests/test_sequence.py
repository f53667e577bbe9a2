"""Sequence autoencoders (conv1d, lstm) on real ECG beats and multichannel series."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

import hourglass as hg


def test_sequence_architectures():
    conv = hg.create_model("conv1d", input_shape=(140,))
    # the Keras time-series tutorial's model: Conv1D(32, 7, stride 2), Conv1D(16, 7, stride 2), mirrored
    convs = [m for m in conv.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d))]
    assert [(m.out_channels, m.kernel_size[0], m.stride[0]) for m in convs] == [
        (32, 7, 2),
        (16, 7, 2),
        (16, 7, 2),
        (32, 7, 2),
        (1, 7, 1),
    ]
    assert conv.latent_shape == (16, 35)
    assert hg.create_model("conv1d", input_shape=(140,), latent_dim=16).latent_shape == (16,)
    # a length that is not a multiple of 2 ** stages is padded inside and cut back
    odd = hg.create_model("conv1d", input_shape=(2, 137), seed=0)
    assert odd(torch.rand(3, 2, 137)).shape == (3, 2, 137)
    lstm = hg.create_model("lstm", input_shape=(2, 50), hidden=(32,), latent_dim=8)
    assert [(m.input_size, m.hidden_size) for m in lstm.encoder] == [(2, 32), (32, 8)]
    assert [(m.input_size, m.hidden_size) for m in lstm.decoder] == [(8, 32)]
    assert lstm.head.out_features == 2 and lstm.latent_shape == (8,)
    # Keras' LSTM initialisation: forget-gate bias 1, orthogonal recurrent weights
    first = lstm.encoder[0]
    assert torch.all(first.bias_ih_l0[32:64] == 1) and torch.all(first.bias_ih_l0[:32] == 0)
    w = first.weight_hh_l0  # (4 gates x 32, 32): orthonormal columns
    assert torch.allclose(w.T @ w, torch.eye(32), atol=1e-5)


@pytest.mark.parametrize(
    "name, options, epochs, min_auroc",
    [
        ("conv1d", {"latent_dim": 16}, 15, 0.95),
        ("lstm", {"hidden": (32,), "latent_dim": 16}, 6, 0.75),
    ],
)
def test_sequence_models_find_anomalous_ecg_beats(ecg, name, options, epochs, min_auroc):
    normal = ecg.x_train[ecg.y_train == 1][:1024]
    model = hg.create_model(name, input_shape=(140,), seed=0, **options)
    history = hg.fit(model, normal, epochs=epochs, batch_size=64, loss="mae", lr=3e-3, seed=0, progress=False)
    assert history.train_loss[-1] < 0.75 * history.train_loss[0]
    det = hg.Detector(model, score="mae").fit(normal)
    y = ecg.is_anomaly(ecg.y_test)
    assert det.evaluate(ecg.x_test, y)["auroc"] > min_auroc
    assert det.score_map(ecg.x_test[:4]).shape == (4, 140)


def test_multichannel_series_train_and_name_shape_errors(ecg):
    # two leads: a beat and its derivative, cut from a long recording of normal beats
    beats = ecg.x_train[ecg.y_train == 1][:40].reshape(-1)
    recording = np.stack([beats, np.gradient(beats) * 10])
    windows = hg.windows(recording, length=140, stride=70)
    assert windows.shape == (79, 2, 140)
    model = hg.create_model("conv1d", input_shape=(2, 140), latent_dim=8, seed=0)
    history = hg.fit(model, windows, epochs=5, batch_size=16, loss="mae", seed=0, progress=False)
    assert history.train_loss[-1] < history.train_loss[0]
    assert hg.reconstruct(model, windows[:3]).shape == (3, 2, 140)
    with pytest.raises(hg.InvalidInputError, match="channels: 3 where the model expects 2"):
        hg.reconstruct(model, np.zeros((4, 3, 140)))
    with pytest.raises(hg.InvalidInputError, match=r"time steps: 100 where the model expects 140.*hg.windows"):
        hg.fit(model, np.zeros((4, 2, 100)), epochs=1, progress=False)
    lstm = hg.create_model("lstm", input_shape=(140,), seed=0)
    with pytest.raises(hg.InvalidInputError, match="time steps: 120"):
        hg.Detector(lstm).fit(np.zeros((4, 120)))
    # a univariate model takes (n, 140) and (n, 1, 140) alike
    assert hg.reconstruct(lstm, ecg.x_test[:2, None, :]).shape == (2, 140)


def test_long_recording_flags_the_anomalous_stretch_and_plots_it(ecg, tmp_path):
    from hourglass.reports import figures

    # train on windows of a long recording of normal beats, at every offset a stride of 35 gives
    normal = ecg.x_train[ecg.y_train == 1]
    train = hg.windows(normal[:600].reshape(-1), length=140, stride=35)
    model = hg.create_model("conv1d", input_shape=(140,), latent_dim=16, seed=0)
    hg.fit(model, train, epochs=10, batch_size=64, loss="mae", lr=3e-3, seed=0, progress=False)
    det = hg.Detector(model, score="mae", threshold=hg.MeanStd(k=3)).fit(train)
    y = ecg.is_anomaly(ecg.y_test)
    beats = np.concatenate([ecg.x_test[y == 0][:6], ecg.x_test[y == 1][:2], ecg.x_test[y == 0][6:12]])
    recording = beats.reshape(-1)
    truth = np.zeros(len(recording), bool)
    truth[6 * 140 : 8 * 140] = True
    steps = hg.scores_to_steps(det.score_samples(hg.windows(recording, 140, 35)), len(recording), 140, 35)
    flags = steps > det.threshold_
    flagged = hg.stretches(flags)
    # the step scores rank the two anomalous beats above the twelve normal ones; at least half of
    # them is flagged (in eighths: windows every 35 steps; seeds 0-3 on 1 or 2 threads flag 0.5 to
    # 0.75 of them, AUROC 0.89-0.95), little of the normal ones
    assert roc_auc_score(truth, steps) > 0.85
    assert flags[truth].mean() >= 0.5 and flags[~truth].mean() < 0.2
    assert steps[truth].mean() > 1.5 * steps[~truth].mean()
    fig = figures.signal_anomalies(recording, steps, det.threshold_, truth=truth, title="ECG")
    shaded = [p for p in fig.axes[0].patches]
    assert len(shaded) == len(flagged) + 1  # one span per flagged stretch, one for the known anomaly
    assert len(fig.axes) == 2
    for name in ("signal.png", "signal.svg"):
        assert (
            figures.save_figure(
                fig
                if name.endswith("png")
                else figures.signal_anomalies(np.stack([recording, recording]), flags=steps > det.threshold_),
                tmp_path / name,
            )
            .stat()
            .st_size
            > 5000
        )
    with pytest.raises(ValueError, match="time steps"):
        figures.signal_anomalies(recording, steps[:-1], 0.1)


def test_stretches():
    assert hg.stretches([0, 1, 1, 0, 0, 1, 0, 1, 1, 1]) == [(1, 3), (5, 6), (7, 10)]
    assert hg.stretches([1, 1, 0, 1], min_length=2) == [(0, 2)]
    assert hg.stretches(np.zeros(5)) == []
    with pytest.raises(hg.InvalidInputError, match="1-D"):
        hg.stretches(np.zeros((2, 5)))
