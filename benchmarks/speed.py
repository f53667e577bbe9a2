"""hg.fit against a typical hand-written PyTorch loop, in one run.

The typical loop is what a tutorial reader writes: a DataLoader over a TensorDataset,
``zero_grad / forward / loss / backward / step`` and ``loss.item()`` every step, PyTorch's
default Adam. Both train the same architecture from the same initial weights with the same batch
size on Fashion-MNIST: the tutorial's dense AE (plain reconstruction) and its conv denoiser
(Gaussian noise 0.2, clipped to [0, 1], redrawn every batch in both loops).

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/speed.py            # full
    HOURGLASS_DATA_DIR=../shared/data python benchmarks/speed.py --quick    # a smoke run

Prints seconds per epoch (median), final validation MSE and the speed ratio; writes
benchmarks/results/speed.json.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

import hourglass as hg
from common import write_json

NOISE = 0.2


def typical_loop(model, x, batch_size, epochs, seed, denoise):
    torch.manual_seed(seed)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x), batch_size=batch_size, shuffle=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    times, losses = [], []
    for _ in range(epochs):
        start = time.perf_counter()
        running = 0.0
        for xb, yb in loader:
            inp = torch.clamp(xb + NOISE * torch.randn_like(xb), 0.0, 1.0) if denoise else xb
            opt.zero_grad()
            loss = F.mse_loss(model(inp), yb)
            loss.backward()
            opt.step()
            running += loss.item() * len(xb)
        times.append(time.perf_counter() - start)
        losses.append(running / len(x))
    model.eval()
    return times, losses


def hg_loop(model, x, batch_size, epochs, seed, denoise):
    corruption = hg.GaussianNoise(NOISE, clip=(0, 1)) if denoise else None
    history = hg.fit(model, x, corruption=corruption, epochs=epochs, batch_size=batch_size, loss="mse",
                     seed=seed, device="cpu", progress=False)
    return history.epoch_seconds, history.train_loss


def val_mse(model, x_val, denoise, seed=1234):
    """MSE of the clean validation images, from fixed noisy inputs for the denoiser."""
    x_in = x_val
    if denoise:
        g = torch.Generator().manual_seed(seed)
        x_in = hg.GaussianNoise(NOISE, clip=(0, 1))(torch.from_numpy(x_val), g).numpy()
    return float(np.mean((hg.reconstruct(model, x_in) - x_val) ** 2))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256])
    ap.add_argument("--models", nargs="+", default=["dense", "conv"])
    ap.add_argument("--quick", action="store_true", help="6,000 rows, 1 epoch, 1 seed")
    ap.add_argument("--out")
    args = ap.parse_args()

    ds = hg.datasets.load("fashion-mnist")
    x_train, x_val = ds.x_train, ds.x_test
    if args.quick:
        x_train, x_val, args.epochs, args.seeds = x_train[:6000], x_val[:2000], 1, args.seeds[:1]
    x_tensor = torch.from_numpy(x_train)

    rows = []
    for name in args.models:
        denoise = name == "conv"
        for bs in args.batch_sizes:
            per = {"typical": {"sec": [], "val": []}, "hourglass": {"sec": [], "val": []}}
            for seed in args.seeds:
                for which, loop in (("typical", typical_loop), ("hourglass", hg_loop)):
                    model = hg.create_model(name, input_shape=(1, 28, 28), seed=seed)
                    secs, _ = loop(model, x_tensor if which == "typical" else x_train, bs, args.epochs, seed, denoise)
                    per[which]["sec"] += secs
                    per[which]["val"].append(val_mse(model, x_val, denoise))
            t_typ = statistics.median(per["typical"]["sec"])
            t_hg = statistics.median(per["hourglass"]["sec"])
            row = {
                "model": name, "task": "denoise 0.2" if denoise else "reconstruct", "batch_size": bs,
                "epochs": args.epochs, "seeds": args.seeds, "rows": len(x_train),
                "typical_sec_per_epoch": t_typ, "hourglass_sec_per_epoch": t_hg, "speedup": t_typ / t_hg,
                "typical_val_mse": per["typical"]["val"], "hourglass_val_mse": per["hourglass"]["val"],
                "typical_epoch_seconds": per["typical"]["sec"], "hourglass_epoch_seconds": per["hourglass"]["sec"],
            }
            rows.append(row)
            print(f"{name:6s} bs={bs:4d}  typical {t_typ:7.2f} s/epoch  hourglass {t_hg:7.2f} s/epoch  "
                  f"speedup {t_typ / t_hg:4.2f}x  val MSE typical {np.mean(row['typical_val_mse']):.5f} "
                  f"hourglass {np.mean(row['hourglass_val_mse']):.5f}", flush=True)
    write_json("speed", {"benchmark": "speed", "results": rows}, args.out)


if __name__ == "__main__":
    main()
