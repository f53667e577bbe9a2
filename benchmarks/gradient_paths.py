"""Which of hg.fit's CPU speed paths earn their code: each against plain torch, paired, in one run.

hourglass's models train on the CPU through special paths: hand-written gradients
(``models/gradients.py``, a model's ``manual_gradients``), the decoder's last convolution as a
reformulation (``OutputConv2d``), the conv1d model's layers on a 2-d path
(``ChannelsLastConv1d``) and a dropout that draws its mask its own way (``FastDropout``). The
rule (issue 39): a path stays only where it saves at least 10 % of a whole training step for a
default model (``create_model(name)``'s defaults) at ``hg.fit``'s default batch (32).

For each model, the variants train the same weights with ``hg.fit`` on paired epochs (each
variant's epoch k next to the others', in a rotating order; benchmarks/speed.py's
``paired_variants``); the figure is the median of the paired epoch-time ratios to "as shipped":

- ``dense``: the Fashion-MNIST tutorial's 784-64-784 model (``--rows`` images);
- ``conv``: the Fashion-MNIST conv denoiser (noise 0.2, ``--rows`` images);
- ``conv1d``: the Keras time-series tutorial's model on ECG5000's 4,000 training beats (dropout 0.2).

Variants: as shipped; autograd on the same layers; plain torch layers (``nn.Conv2d``,
``nn.Conv1d``, ``nn.ConvTranspose1d``, ``nn.Dropout``) with the hand-written gradients where they
still run; plain torch layers through autograd (what a model built from torch's layers gets).
``saves`` is the share of a step the shipped path saves against each variant: 1 - shipped / variant.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/gradient_paths.py [--batch-sizes 32]

Writes benchmarks/results/gradient_paths.json.
"""

from __future__ import annotations

import argparse
import copy

from common import write_json
from speed import hourglass_adam, on_autograd, paired_variants, print_variant
from torch import nn

import hourglass as hg
from hourglass.models.layers import ChannelsLastConv1d, ChannelsLastConvTranspose1d, FastDropout, OutputConv2d

PLAIN = {OutputConv2d: nn.Conv2d, ChannelsLastConv1d: nn.Conv1d, ChannelsLastConvTranspose1d: nn.ConvTranspose1d}
PLAIN[FastDropout] = nn.Dropout


def plain_layers(model):
    """``model`` with torch's own layers for hourglass's special ones (the same parameters)."""
    model = copy.deepcopy(model)
    for m in model.modules():
        if type(m) in PLAIN:
            m.__class__ = PLAIN[type(m)]
    return model


VARIANTS = {
    "as shipped": ((lambda m: m), hourglass_adam),
    "autograd, same layers": (on_autograd, hourglass_adam),
    "plain torch layers, hand-written gradients": (plain_layers, hourglass_adam),
    "plain torch layers, autograd": (lambda m: on_autograd(plain_layers(m)), hourglass_adam),
}


def data(name: str, rows: int):
    if name == "conv1d":
        ds = hg.datasets.load("ecg5000", split="tutorial")
        return ds.x_train, ds.x_test, (140,)
    fm = hg.datasets.load("fashion-mnist")
    return fm.x_train[:rows], fm.x_test[:2000], (1, 28, 28)


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
    payload = {"benchmark": "gradient_paths", "epochs": args.epochs, "seeds": args.seeds, "rows": args.rows}
    write_json("gradient_paths", {**payload, "results": rows}, args.out)


if __name__ == "__main__":
    main()
