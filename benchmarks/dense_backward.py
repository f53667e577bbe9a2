"""A hand-written backward for the dense model, measured inside hg.fit against autograd (the
experiment behind the README's note that it is not in the library).

``DenseMSE`` computes the per-sample MSE of a ReLU MLP with a sigmoid / identity output and its
gradient by hand (the sigmoid-MSE gradient in one expression); the script swaps it in for
``DenseAutoencoder.training_loss``, checks the gradients against autograd, and times one epoch of
``hg.fit`` on 30,000 Fashion-MNIST rows, alternating the two, 4 times, at batch 32 and 256
(median microseconds per step).

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/dense_backward.py
"""

from __future__ import annotations

import statistics

import torch

import hourglass as hg
from hourglass.models.base import TrainingLoss
from hourglass.models.dense import DenseAutoencoder


class DenseMSE(torch.autograd.Function):
    """Per-sample MSE of a ReLU MLP with a sigmoid / identity output, hand-written backward."""

    @staticmethod
    def forward(ctx, x, t, sigmoid_out, relu_mask, *params):
        n = len(params) // 2
        ws, bs = params[:n], params[n:]
        hs = [x]
        h = x
        for i in range(n):
            h = torch.addmm(bs[i], h, ws[i].t())
            if i < n - 1 and relu_mask[i]:
                h = h.clamp_min_(0)
            hs.append(h)
        o = h.sigmoid() if sigmoid_out else h
        d = o - t
        per = d.square().mean(1)
        ctx.save_for_backward(d, o, *hs, *ws)
        ctx.n, ctx.sigmoid_out, ctx.relu_mask = n, sigmoid_out, relu_mask
        return per

    @staticmethod
    def backward(ctx, grad):
        n = ctx.n
        d, o, *rest = ctx.saved_tensors
        hs, ws = rest[: n + 1], rest[n + 1 :]
        g = d * (grad[:, None] * (2.0 / d.shape[1]))
        if ctx.sigmoid_out:
            g = g * o * (1 - o)
        gws, gbs = [None] * n, [None] * n
        for i in reversed(range(n)):
            gws[i] = g.t().mm(hs[i])
            gbs[i] = g.sum(0)
            if i > 0:
                g = g.mm(ws[i])
                if ctx.relu_mask[i - 1]:
                    g = g * (hs[i] > 0)
        return (None, None, None, None, *gws, *gbs)


def fused_training_loss(self, x, target, *, loss, labels=None):
    lin = [m for m in self.modules() if isinstance(m, torch.nn.Linear)]
    n = len(lin)
    relu = tuple(True for _ in range(n - 1))
    per = DenseMSE.apply(
        x.flatten(1),
        target.flatten(1),
        self.config.output_activation == "sigmoid",
        relu,
        *[layer.weight for layer in lin],
        *[layer.bias for layer in lin],
    )
    return TrainingLoss(per)


def main():
    ds = hg.datasets.load("fashion-mnist")
    x = ds.x_train[:30000]
    orig = DenseAutoencoder.training_loss
    # gradient check
    m = hg.create_model("dense", input_shape=(1, 28, 28), seed=0)
    xb = torch.from_numpy(x[:32])
    l1 = orig(m, xb, xb, loss="mse").per_sample.mean()
    g1 = torch.autograd.grad(l1, list(m.parameters()))
    l2 = fused_training_loss(m, xb, xb, loss="mse").per_sample.mean()
    g2 = torch.autograd.grad(l2, list(m.parameters()))
    print("grad max diff", max((a - b).abs().max().item() for a, b in zip(g1, g2)))
    for bs in (32, 256):
        r = {"autograd": [], "fused": []}
        for _ in range(4):
            for name, fn in (("autograd", orig), ("fused", fused_training_loss)):
                DenseAutoencoder.training_loss = fn
                m = hg.create_model("dense", input_shape=(1, 28, 28), seed=0)
                h = hg.fit(m, x, epochs=1, batch_size=bs, progress=False)
                r[name].append(h.epoch_seconds[0] / (len(x) / bs) * 1e6)
        DenseAutoencoder.training_loss = orig
        print(bs, {k: round(statistics.median(v)) for k, v in r.items()}, "us/step", flush=True)


if __name__ == "__main__":
    main()
