"""hg.fit against a typical hand-written PyTorch loop, in one run.

The typical loop is what a tutorial reader writes: the tutorial's model in plain torch layers
(``nn.Sequential`` of ``nn.Linear`` / ``nn.Conv2d`` / ``nn.ConvTranspose2d``), a DataLoader over a
TensorDataset, ``zero_grad / forward / loss / backward / step`` and ``loss.item()`` every step,
PyTorch's default Adam. Both train the same architecture from the same initial weights (copied
from hourglass's model into the plain one, parameter by parameter) with the same batch
size on Fashion-MNIST: the tutorial's dense AE (plain reconstruction) and its conv denoiser
(Gaussian noise 0.2, clipped to [0, 1], redrawn every batch in both loops).

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/speed.py            # full
    HOURGLASS_DATA_DIR=../shared/data python benchmarks/speed.py --quick    # a smoke run
    python benchmarks/speed.py --device cuda [--compile] [--precision bf16]  # on a GPU machine

Which of hg.fit's own CPU paths earn their code (hand-written gradients, faster layers), each
against plain torch on paired epochs: benchmarks/gradient_paths.py, which uses this module's
``paired_variants``. The private torch calls 0.1.0 made, and the variants that were measured and
rejected, are in docs/decisions/ with their figures.

The two loops' epochs alternate (hg.fit's epoch k, then the typical loop's epoch k, through an
hg.fit callback), so that both meet the same machine conditions; the speedup is the median of
the paired epochs' time ratios. Prints seconds per epoch (median), the final validation MSE of each
and the speedup; writes benchmarks/results/speed.json.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from common import write_json
from torch import nn

import hourglass as hg

NOISE = 0.2


def plain_model(name):
    """The tutorial's model as a reader writes it in PyTorch, with torch's own layers only."""
    if name == "dense":
        return nn.Sequential(
            nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28))
        )
    if name == "conv":
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 8, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(8, 8, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(8, 16, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 1, 3, padding=1),
            nn.Sigmoid(),
        )
    raise ValueError(f"no plain model for {name!r}")


def copy_weights(source, target):
    """Same initial weights in both loops: copy parameter by parameter, checking the shapes match."""
    src, dst = list(source.parameters()), list(target.parameters())
    assert len(src) == len(dst), (len(src), len(dst))
    with torch.no_grad():
        for a, b in zip(src, dst):
            assert a.shape == b.shape, (a.shape, b.shape)
            b.copy_(a)
    return target


class TypicalLoop:
    """The hand-written loop, one epoch per call, so its epochs can interleave with hg.fit's."""

    def __init__(self, model, x, batch_size, seed, denoise, device="cpu"):
        torch.manual_seed(seed)
        self.model, self.denoise, self.device = model.to(device), denoise, device
        self.loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(x, x), batch_size=batch_size, shuffle=True
        )
        self.opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        self.seconds, self.losses = [], []

    def epoch(self):
        model, opt = self.model, self.opt
        model.train()
        start = time.perf_counter()
        running = 0.0
        for xb, yb in self.loader:
            xb, yb = xb.to(self.device), yb.to(self.device)  # what a tutorial's GPU loop does
            inp = torch.clamp(xb + NOISE * torch.randn_like(xb), 0.0, 1.0) if self.denoise else xb
            opt.zero_grad()
            loss = F.mse_loss(model(inp), yb)
            loss.backward()
            opt.step()
            running += loss.item() * len(xb)
        if str(self.device).startswith("cuda"):
            torch.cuda.synchronize()
        self.seconds.append(time.perf_counter() - start)
        self.losses.append(running / len(self.loader.dataset))
        model.eval()


def paired_run(
    name, x_train, x_tensor, batch_size, epochs, seed, denoise, precision="fp32", device="cpu", compile=False
):
    """Train both loops from the same initial weights, alternating epochs (hg.fit's epoch k, then
    the typical loop's epoch k), so that both see the same machine conditions."""
    ours = hg.create_model(name, input_shape=(1, 28, 28), seed=seed)
    typical = TypicalLoop(copy_weights(ours, plain_model(name)), x_tensor, batch_size, seed, denoise, device)

    def run_typical_epoch(epoch, history, model):
        typical.epoch()

    history = hg.fit(
        ours,
        x_train,
        corruption=hg.GaussianNoise(NOISE, clip=(0, 1)) if denoise else None,
        epochs=epochs,
        batch_size=batch_size,
        loss="mse",
        seed=seed,
        device=device,
        progress=False,
        precision=precision,
        compile=compile,
        callbacks=[run_typical_epoch],
    )
    return typical, ours, history


