"""One progress option everywhere: "auto" (a bar where a person watches), True, False."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import hourglass as hg
from hourglass import progress
from hourglass.training.options import FitOptions


def test_progress_takes_auto_true_false_and_names_anything_else():
    assert FitOptions().progress == "auto"
    assert FitOptions(progress=False).progress is False and FitOptions(progress="AUTO").progress == "auto"
    with pytest.raises(hg.InvalidInputError, match="progress must be True, False or 'auto'"):
        FitOptions(progress="yes")
    for est in (hg.AutoencoderDetector(), hg.AutoencoderTransformer(), hg.SeriesDetector()):
        assert est.progress == "auto"


def test_auto_shows_a_bar_only_where_a_person_watches(monkeypatch):
    class Terminal:
        def isatty(self):
            return True

    monkeypatch.delenv("HOURGLASS_PROGRESS", raising=False)
    assert not progress.resolve("auto")  # pytest captures stderr: no terminal
    monkeypatch.setattr("sys.stderr", Terminal())
    assert progress.resolve("auto") and not progress.resolve(False)
    monkeypatch.setenv("HOURGLASS_PROGRESS", "off")
    assert not progress.resolve("auto") and progress.resolve(True)


def test_the_bar_labels_a_trimmed_loss_and_the_old_spelling_still_works(caplog, data_dir):
    x = hg.datasets.load("adbench/38_thyroid", data_dir=data_dir, download=False, seed=0).x_train[:600]
    with caplog.at_level(logging.INFO, logger="hourglass"):
        det = hg.AutoencoderDetector(random_state=0, epochs=2, min_steps=None, verbose=True).fit(x)
    assert det._check_params().progress is True  # verbose, the 0.1 spelling, decides when given
    lines = [r.getMessage() for r in caplog.records if "epoch 1/" in r.getMessage()]
    assert lines and "loss (best 80% of each batch)" in lines[0] and "val_loss (all rows)" in lines[0]
    model = hg.create_model("stacked", input_shape=(x.shape[1],), seed=0)
    with caplog.at_level(logging.INFO, logger="hourglass"):
        caplog.clear()
        hg.fit(model, x.astype(np.float32), epochs=1, validation=x[:50].astype(np.float32))
    assert "loss " in caplog.records[-1].getMessage() and "best" not in caplog.records[-1].getMessage()
