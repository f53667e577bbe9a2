"""Hand-written gradients of a chain of ``nn.Linear`` layers and element-wise activations.

A small dense autoencoder's training step at batch 32 spends about a fifth of its time in
autograd's bookkeeping (graph nodes, saved tensors, gradient accumulation): on 2 CPU cores a fit
of the tutorial's 784-64-784 model takes 1.25x as long through autograd as written out
(``benchmarks/speed.py --gradients``). :func:`chain_gradients` writes that step out: the forward
pass keeps each layer's input, the backward pass is the chain rule in a few matmuls, under
``no_grad``, with the results stored in the parameters' ``.grad`` as ``loss.backward()`` would,
in autograd's order of operations, so the same numbers bit for bit (ELU: to rounding). It covers
what it can differentiate from the layers' outputs (ReLU, leaky ReLU, ELU, tanh, sigmoid,
identity); anything else (GELU, dropout, hooks, frozen layers) makes it return ``None`` and
training stays on autograd. tests/test_gradients.py checks the gradients against autograd's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

# activation -> (forward in place, backward from the activation's output y: grad -> grad times the
# derivative, in place where it can be), each rounded as autograd's own backward kernel rounds it
_ACTIVATIONS: dict[type, Callable[[nn.Module], tuple[Callable | None, Callable | None]]] = {
    nn.ReLU: lambda m: (torch.relu_, lambda g, y: g.masked_fill_(y <= 0, 0.0)),
    nn.Sigmoid: lambda m: (torch.sigmoid_, lambda g, y: g.mul_(1 - y).mul_(y)),
    # 1 - y * y through addcmul: one fused multiply-add, as autograd's tanh backward compiles to
    nn.Tanh: lambda m: (torch.tanh_, lambda g, y: g.mul_(torch.addcmul(torch.ones_like(y), y, y, value=-1))),
    nn.Identity: lambda m: (None, None),
    # y > 0 exactly where the input is > 0 (for a positive slope / alpha): the branch autograd takes
    nn.LeakyReLU: lambda m: (
        lambda h: F.leaky_relu(h, m.negative_slope, inplace=True),
        lambda g, y: torch.where(y > 0, g, g * m.negative_slope),
    ),
    # ELU's derivative below zero is alpha * exp(x) = y + alpha: equal to autograd's to rounding only
    nn.ELU: lambda m: (
        lambda h: F.elu(h, m.alpha, inplace=True),
        lambda g, y: torch.where(y > 0, g, g * (y + m.alpha)),
    ),
}


def hooked(obj) -> bool:
    """Does a module or parameter carry a hook that autograd's pass would run and this one would not?"""
    names = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    return any(getattr(obj, name, None) for name in (*names, "_post_accumulate_grad_hooks"))


def _plan(layers: Sequence[nn.Module]) -> list[tuple] | None:
    """Each layer as ("linear", weight, bias) or ("act", forward, backward); None if one is not covered."""
    plan = []
    for m in layers:
        if hooked(m) or any(hooked(p) for p in m.parameters()):
            return None
        if type(m) is nn.Linear:
            if m.bias is None or not (m.weight.requires_grad and m.bias.requires_grad):
                return None
            plan.append(("linear", m.weight, m.bias))  # the Parameter objects the optimizer holds too
        elif type(m) in _ACTIVATIONS:
            if type(m) is nn.LeakyReLU and not m.negative_slope > 0 or type(m) is nn.ELU and not m.alpha > 0:
                return None
            forward, derivative = _ACTIVATIONS[type(m)](m)
            if forward is None:
                continue
            if plan and plan[-1][0] == "act":  # it would overwrite the output the first one saved
                return None
            plan.append(("act", forward, derivative))
        else:
            return None
    if not plan or plan[0][0] != "linear":
        return None
    return plan


def _output_gradient(loss: str, logits, target, sigmoid: bool, trim: float):
    """The batch loss and its gradient w.r.t. ``logits``, in the order of operations (so the
    rounding) of autograd's backward through ``reconstruction_loss`` and ``trimmed_mean``."""
    n, features = logits.shape
    keep = n if not trim else max(1, n - int(round(trim * n)))
    out = torch.sigmoid(logits) if sigmoid or loss == "bce" else logits
    if keep == n:  # the mean over all elements: torch's fused losses, their backward formulas
        if loss == "bce":
            return F.binary_cross_entropy_with_logits(logits, target), (out - target).div_(out.numel())
        if loss == "mse":
            value, grad = F.mse_loss(out, target), (out - target).mul_(2.0 / out.numel())
        else:
            value, grad = F.l1_loss(out, target), (out - target).sign_().div_(out.numel())
    else:  # the mean of the kept rows' means: 1 / keep, then / features, in float as autograd
        if loss == "bce":
            per = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
            grad = out - target
        else:
            diff = out - target
            per = diff.square() if loss == "mse" else diff.abs()
            grad = diff.mul_(2.0) if loss == "mse" else diff.sign_()
        per = per.mean(1)
        kept = torch.topk(per, keep, largest=False, sorted=False).indices
        weight = torch.ones((), dtype=grad.dtype, device=grad.device).div_(keep).div_(features)
        rows = torch.zeros(n, 1, dtype=grad.dtype, device=grad.device).index_fill_(0, kept, weight)
        value, grad = per[kept].mean(), grad.mul_(rows)
    if sigmoid and loss != "bce":
        grad.mul_(1 - out).mul_(out)
    return value, grad


def chain_gradients(
    layers: Sequence[nn.Module], *, loss: str, sigmoid_output: bool, trim: float
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
    """A function ``(x, target) -> loss`` for inputs and targets flattened to ``(batch, features)``
    that writes the layers' parameter gradients, or None when a layer or the loss is not covered.

    ``loss`` is "mse", "mae" or "bce" (a per-sample mean over the features, then the mean over the
    samples, or the ``trim``-trimmed mean as :meth:`TrainingLoss.trimmed_mean`); ``sigmoid_output``
    applies a sigmoid to the last layer's output (BCE works from the logits)."""
    plan = _plan(layers)
    if plan is None or loss not in ("mse", "mae", "bce"):
        return None

    @torch.no_grad()
    def step(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        saved, h = [], x  # saved: each Linear's input, each activation's output
        for part in plan:
            if part[0] == "linear":
                saved.append(h)
                h = torch.addmm(part[2], h, part[1].t())
            else:
                h = part[1](h)
                saved.append(h)
        value, grad = _output_gradient(loss, h, target, sigmoid_output, trim)
        for i in range(len(plan) - 1, -1, -1):
            part, kept = plan[i], saved[i]
            if part[0] == "act":
                grad = part[2](grad, kept)
                continue
            weight, bias = part[1], part[2]
            weight.grad = grad.t().mm(kept)
            bias.grad = grad.sum(0)
            if i:
                grad = grad.mm(weight)
        return value

    return step