def val_mse(model, x_val, denoise, seed=1234):
    """MSE of the clean validation images, from fixed noisy inputs for the denoiser."""
    x_in = x_val
    if denoise:
        g = torch.Generator().manual_seed(seed)
        x_in = hg.GaussianNoise(NOISE, clip=(0, 1))(torch.from_numpy(x_val), g).numpy()
    if isinstance(model, hg.models.Autoencoder):
        out = hg.reconstruct(model, x_in)
    else:
        device = next(model.parameters()).device
        with torch.no_grad():
            out = torch.cat([model(b.to(device)).cpu() for b in torch.from_numpy(x_in).split(1024)]).numpy()
    return float(np.mean((out - x_val) ** 2))


def hourglass_adam(params, lr, weight_decay):
    from hourglass.training.optim import FunctionalAdam

    return FunctionalAdam(params, lr=lr, weight_decay=weight_decay)


def typical_summary(label: str, bs: int, sec: dict, ratios: list, val: dict) -> dict:
    """A row of hg.fit against the typical loop (seconds per epoch of each, their paired ratios,
    validation MSE of each), printed."""
    row = {
        "batch_size": bs,
        "typical_sec_per_epoch": statistics.median(sec["typical"]),
        "hourglass_sec_per_epoch": statistics.median(sec["hourglass"]),
        "speedup_median_of_paired_epochs": statistics.median(ratios),
        "speedup_min": min(ratios),
        "speedup_max": max(ratios),
        "paired_ratios": ratios,
        "typical_val_mse": val["typical"],
        "hourglass_val_mse": val["hourglass"],
    }
    print(
        f"{label} bs={bs:4d} typical {row['typical_sec_per_epoch']:6.3f} s/epoch  hourglass "
        f"{row['hourglass_sec_per_epoch']:6.3f} s/epoch  speedup {row['speedup_median_of_paired_epochs']:.2f}x "
        f"(paired {min(ratios):.2f}-{max(ratios):.2f})  val MSE typical {np.mean(val['typical']):.5f} "
        f"hourglass {np.mean(val['hourglass']):.5f}",
        flush=True,
    )
    return row


def paired_variants(
    name, x_train, x_val, bs, epochs, seeds, variants, device="cpu", input_shape=(1, 28, 28), model_options=None
):
    """Each variant (a dict of hg.fit options, e.g. ``{"gradients": "autograd"}``, and an optimizer
    factory) trains the same model from the same weights with hg.fit, epoch by epoch in turn: for
    every epoch k, each variant runs its epoch k (one hg.fit call of one epoch, its optimizer
    carried over from call to call) right after the others', in a rotating order, so that paired
    epochs meet the same machine conditions. Returns per variant: seconds per epoch, val MSE per
    seed, the gradients that ran ("manual" or "autograd"), and the median / range of the paired
    ratios of its epoch time to the first variant's. ``input_shape`` and ``model_options``: the
    model built (default: the Fashion-MNIST tutorials' models)."""
    denoise = name == "conv"
    out = {v: {"epoch_seconds": [], "val_mse": []} for v in variants}
    names = list(variants)
    for seed in seeds:
        base = hg.create_model(name, input_shape=input_shape, seed=seed, **(model_options or {}))
        models = {v: copy.deepcopy(base) for v in variants}
        optimizers = {}

        def carried(v, optimizers=optimizers):
            def factory(params, lr, weight_decay):  # built on the first call, then the same object
                if v not in optimizers:
                    optimizers[v] = variants[v][1](params, lr=lr, weight_decay=weight_decay)
                return optimizers[v]

            return factory

        for epoch in range(epochs):
            for v in names[epoch % len(names) :] + names[: epoch % len(names)]:
                history = hg.fit(
                    models[v],
                    x_train,
                    epochs=1,
                    batch_size=bs,
                    loss="mse",
                    seed=seed * 1000 + epoch,
                    corruption=hg.GaussianNoise(NOISE, clip=(0, 1)) if denoise else None,
                    device=device,
                    progress=False,
                    optimizer=carried(v),
                    **variants[v][0],
                )
                out[v]["epoch_seconds"].append(history.epoch_seconds[0])
                out[v]["gradients"] = history.settings["gradients"]  # which ran: a fallback shows
        for v in names:
            out[v]["val_mse"].append(val_mse(models[v], x_val, denoise))
    first = names[0]
    for v in names:
        ratios = [a / b for a, b in zip(out[v]["epoch_seconds"], out[first]["epoch_seconds"])]
        out[v].update(
            sec_per_epoch=statistics.median(out[v]["epoch_seconds"]),
            time_vs_first_median=statistics.median(ratios),
            time_vs_first_min=min(ratios),
            time_vs_first_max=max(ratios),
        )
    return out


