"""The conv1d model's CPU training step: torch's 1-d layers and dropout against their faster twins
(the 2-d path, FastDropout's masks) and against a typical hand-written loop, in one run.

The model is the Keras time-series tutorial's (``hg.create_model("conv1d", input_shape=(140,))``:
Conv1D(32, 7) and Conv1D(16, 7) with stride 2 and dropout 0.2, mirrored by transposed
convolutions, a last Conv1D to one channel, sigmoid), trained on ECG5000's 4,000 training beats (the
tutorial split) with MSE. The training comparisons are on paired epochs (each variant's epoch k
next to the others', in a rotating order; the figure is the median of the paired ratios):

- ``variants``: hg.fit on torch's own ``nn.Conv1d`` / ``nn.ConvTranspose1d`` and ``nn.Dropout``
  (``layers="torch"``) against their faster twins (``hourglass.training.layers``: the 2-d path of
  ``ChannelsLastConv1d`` and ``FastDropout``'s mask), both through autograd (the hand-written
  gradients it also had saved 6-7 % of a step, under the 10 % bar, and went:
  docs/decisions/gradient-paths.md);
- ``masks``: dropout's two masks per step drawn by torch's ``nn.Dropout`` and by ``FastDropout``,
  against the step of the model as it was;
- ``typical``: hg.fit against the typical hand-written loop (the same layers in plain torch,
  ``nn.Sequential``, a DataLoader, ``loss.item()`` every step, torch's Adam; benchmarks/speed.py's
  ``TypicalLoop``), from the same initial weights.

    python benchmarks/conv1d_speed.py [--batch-sizes 32 128 256]   # ECG5000 ships with the package

Prints seconds per epoch, paired ratios and validation MSE; writes
benchmarks/results/conv1d_speed.json.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch
from common import run_times, write_json
from speed import TypicalLoop, copy_weights, hourglass_adam, paired_variants, typical_summary, val_mse
from torch import nn

import hourglass as hg
from hourglass.training.layers import FastDropout

LENGTH = 140


def mask_rows(variant_rows, args, rows):
    """Dropout's two masks per step (on the encoder's 32 x 70 and the decoder's 16 x 70 feature
    maps), drawn by torch's ``nn.Dropout`` and by ``FastDropout`` (forward, in training), against
    the step of the model as it was (``variants``' first row)."""
    out = []
    for bs in args.batch_sizes:
        before = next(r for r in variant_rows if r["batch_size"] == bs)
        step_us = before["sec_per_epoch"] / -(-rows // bs) * 1e6
        inputs = [torch.rand(bs, 70, c).transpose(1, 2) for c in (32, 16)]  # as the 2-d path lays them out
        layers = {"torch nn.Dropout": nn.Dropout(0.2), "FastDropout": FastDropout(0.2)}
        times = {name: [] for name in layers}
        for _ in range(9):  # blocks of 20 steps' masks, the two alternating
            for name, layer in layers.items():
                times[name] += run_times(
                    lambda layer=layer, inputs=inputs: [layer(x) for x in inputs for _ in range(20)], 1
                )
        us = {name: statistics.median(t) / 20 * 1e6 for name, t in times.items()}
        row = {"batch_size": bs, "masks_us_per_step": us, "step_before_us": step_us}
        row["torch_share_of_step_before"] = us["torch nn.Dropout"] / step_us
        print(
            f"conv1d bs={bs:4d} dropout masks per step: torch {us['torch nn.Dropout']:7.0f} us, FastDropout "
            f"{us['FastDropout']:6.0f} us ({us['torch nn.Dropout'] / us['FastDropout']:.1f}x); torch's: "
            f"{row['torch_share_of_step_before']:.0%} of the step before ({step_us:.0f} us)",
            flush=True,
        )
        out.append(row)
    return out


def plain_model():
    """The tutorial's conv1d model as a reader writes it in PyTorch."""
    return nn.Sequential(
        nn.Conv1d(1, 32, 7, stride=2, padding=3),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Conv1d(32, 16, 7, stride=2, padding=3),
        nn.ReLU(),
        nn.ConvTranspose1d(16, 16, 7, stride=2, padding=3, output_padding=1),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.ConvTranspose1d(16, 32, 7, stride=2, padding=3, output_padding=1),
        nn.ReLU(),
        nn.Conv1d(32, 1, 7, padding=3),
        nn.Sigmoid(),
    )


def variants_rows(x, x_val, args):
    variants = {
        "torch's layers and dropout (layers='torch')": ({"layers": "torch"}, hourglass_adam),
        "their twins: 2-d path, FastDropout (hourglass)": ({}, hourglass_adam),
    }
    rows = []
    for bs in args.batch_sizes:
        result = paired_variants("conv1d", x, x_val, bs, args.epochs, args.seeds, variants, input_shape=(LENGTH,))
        for v, r in result.items():
            print(
                f"conv1d bs={bs:4d} {v:58s} {r['sec_per_epoch']:6.3f} s/epoch  x{r['time_vs_first_median']:.3f} of "
                f"the first (paired {r['time_vs_first_min']:.2f}-{r['time_vs_first_max']:.2f}); "
                f"val MSE {np.mean(r['val_mse']):.5f}; {r['gradients']} gradients",
                flush=True,
            )
            rows.append({"batch_size": bs, "variant": v, **r, "speedup_over_first": 1 / r["time_vs_first_median"]})
    return rows


def typical_rows(x, x_val, args):
    rows = []
    x_series = torch.from_numpy(x).reshape(len(x), 1, LENGTH)  # the reader reshapes once, as in Keras
    for bs in args.batch_sizes:
        sec, ratios, val = {"typical": [], "hourglass": []}, [], {"typical": [], "hourglass": []}
        for seed in args.seeds:
            ours = hg.create_model("conv1d", input_shape=(LENGTH,), seed=seed)
            typical = TypicalLoop(copy_weights(ours, plain_model()), x_series, bs, seed, denoise=False)
            history = hg.fit(
                ours,
                x,
                epochs=args.epochs,
                batch_size=bs,
                loss="mse",
                seed=seed,
                progress=False,
                callbacks=[lambda epoch, history, model, typical=typical: typical.epoch()],
            )
            sec["typical"] += typical.seconds
            sec["hourglass"] += history.epoch_seconds
            ratios += [a / b for a, b in zip(typical.seconds, history.epoch_seconds)]
            val["hourglass"].append(val_mse(ours, x_val, False))
            with torch.no_grad():
                out = typical.model(torch.from_numpy(x_val).reshape(len(x_val), 1, LENGTH)).reshape(len(x_val), -1)
            val["typical"].append(float(np.mean((out.numpy() - x_val) ** 2)))
        rows.append(typical_summary("conv1d", bs, sec, ratios, val))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128, 256])
    ap.add_argument("--quick", action="store_true", help="1,000 rows, 2 epochs, 1 seed")
    ap.add_argument("--out")
    args = ap.parse_args()
    ds = hg.datasets.load("ecg5000", split="tutorial")
    x, x_val = ds.x_train, ds.x_test
    if args.quick:
        x, args.epochs, args.seeds = x[:1000], 2, args.seeds[:1]
    payload = {
        "benchmark": "conv1d_speed",
        "model": "conv1d, input_shape=(140,), defaults (the Keras time-series tutorial's)",
        "rows": len(x),
        "epochs": args.epochs,
        "seeds": args.seeds,
        "variants": variants_rows(x, x_val, args),
        "typical": typical_rows(x, x_val, args),
    }
    payload["masks"] = mask_rows(payload["variants"], args, len(x))
    write_json("conv1d_speed", payload, args.out)


if __name__ == "__main__":
    main()
