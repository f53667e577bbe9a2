"""Checkpoints: a run killed with SIGKILL mid-epoch resumes to exactly the weights of an
uninterrupted run; NaN losses stop training naming the step and keep the last good checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

import hourglass as hg
from hourglass.training.checkpoints import CheckpointMismatchError, complete_checkpoints

CHILD = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    import hourglass as hg

    mode, ckpt, out, kind = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]

    class Stall:
        """Leaves each batch as it is; in "stall" mode it freezes at one step of epoch 3 (after
        touching a marker file) so that the parent can kill the process in the middle of an epoch."""
        calls = 0
        def __call__(self, x, gen):
            Stall.calls += 1
            if mode == "stall" and Stall.calls == 2 * 10 + 4:
                Path(out + ".stalled").touch()
                time.sleep(120)
            return x
        def __repr__(self):
            return "Stall()"

    ds = hg.datasets.load("ecg5000", split="tutorial")
    normal = ds.x_train[ds.y_train == 1]                  # 2,344 beats: 10 batches of 256 per epoch
    options = dict(epochs=5, batch_size=256, loss="mae", seed=7, progress=False)
    if kind == "stacked":
        model = hg.create_model("stacked", input_shape=(140,), hidden=(32, 16), latent_dim=8, dropout=0.2, seed=0)
        data = {}
    else:  # the default detectors' model: members with their own rows, trimmed losses, early stopping
        import numpy as np
        model = hg.create_model("dense-ensemble", input_shape=(140,), n_members=3, hidden=(32, 16), latent_dim=8,
                                member_sizes=((32, 16, 8), (16, 8, 4), (8, 4, 2)), seed=0)
        rows = np.random.default_rng(0).integers(0, len(normal), (3, len(normal)))
        data = dict(member_rows=rows, validation=ds.x_test[:300])
        options.update(trim=0.2, early_stopping=1, min_delta=0.01)
    history = hg.fit(model, normal, corruption=Stall(), checkpoint_dir=None if mode == "reference" else ckpt,
                     resume=mode == "resume", **data, **options)
    hg.save(model, out, history=history)
''')


def _child(tmp_path, mode, kind):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return [sys.executable, str(script), mode, str(tmp_path / "ckpt"), str(tmp_path / mode), kind]


@pytest.mark.parametrize("kind", ["stacked", "dense-ensemble"])
def test_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_weights(tmp_path, kind):
    victim = subprocess.Popen(_child(tmp_path, "stall", kind))
    try:
        marker = tmp_path / "stall.stalled"
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert victim.poll() is None, "the child exited before it stalled"
            assert time.monotonic() < deadline, "the child never reached epoch 3"
            time.sleep(0.05)
        os.kill(victim.pid, signal.SIGKILL)  # in the middle of epoch 3: no chance to clean up
        assert victim.wait(30) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()
    kept = complete_checkpoints(tmp_path / "ckpt")
    assert [p.name for p in kept] == ["epoch-000001.json", "epoch-000002.json"]

    subprocess.run(_child(tmp_path, "resume", kind), check=True)
    subprocess.run(_child(tmp_path, "reference", kind), check=True)
    resumed, reference = hg.load(tmp_path / "resume"), hg.load(tmp_path / "reference")
    for (name, a), b in zip(resumed.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(a, b), name  # bit for bit
    resumed_history = resumed.history_
    assert resumed_history.epochs == 5 and resumed_history.settings["resumed_from_epoch"] == 2
    assert resumed_history.train_loss == reference.history_.train_loss
    if kind == "dense-ensemble":  # members stopped before and after the kill, on their own
        members = [(m.epochs, m.best_epoch, m.stopped_early, m.val_loss) for m in resumed_history.members]
        assert members == [(m.epochs, m.best_epoch, m.stopped_early, m.val_loss) for m in reference.history_.members]
        assert min(m[0] for m in members) <= 2 < max(m[0] for m in members), members  # the kill: in epoch 3


class Poison:
    """Returns the batch unchanged, except NaN at one step of the run (counted from 1)."""

    def __init__(self, at_step=None):
        self.at_step, self.calls = at_step, 0

    def __call__(self, x, gen):
        self.calls += 1
        return x * float("nan") if self.calls == self.at_step else x

    def __repr__(self):
        return "Poison()"


def test_nan_loss_names_epoch_and_step_and_keeps_the_last_good_checkpoint(tmp_path, ecg):
    normal = ecg.x_train[ecg.y_train == 1]
    model = hg.create_model("stacked", input_shape=(140,), seed=0)
    kwargs = dict(epochs=4, batch_size=256, loss="mae", seed=1, progress=False, checkpoint_dir=tmp_path)
    with pytest.raises(hg.TrainingError) as err:
        hg.fit(model, normal, corruption=Poison(at_step=2 * 10 + 7), **kwargs)
    message = str(err.value)
    assert "epoch 3, step 7 of 10 (step 27 of the run)" in message
    assert "learning rate" in message and "scale" in message
    assert "last good checkpoint (epoch 2)" in message and "resume=True" in message
    assert [p.name for p in complete_checkpoints(tmp_path)] == ["epoch-000001.json", "epoch-000002.json"]

    # the cause fixed, the run resumes from epoch 2 and matches a clean run
    resumed = hg.create_model("stacked", input_shape=(140,), seed=0)
    history = hg.fit(resumed, normal, corruption=Poison(), resume=True, **kwargs)
    clean = hg.create_model("stacked", input_shape=(140,), seed=0)
    clean_history = hg.fit(clean, normal, corruption=Poison(), **{**kwargs, "checkpoint_dir": None})
    assert history.train_loss == clean_history.train_loss
    assert all(torch.equal(a, b) for a, b in zip(resumed.state_dict().values(), clean.state_dict().values()))


def test_a_diverging_learning_rate_is_reported_clearly(ecg):
    model = hg.create_model("stacked", input_shape=(140,), output_activation="none", seed=0)
    with pytest.raises(hg.TrainingError, match=r"at epoch \d+, step \d+ of 8 .*learning rate too high \(lr=1e\+30\)"):
        hg.fit(model, ecg.x_train * 1e30, epochs=3, batch_size=512, lr=1e30, progress=False)


def test_resume_refuses_another_run_and_survives_a_corrupt_newest_checkpoint(tmp_path, ecg):
    x = ecg.x_train[:600]
    model = hg.create_model("stacked", input_shape=(140,), seed=0)
    hg.fit(model, x, epochs=3, batch_size=128, progress=False, checkpoint_dir=tmp_path)
    with pytest.raises(CheckpointMismatchError, match=r"another run \(different data\)"):
        hg.fit(
            hg.create_model("stacked", input_shape=(140,), seed=0),
            x[::-1].copy(),
            epochs=3,
            batch_size=128,
            progress=False,
            checkpoint_dir=tmp_path,
            resume=True,
        )
    with pytest.raises(CheckpointMismatchError, match=r"different batch_size, steps_per_epoch"):
        hg.fit(
            hg.create_model("stacked", input_shape=(140,), seed=0),
            x,
            epochs=3,
            batch_size=64,
            progress=False,
            checkpoint_dir=tmp_path,
            resume=True,
        )
    with pytest.raises(hg.InvalidInputError, match="resume=True needs checkpoint_dir"):
        hg.fit(model, x, epochs=1, resume=True, progress=False)

    newest = complete_checkpoints(tmp_path)[-1].with_suffix(".safetensors")
    newest.write_bytes(newest.read_bytes()[:100])  # a truncated file: falls back to the epoch before
    again = hg.create_model("stacked", input_shape=(140,), seed=0)
    history = hg.fit(again, x, epochs=4, batch_size=128, progress=False, checkpoint_dir=tmp_path, resume=True)
    assert history.settings["resumed_from_epoch"] == 2 and history.epochs == 4
    meta = json.loads(complete_checkpoints(tmp_path)[-1].read_text())
    assert meta["epoch"] == 4 and np.isfinite(meta["history"]["train_loss"]).all()
    fresh = tmp_path / "empty"
    assert hg.fit(again, x, epochs=1, progress=False, checkpoint_dir=fresh, resume=True).epochs == 1
