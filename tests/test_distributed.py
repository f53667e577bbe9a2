"""Distributed data-parallel training: two CPU processes on the gloo backend, launched by torchrun
exactly as a user would launch them, give the weights of one process training with the same
global batch, within floating-point summation order.

The runs train with plain SGD (a large step, so that a wrongly summed or weighted gradient would
show in the weights): with Adam, a unit whose gradient is all but zero (a dead ReLU unit, or MAE's
sign at a residual of ~0) moves by about +-lr on rounding noise alone, since Adam divides the
gradient by its own running size, so weights can differ by lr on such units whatever the gradient
sum's precision. The optimizer step is the same local code with one process or several."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import hourglass as hg

SCRIPT = textwrap.dedent("""
    import sys
    import torch
    import torch.distributed as dist
    import hourglass as hg

    out = sys.argv[1]
    sgd = lambda params, lr, weight_decay: torch.optim.SGD(params, lr=lr)
    ecg = hg.datasets.load("ecg5000", split="tutorial")
    normal = ecg.x_train[ecg.y_train == 1]            # 2,344 rows: the last batch of each pass is short
    dense = hg.create_model("stacked", input_shape=(140,), hidden=(32, 16), latent_dim=8, seed=0)
    h1 = hg.fit(dense, normal, epochs=4, batch_size=256, loss="mae", seed=3, validation=ecg.x_test, progress=False,
                optimizer=sgd, lr=0.5)
    fashion = hg.datasets.load("fashion-mnist").x_train[:600]
    conv = hg.create_model("conv", input_shape=(1, 28, 28), channels=(8, 16), latent_dim=16, seed=0)
    h2 = hg.fit(conv, fashion, epochs=2, batch_size=64, seed=1, progress=False, checkpoint_dir=out + "-ckpt",
                optimizer=sgd, lr=0.5)
    # the default detectors' model: members on their own rows, each with its own early stopping
    ensemble = hg.create_model("dense-ensemble", input_shape=(140,), n_members=3, hidden=(32, 16), latent_dim=8,
                               member_sizes=((32, 16, 8), (16, 8, 4), (8, 4, 2)), seed=0)
    rows = torch.Generator().manual_seed(0)
    rows = torch.stack([torch.randperm(len(normal), generator=rows)[:2000] for _ in range(3)]).numpy()
    h3 = hg.fit(ensemble, normal, member_rows=rows, epochs=4, batch_size=256, loss="mae", seed=3,
                validation=ecg.x_test, early_stopping=1, min_delta=0.01, progress=False, optimizer=sgd, lr=0.5)
    if not dist.is_initialized() or dist.get_rank() == 0:
        hg.save(dense, out + "-dense", history=h1)
        hg.save(conv, out + "-conv", history=h2)
        hg.save(ensemble, out + "-ensemble", history=h3)
    if dist.is_initialized():
        print("world", dist.get_world_size(), "rank", dist.get_rank())
""")

TOLERANCE = 1e-5  # absolute, on every weight, after 40 (dense) and 20 (conv) steps


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir):
    tmp = tmp_path_factory.mktemp("ddp")
    script = tmp / "train.py"
    script.write_text(SCRIPT)
    subprocess.run([sys.executable, str(script), str(tmp / "single")], check=True)
    launched = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(script),
            str(tmp / "ddp"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert "world 2 rank 0" in launched.stdout and "world 2 rank 1" in launched.stdout
    return tmp


@pytest.mark.parametrize("name", ["dense", "conv", "ensemble"])
def test_two_gloo_processes_match_one_process(runs, name):
    single, ddp = hg.load(runs / f"single-{name}"), hg.load(runs / f"ddp-{name}")
    worst = max(float((a - b).abs().max()) for a, b in zip(single.state_dict().values(), ddp.state_dict().values()))
    print(f"{name}: largest weight difference, 2 gloo processes vs 1: {worst:.1e}")  # pytest -s shows it
    assert worst < TOLERANCE
    np.testing.assert_allclose(ddp.history_.train_loss, single.history_.train_loss, rtol=1e-5)
    if single.history_.val_loss:
        np.testing.assert_allclose(ddp.history_.val_loss, single.history_.val_loss, rtol=1e-5)
    for a, b in zip(single.history_.members, ddp.history_.members, strict=True):  # each member stopped alike
        assert (a.epochs, a.best_epoch, a.stopped_early) == (b.epochs, b.best_epoch, b.stopped_early)


def test_only_rank_zero_writes_checkpoints(runs):
    written = sorted(p.name for p in (runs / "ddp-ckpt").iterdir())
    assert written == ["epoch-000001.json", "epoch-000001.safetensors", "epoch-000002.json", "epoch-000002.safetensors"]
    assert not torch.distributed.is_initialized()  # the test process itself never joined a group
