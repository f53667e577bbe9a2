"""What one dense training step at batch 32 costs, and how far below hg.fit's step the floor lies.

Issue 16 asks hg.fit to be 2x faster than the typical hand-written loop at batch 32. This measures
the same step (the tutorial's dense 784-64-784 autoencoder, sigmoid output, MSE, Adam, batch 32
of Fashion-MNIST-shaped data) four ways, interleaved in rounds so that all meet the same machine
conditions:

- ``typical``: DataLoader + ``nn.Sequential`` + ``torch.optim.Adam`` + ``loss.item()`` every step;
- ``hourglass-like``: what hg.fit's step does (rows gathered by index from one tensor, functional
  fused Adam, losses kept on the device, gradients set to None);
- ``one autograd node``: the same with encoder and decoder as one ``torch.autograd.Function``
  whose backward is written by hand (fewer autograd nodes, more Python);
- ``no autograd``: forward and hand-written backward under ``torch.no_grad`` (the floor a
  PyTorch-eager step can reach: only the matmuls, the element-wise kernels and Adam remain).

    python benchmarks/step_floor.py [--steps 1500] [--rounds 3]

Prints ms per step and the ratio of the typical loop's time to each; writes
benchmarks/results/step_floor.json.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from common import write_json
from torch import nn
from torch.optim.adam import adam as functional_adam

B, ROWS = 32, 60_000


def plain():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 784), nn.Sigmoid())


class Adam:
    """torch.optim.adam.adam(fused=True) on plain lists, as hourglass's FunctionalAdam steps it."""

    def __init__(self, params):
        self.params = params
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.steps = [torch.zeros(()) for _ in params]

    def step(self, grads):
        functional_adam(
            self.params, grads, self.m, self.v, [], self.steps, fused=True, amsgrad=False,
            beta1=0.9, beta2=0.999, lr=1e-3, weight_decay=0.0, eps=1e-8, maximize=False,
        )  # fmt: skip


class DenseChain(torch.autograd.Function):
    """Linear -> ReLU -> Linear as one autograd node, its backward written by hand."""

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2):
        h = torch.relu(torch.addmm(b1, x, w1.t()))
        ctx.save_for_backward(x, h, w1, w2)
        return torch.addmm(b2, h, w2.t())

    @staticmethod
    def backward(ctx, g):
        x, h, w1, w2 = ctx.saved_tensors
        gh = g.mm(w2) * (h > 0)
        return None, gh.t().mm(x), gh.sum(0), g.t().mm(h), g.sum(0)


def typical(x, steps):
    model, loader = (
        plain(),
        torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x), batch_size=B, shuffle=True),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches, running = iter(loader), 0.0
    start = time.perf_counter()
    for _ in range(steps):
        xb, yb = next(batches)
        opt.zero_grad()
        loss = F.mse_loss(model(xb), yb)
        loss.backward()
        opt.step()
        running += loss.item()
    return time.perf_counter() - start


def _indexed(x, steps, step):
    params = [p.detach().requires_grad_() for p in plain().parameters()]
    opt, order, losses = Adam(params), torch.randperm(ROWS), []
    start = time.perf_counter()
    for i in range(steps):
        xb = x.index_select(0, order[(i * B) % (ROWS - B) :][:B])
        losses.append(step(xb, params, opt))
    torch.stack(losses).sum().item()
    return time.perf_counter() - start


def _backward_and_step(loss, params, opt):
    loss.backward()
    opt.step([q.grad for q in params])
    for q in params:
        q.grad = None
    return loss.detach()


def hourglass_like(x, steps):
    def step(xb, p, opt):
        out = torch.sigmoid(F.linear(torch.relu(F.linear(xb, p[0], p[1])), p[2], p[3]))
        return _backward_and_step(F.mse_loss(out, xb), p, opt)

    return _indexed(x, steps, step)


def one_node(x, steps):
    def step(xb, p, opt):
        return _backward_and_step(F.mse_loss(torch.sigmoid(DenseChain.apply(xb, *p)), xb), p, opt)

    return _indexed(x, steps, step)


def no_autograd(x, steps):
    @torch.no_grad()
    def step(xb, p, opt):
        w1, b1, w2, b2 = p
        h = torch.relu(torch.addmm(b1, xb, w1.t()))
        out = torch.sigmoid(torch.addmm(b2, h, w2.t()))
        d = out - xb
        loss = d.square().mean()
        g2 = d.mul_(out * (1 - out)).mul_(2.0 / d.numel())  # d loss / d pre-sigmoid
        gh = g2.mm(w2).mul_(h > 0)
        opt.step([gh.t().mm(xb), gh.sum(0), g2.t().mm(h), g2.sum(0)])
        return loss

    return _indexed(x, steps, step)


VARIANTS = {
    "typical": typical,
    "hourglass-like": hourglass_like,
    "one autograd node": one_node,
    "no autograd": no_autograd,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    x = torch.rand(ROWS, 784)
    seconds = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, run in VARIANTS.items():
            run(x, 200)  # warm-up
            seconds[name].append(run(x, args.steps) / args.steps)
    base = statistics.median(seconds["typical"])
    rows = []
    for name, values in seconds.items():
        ms = 1e3 * statistics.median(values)
        rows.append({"variant": name, "ms_per_step": ms, "typical_over_this": base / statistics.median(values)})
        print(f"{name:18s} {ms:6.3f} ms/step   typical / this = {rows[-1]['typical_over_this']:.2f}x")
    write_json(
        "step_floor",
        {"protocol": __doc__, "batch_size": B, "steps": args.steps, "rows": rows, "seconds": seconds},
        args.out,
    )


if __name__ == "__main__":
    main()
