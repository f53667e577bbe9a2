"""Logging and callbacks: one log line per epoch, a CSV log, TensorBoard scalars, close() at the end."""

from __future__ import annotations

import csv
import logging

import numpy as np
import pytest

import hourglass as hg


@pytest.fixture(scope="module")
def ecg():
    ds = hg.datasets.load("ecg5000", split="tutorial")
    return ds.x_train[ds.y_train == 1][:500], ds.x_test[:150]


def small(seed=0):
    return hg.create_model("stacked", input_shape=(140,), hidden=(32,), latent_dim=8, seed=seed)


def test_one_log_line_per_epoch_on_the_hourglass_logger(ecg, caplog):
    x, val = ecg
    with caplog.at_level(logging.INFO, logger="hourglass"):
        hg.fit(small(), x, epochs=3, validation=val, progress=False)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("hourglass")]
    assert len(lines) == 3 and lines[0].startswith("fit stacked: epoch 1/3, loss ") and "val_loss" in lines[0]
    caplog.clear()
    rng = np.random.default_rng(0)
    with caplog.at_level(logging.INFO, logger="hourglass"):
        hg.AutoencoderDetector(n_models=3, epochs=2, min_steps=None, random_state=0).fit(rng.normal(size=(200, 5)))
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("hourglass")]
    assert len(lines) == 2 and "(3 members): epoch 2/2" in lines[1]


def test_silent_unless_logging_is_configured(ecg, caplog):
    with caplog.at_level(logging.WARNING):
        hg.fit(small(), ecg[0], epochs=2, progress=False)
    assert not [r for r in caplog.records if r.name.startswith("hourglass")]


def test_csv_logger_writes_a_row_per_epoch_and_resumes(ecg, tmp_path):
    x, val = ecg
    path = tmp_path / "log.csv"
    history = hg.fit(small(), x, epochs=4, validation=val, progress=False, callbacks=[hg.callbacks.CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    np.testing.assert_array_equal([float(r["train_loss"]) for r in rows], history.train_loss)
    np.testing.assert_array_equal([float(r["val_loss"]) for r in rows], history.val_loss)
    # a resumed run from epoch 3: rows from epoch 3 on are replaced, earlier ones kept
    logger = hg.callbacks.CSVLogger(path, append=True)
    resumed = hg.History(train_loss=[9.0, 9.0, 9.0], epoch_seconds=[1.0, 1.0, 1.0])
    logger(3, resumed, None)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3] and float(rows[2]["train_loss"]) == 9.0
    assert rows[2]["val_loss"] == ""  # a column the new rows lack stays empty


def test_csv_logger_has_each_members_loss(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "members.csv"
    model = hg.create_model("dense-ensemble", input_shape=(6,), n_members=3, seed=0)
    hg.fit(
        model,
        rng.normal(size=(300, 6)).astype(np.float32),
        epochs=2,
        progress=False,
        callbacks=[hg.callbacks.CSVLogger(path)],
    )
    header = path.read_text().splitlines()[0].split(",")
    assert {"member0_train_loss", "member2_train_loss"} <= set(header)


def test_tensorboard_scalars_match_the_history(ecg, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    x, val = ecg
    tb = hg.callbacks.TensorBoard(tmp_path / "tb")
    history = hg.fit(small(), x, epochs=3, validation=val, progress=False, callbacks=[tb])
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert {"loss/train", "loss/val", "time/epoch_seconds"} <= set(events.Tags()["scalars"])
    train = events.Scalars("loss/train")
    assert [e.step for e in train] == [1, 2, 3]
    np.testing.assert_allclose([e.value for e in train], history.train_loss, rtol=1e-6)


def test_close_is_called_once_even_when_training_fails(ecg):
    class Tracker:
        def __init__(self, fail_at=None):
            self.closed, self.epochs, self.fail_at = 0, [], fail_at

        def __call__(self, epoch, history, model):
            self.epochs.append(epoch)
            if epoch == self.fail_at:
                raise RuntimeError("the tracking server went away")
            return epoch == 2  # True stops training

        def close(self):
            self.closed += 1

    ok = Tracker()
    history = hg.fit(small(), ecg[0], epochs=5, progress=False, callbacks=[ok])
    assert ok.epochs == [1, 2] and history.epochs == 2 and ok.closed == 1
    failing = Tracker(fail_at=1)
    with pytest.raises(RuntimeError, match="went away"):
        hg.fit(small(), ecg[0], epochs=5, progress=False, callbacks=[failing])
    assert failing.closed == 1


def test_csv_logger_refuses_a_folder(tmp_path):
    with pytest.raises(hg.InvalidInputError, match="file path"):
        hg.callbacks.CSVLogger(tmp_path)
