"""Which of hg.fit's CPU speed paths earn their code: each against plain torch, paired, in one run.

hourglass's models are built from torch's layers; a CPU fit trains them through special paths:
hand-written gradients (``training/gradients.py``, ``FitOptions.gradients``) and, for the fit's
duration, faster twins of torch's layers (``training/layers.py``, ``FitOptions.layers``): the
decoder's last convolution as a reformulation (``OutputConv2d``), the conv1d model's layers on a
2-d path (``ChannelsLastConv1d``) and a dropout that draws its mask its own way (``FastDropout``). The
rule (issue 39): a path stays only where it saves at least 10 % of a whole training step for a
default model (``create_model(name)``'s defaults) at ``hg.fit``'s default batch (32).

For each model, the variants train the same weights with ``hg.fit`` on paired epochs (each
variant's epoch k next to the others', in a rotating order; benchmarks/speed.py's
``paired_variants``); the figure is the median of the paired epoch-time ratios to "as shipped":

- ``dense``: the Fashion-MNIST tutorial's 784-64-784 model (``--rows`` images);
- ``conv``: the Fashion-MNIST conv denoiser (noise 0.2, ``--rows`` images);
- ``conv1d``: the Keras time-series tutorial's model on ECG5000's 4,000 training beats (dropout 0.2).

Variants, each through hg.fit's public options: as shipped; autograd on the same layers
(``gradients="autograd"``); torch's own layers throughout (``layers="torch"``) with the
hand-written gradients where they still run; both (what a plain torch loop's model gets).
``saves`` is the share of a step the shipped path saves against each variant: 1 - shipped / variant.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/gradient_paths.py [--batch-sizes 32]

Also times the written-out step's loss gradient, written beside the loss against autograd over
the loss alone (``loss_gradient``). Writes benchmarks/results/gradient_paths.json.
"""

from __future__ import annotations

import argparse
import math
import statistics

import torch
from common import run_times, write_json
from speed import hourglass_adam, paired_variants, print_variant

import hourglass as hg

# each variant is a set of public hg.fit options: "gradients" (written out or autograd) and
# "layers" (the faster twins of training/layers.py, or torch's own layers throughout)
VARIANTS = {
    "as shipped": ({}, hourglass_adam),
    "autograd, same layers": ({"gradients": "autograd"}, hourglass_adam),
    "plain torch layers, hand-written gradients": ({"layers": "torch"}, hourglass_adam),
    "plain torch layers, autograd": ({"gradients": "autograd", "layers": "torch"}, hourglass_adam),
}


def data(name: str, rows: int):
    if name == "conv1d":
        ds = hg.datasets.load("ecg5000", split="tutorial")
        return ds.x_train, ds.x_test, (140,)
    fm = hg.datasets.load("fashion-mnist")
    return fm.x_train[:rows], fm.x_test[:2000], (1, 28, 28)


def loss_gradient_ways(name: str) -> dict:
    """The two ways to a batch-32 step's loss gradient for ``name``, each a function of no arguments."""
    from hourglass.models.base import reconstruction_loss_gradient
    from hourglass.training.gradients import autograd_loss

    model = hg.create_model(name, input_shape=(1, 28, 28), seed=0)
    logits, target = torch.randn(32, 1, 28, 28), torch.rand(32, 1, 28, 28)
    if name == "dense":  # its chain's output is flat
        logits, target = logits.flatten(1), target.flatten(1)
    by_autograd = autograd_loss(lambda out, t: model.reconstruction(out, t, loss="mse").trimmed_mean(0.0))
    return {
        "written beside the loss (hourglass)": lambda: reconstruction_loss_gradient("mse", logits, target, "sigmoid"),
        "autograd over the loss alone": lambda: by_autograd(logits, target),
    }


def loss_gradient_rows(steps: dict, repeats: int = 9) -> list[dict]:
    """The written-out step's loss gradient: written beside the loss (``reconstruction_loss_gradient``,
    what hg.fit runs) against autograd over the loss alone (``training.gradients.autograd_loss``
    over ``reconstruction(...).trimmed_mean``), in microseconds per batch-32 step and as a share of
    the shipped whole step (``steps``: model -> seconds per step, from this run)."""
    rows = []
    for name, step_s in steps.items():
        ways = loss_gradient_ways(name)
        times = {way: [] for way in ways}
        for _ in range(repeats):  # blocks of 500 calls, the two alternating
            for way, fn in ways.items():
                times[way] += run_times(lambda fn=fn: [fn() for _ in range(500)], 1)
        us = {way: statistics.median(t) / 500 * 1e6 for way, t in times.items()}
        extra = us["autograd over the loss alone"] - us["written beside the loss (hourglass)"]
        row = {"model": name, "batch_size": 32, "us": us, "step_us": step_s * 1e6}
        row["autograd_adds_share_of_step"] = extra / row["step_us"]
        print(
            f"{name:6s} bs=  32 loss gradient: "
            + ", ".join(f"{w} {t:.0f} us" for w, t in us.items())
            + f"; autograd adds {extra:.0f} us, {row['autograd_adds_share_of_step']:.1%} of a step",
            flush=True,
        )
        rows.append(row)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["dense", "conv", "conv1d"])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[32])
    ap.add_argument("--rows", type=int, default=20000, help="Fashion-MNIST images for dense and conv")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out")
    args = ap.parse_args()
    rows = []
    for name in args.models:
        x_train, x_val, shape = data(name, args.rows)
        for bs in args.batch_sizes:
            result = paired_variants(name, x_train, x_val, bs, args.epochs, args.seeds, VARIANTS, input_shape=shape)
            for v, r in result.items():
                saves = 1 - 1 / r["time_vs_first_median"]
                print_variant(name, bs, v, r, f"shipped saves {saves:6.1%}")
                rows.append({"model": name, "batch_size": bs, "variant": v, **r, "shipped_saves": saves})
    steps = {  # seconds per shipped step at batch 32, from this run
        r["model"]: r["sec_per_epoch"] / math.ceil(args.rows / 32)
        for r in rows
        if r["variant"] == "as shipped" and r["batch_size"] == 32 and r["model"] in ("dense", "conv")
    }
    payload = {"benchmark": "gradient_paths", "epochs": args.epochs, "seeds": args.seeds, "rows": args.rows}
    payload["loss_gradient"] = loss_gradient_rows(steps)
    write_json("gradient_paths", {**payload, "results": rows}, args.out)


if __name__ == "__main__":
    main()