def print_variant(name: str, bs: int, variant: str, r: dict, note: str) -> None:
    """One line of ``paired_variants``' result ``r``: seconds per epoch, the paired ratio to the first."""
    print(
        f"{name:6s} bs={bs:4d} {variant:55s} {r['sec_per_epoch']:6.3f} s/epoch  x{r['time_vs_first_median']:.3f} "
        f"of the first (paired {r['time_vs_first_min']:.2f}-{r['time_vs_first_max']:.2f}); {note}; "
        f"{r['gradients']} gradients, val MSE {np.mean(r['val_mse']):.5f}",
        flush=True,
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256])
    ap.add_argument("--models", nargs="+", default=["dense", "conv"])
    ap.add_argument(
        "--precision",
        choices=["fp32", "bf16"],
        default="fp32",
        help="hg.fit's precision (the typical loop always runs fp32)",
    )
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto (both loops run there)")
    ap.add_argument("--compile", action="store_true", help="hg.fit(compile=True): torch.compile / CUDA graphs")
    ap.add_argument("--quick", action="store_true", help="6,000 rows, 1 epoch, 1 seed")
    ap.add_argument("--out")
    args = ap.parse_args()

    ds = hg.datasets.load("fashion-mnist")
    x_train, x_val = ds.x_train, ds.x_test
    if args.quick:
        x_train, x_val, args.epochs, args.seeds = x_train[:6000], x_val[:2000], 1, args.seeds[:1]
    x_tensor = torch.from_numpy(x_train)
    device = str(hg.training.resolve_device(args.device))

    rows = []
    for name in args.models:
        denoise = name == "conv"
        for bs in args.batch_sizes:
            sec = {"typical": [], "hourglass": []}
            val = {"typical": [], "hourglass": []}
            ratios = []
            for seed in args.seeds:
                typical, ours, history = paired_run(
                    name, x_train, x_tensor, bs, args.epochs, seed, denoise, args.precision, device, args.compile
                )
                sec["typical"] += typical.seconds
                sec["hourglass"] += history.epoch_seconds
                ratios += [a / b for a, b in zip(typical.seconds, history.epoch_seconds)]
                val["typical"].append(val_mse(typical.model, x_val, denoise))
                val["hourglass"].append(val_mse(ours, x_val, denoise))
            t_typ, t_hg = statistics.median(sec["typical"]), statistics.median(sec["hourglass"])
            row = {
                "model": name,
                "task": "denoise 0.2" if denoise else "reconstruct",
                "batch_size": bs,
                "hourglass_precision": args.precision,
                "device": device,
                "compile": args.compile,
                "epochs": args.epochs,
                "seeds": args.seeds,
                "rows": len(x_train),
                "typical_sec_per_epoch": t_typ,
                "hourglass_sec_per_epoch": t_hg,
                "speedup_median_of_paired_epochs": statistics.median(ratios),
                "speedup_min": min(ratios),
                "speedup_max": max(ratios),
                "typical_val_mse": val["typical"],
                "hourglass_val_mse": val["hourglass"],
                "typical_epoch_seconds": sec["typical"],
                "hourglass_epoch_seconds": sec["hourglass"],
            }
            rows.append(row)
            print(
                f"{name:6s} bs={bs:4d} {args.precision} {device}{' compiled' if args.compile else ''}  "
                f"typical {t_typ:6.2f} s/epoch  hourglass {t_hg:6.2f} s/epoch  "
                f"speedup {row['speedup_median_of_paired_epochs']:4.2f}x (paired epochs: {min(ratios):.2f}-"
                f"{max(ratios):.2f})  val MSE typical {np.mean(val['typical']):.5f} "
                f"hourglass {np.mean(val['hourglass']):.5f}",
                flush=True,
            )
    suffix = "".join(
        f"_{p}"
        for p in (
            args.precision if args.precision != "fp32" else "",
            "gpu" if device.startswith("cuda") else "",
            "compiled" if args.compile else "",
        )
        if p
    )
    write_json(f"speed{suffix}", {"benchmark": "speed", "results": rows}, args.out)


if __name__ == "__main__":
    main()
