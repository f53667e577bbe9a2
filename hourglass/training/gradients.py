"""How a training step's gradients are made: autograd, or written out by hand where that was
measured worth it. :func:`written_out_step` is what ``hg.fit`` asks (``FitOptions.gradients``:
"auto" takes it where it exists, "autograd" never).

The written-out step covers a chain of layers: ``nn.Linear``, convolutions and transposed
convolutions, reshapes, element-wise activations and dropout.

A small autoencoder's training step at batch 32 spends a good part of its time in autograd's
bookkeeping (graph nodes, saved tensors, gradient accumulation) rather than in its kernels. On 2
CPU cores a fit of the tutorial's 784-64-784 dense model takes 1.13-1.22x as long through autograd
as written out at batch 32, and of the tutorial's conv denoiser 1.11-1.22x
(``benchmarks/gradient_paths.py``; the conv1d model, 1.06x, trains on autograd:
docs/decisions/gradient-paths.md). :func:`chain_gradients` writes that step out: the forward pass
keeps each layer's input (an activation's output), the backward pass is the chain rule under
``no_grad``, with the
results stored in the parameters' ``.grad`` (in the parameters' own strides) as
``loss.backward()`` would. Linear layers follow autograd's order of operations, so the same
numbers bit for bit (ELU: to rounding); a convolution's input and weight gradients are the same
``convolution_backward`` call autograd makes, and its bias gradient a plain sum, which rounds
differently from oneDNN's own (and is faster). It covers the activations it can differentiate from
their outputs (ReLU, leaky ReLU, ELU, tanh, sigmoid, identity), zero-padded convolutions with a
bias and dropout (the mask the layer itself would draw); anything else (GELU, batch norm, hooks,
frozen layers) makes it return ``None`` and training stays on autograd. tests/test_gradients.py
checks the gradients against autograd's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn import grad as conv_grad  # torch.nn.grad: a convolution's public input / weight gradients

from hourglass.models.base import reconstruction_loss_gradient
from hourglass.models.conv import ConvAutoencoder
from hourglass.models.dense import DenseAutoencoder
from hourglass.training.layers import (
    FastDropout,
    OutputConv2d,
    few_output_conv2d,
    few_output_conv2d_backward,
    one_channel_last,
)

# activation -> (forward in place, backward from the activation's output y: grad -> grad times the
# derivative, in place where it can be), each rounded as autograd's own backward kernel rounds it
_ACTIVATIONS: dict[type, Callable[[nn.Module], tuple[Callable | None, Callable | None]]] = {
    # y >= 0, so sign(y) is the 0 / 1 mask autograd applies: a float multiply, where a boolean
    # mask (masked_fill_, where) ran 3-11x slower on the conv model's activations
    # (docs/decisions/cpu-step-experiments.md). The sign goes into y's own memory: every part that keeps y (the
    # next layer's input) has run its backward by then, and a fresh 1.6 MB tensor per step cost more
    nn.ReLU: lambda m: (torch.relu_, lambda g, y: g.mul_(y.sign_())),
    nn.Sigmoid: lambda m: (torch.sigmoid_, lambda g, y: g.mul_(1 - y).mul_(y)),
    # 1 - y * y through addcmul: one fused multiply-add, as autograd's tanh backward compiles to
    nn.Tanh: lambda m: (torch.tanh_, lambda g, y: g.mul_(torch.addcmul(torch.ones_like(y), y, y, value=-1))),
    nn.Identity: lambda m: (None, None),
    # y > 0 exactly where the input is > 0 (for a positive slope / alpha): the branch autograd takes;
    # for a slope up to 1, sign(y) clamped below at the slope is the factor (1 or the slope)
    nn.LeakyReLU: lambda m: (
        lambda h: F.leaky_relu(h, m.negative_slope, inplace=True),
        lambda g, y: g.mul_(y.sign().clamp_(min=m.negative_slope)),
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


_CONV_TYPES = (
    nn.Conv1d,
    nn.Conv2d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    OutputConv2d,
)


class _Linear:
    """``nn.Linear``: its input is kept; the backward pass is two matmuls and a sum."""

    def __init__(self, m: nn.Linear):
        self.weight, self.bias = m.weight, m.bias  # the Parameter objects the optimizer holds too

    def forward(self, h):
        return torch.addmm(self.bias, h, self.weight.t())

    def backward(self, grad, kept, need_input: bool):
        self.weight.grad = grad.t().mm(kept)
        self.bias.grad = grad.sum(0)
        return grad.mm(self.weight) if need_input else None


class _Conv:
    """A convolution or transposed convolution (zero padding): its input is kept. The backward pass
    takes the input's and the weight's gradients from ``torch.nn.grad`` (a transposed convolution's
    input gradient is the forward convolution with its weight) and the bias gradient as a sum
    (oneDNN's own is slower). A layer that runs as ``OutputConv2d``
    (:func:`~hourglass.training.layers.faster_layers`) takes its reformulated path where its
    training step does."""

    def __init__(self, m: nn.Module):
        self.m, self.weight, self.bias = m, m.weight, m.bias
        self.transposed = isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d))
        self.args = (m.stride, m.padding, m.dilation, m.groups)
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            self.conv = F.conv_transpose2d if self.transposed else F.conv2d
            self.input_grad, self.weight_grad, self.adjoint = conv_grad.conv2d_input, conv_grad.conv2d_weight, F.conv2d
        else:
            self.conv = F.conv_transpose1d if self.transposed else F.conv1d
            self.input_grad, self.weight_grad, self.adjoint = conv_grad.conv1d_input, conv_grad.conv1d_weight, F.conv1d

    def forward(self, h):
        m = self.m
        if isinstance(m, OutputConv2d) and m.reformulates(h):  # the fit's twin (training/layers.py)
            return few_output_conv2d(h, m.weight, m.bias, m.padding)
        if self.transposed:
            return self.conv(h, m.weight, m.bias, m.stride, m.padding, m.output_padding, m.groups, m.dilation)
        return self.conv(h, m.weight, m.bias, *self.args)

    def backward(self, grad, kept, need_input: bool):
        m = self.m
        if isinstance(m, OutputConv2d) and m.reformulates(kept):
            grad_x, grad_w, _ = few_output_conv2d_backward(grad, kept, m.weight, m.padding, (need_input, True, False))
        else:
            grad_x, grad_w = self.input_and_weight_grads(grad, kept, need_input)
        self.weight.grad = _like(grad_w, self.weight)
        self.bias.grad = grad.sum([0, *range(2, grad.dim())])
        return grad_x

    def input_and_weight_grads(self, grad, kept, need_input: bool):
        """The input's gradient (None unless ``need_input``) and the weight's."""
        weight, grad_x = self.m.weight, None
        if self.transposed:  # the adjoint of the convolution with the same weight
            if need_input:
                grad_x = self.adjoint(grad, weight, None, *self.args)
            return grad_x, self.weight_grad(one_channel_last(grad), weight.shape, kept, *self.args)
        if need_input:
            grad_x = self.input_grad(kept.shape, weight, grad, *self.args)
        # the weight gradient's memory format comes from its input: a one-channel image's explicitly
        return grad_x, self.weight_grad(one_channel_last(kept), weight.shape, grad, *self.args)


def _like(grad, param):
    """``grad`` in ``param``'s strides, as autograd leaves a ``.grad``: optimizers' fused kernels
    (Adam's included) walk a parameter and its gradient as one flat buffer."""
    if grad.stride() == param.stride():
        return grad
    out = torch.empty_like(param)
    return out.copy_(grad)


class _Reshape:
    """``nn.Flatten`` / ``nn.Unflatten``: the input's shape is kept; the gradient is reshaped back."""

    def __init__(self, m: nn.Module):
        self.m = m

    def forward(self, h):
        return self.m(h)

    def backward(self, grad, kept, need_input: bool):
        return grad.reshape(kept)


class _Activation:
    """An element-wise activation applied in place: its output is kept (its derivative is
    computed from the output, and may overwrite it: the parts after it, which keep it as their
    input, have run their backward by then), so it must follow a layer whose output nothing else
    keeps."""

    def __init__(self, forward, derivative):
        self.forward, self.derivative = forward, derivative

    def backward(self, grad, kept, need_input: bool):
        return self.derivative(grad, kept)


class _Dropout:
    """Dropout in training, with the noise the layer's own forward pass would draw from torch's
    generator (``FastDropout.noise``; for torch's ``nn.Dropout``, what ``F.dropout`` runs on CPU:
    ``bernoulli_`` on an ``empty_like`` of the input, divided by the keep probability), so a fit
    draws the same masks as through autograd. The noise is kept on the part from the forward pass
    to the backward pass of the same step."""

    def __init__(self, m: nn.Dropout):
        self.m, self.noise = m, None

    def forward(self, h):
        m = self.m
        if not m.training or m.p == 0:
            self.noise = None
            return h
        if isinstance(m, FastDropout) and m.draws_own_mask(h):
            self.noise = m.noise(h)
        else:
            self.noise = torch.empty_like(h).bernoulli_(1 - m.p).div_(1 - m.p)
        return h * self.noise

    def backward(self, grad, kept, need_input: bool):
        noise, self.noise = self.noise, None
        return grad if noise is None else grad.mul_(noise)


def _covered_conv(m: nn.Module) -> bool:
    return (
        type(m) in _CONV_TYPES
        and m.padding_mode == "zeros"
        and not isinstance(m.padding, str)  # "same" / "valid": torch.nn.grad takes numbers
        and m.bias is not None
    )


def _part(m: nn.Module, previous):
    """The plan's part for layer ``m`` (after part ``previous``); None if it is not covered, and
    "skip" for an identity."""
    if type(m) is nn.Linear or _covered_conv(m):
        trainable = m.bias is not None and m.weight.requires_grad and m.bias.requires_grad
        return (_Linear(m) if type(m) is nn.Linear else _Conv(m)) if trainable else None
    if type(m) in (nn.Flatten, nn.Unflatten):
        return _Reshape(m)
    if type(m) in (nn.Dropout, FastDropout) and 0 <= m.p < 1 and not m.inplace:
        return _Dropout(m)
    if type(m) in _ACTIVATIONS:
        if type(m) is nn.LeakyReLU and not 0 < m.negative_slope <= 1 or type(m) is nn.ELU and not m.alpha > 0:
            return None
        forward, derivative = _ACTIVATIONS[type(m)](m)
        if forward is None:
            return "skip"
        # in place: its input must be a fresh output that no other part keeps
        return _Activation(forward, derivative) if isinstance(previous, (_Linear, _Conv)) else None
    return None


def _plan(layers: Sequence[nn.Module]) -> list | None:
    """Each layer as a part with ``forward(h)`` and ``backward(grad, kept, need_input)``; None if
    one is not covered or the chain does not start with a layer that has parameters."""
    plan: list = []
    for m in layers:
        if hooked(m) or any(hooked(p) for p in m.parameters()):
            return None
        part = _part(m, plan[-1] if plan else None)
        if part is None:
            return None
        if part != "skip":
            plan.append(part)
    if not plan or not isinstance(plan[0], (_Linear, _Conv)):
        return None
    return plan


def autograd_loss(
    batch_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """``batch_loss(output, target) -> scalar`` as :func:`chain_gradients` takes a loss: its value
    and its gradient w.r.t. the output, by autograd over the loss alone (a few graph nodes)."""

    def loss_and_gradient(out, target):
        out = out.detach().requires_grad_()
        with torch.enable_grad():
            value = batch_loss(out, target)
            (grad,) = torch.autograd.grad(value, out)
        return value.detach(), grad

    return loss_and_gradient


def chain_gradients(
    layers: Sequence[nn.Module],
    loss_and_gradient: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
    """A function ``(x, target) -> loss`` that runs ``layers`` on ``x`` and writes their parameter
    gradients, or None when a layer is not covered. ``loss_and_gradient(output, target)`` gives
    the batch loss and its gradient w.r.t. the last layer's output: the model's own
    (:func:`~hourglass.models.base.reconstruction_loss_gradient`), or any scalar loss through
    :func:`autograd_loss`."""
    plan = _plan(layers)
    if plan is None:
        return None

    @torch.no_grad()
    def step(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        saved, h = [], x  # what each part's backward needs: its input (its input's shape), or its output
        for part in plan:
            if isinstance(part, _Activation):
                h = part.forward(h)
                saved.append(h)
            else:
                saved.append(h.shape if isinstance(part, _Reshape) else h)
                h = part.forward(h)
        value, grad = loss_and_gradient(h, target.reshape(h.shape))
        for i in range(len(plan) - 1, -1, -1):
            grad = plan[i].backward(grad, saved[i], i > 0)
        return value

    return step


def encoder_decoder_gradients(model, owner: type, *, loss: str, trim: float):
    """``chain_gradients`` over ``model.encoder`` then ``model.decoder`` (``nn.Sequential``): only
    while ``owner``'s forward pass (``encode`` and ``decode_logits``: the two chains, nothing
    between but ``owner``'s own reshapes, which :data:`FAMILIES` takes on) and loss are in use,
    not a subclass's own."""
    cls = type(model)
    if (
        cls.encode is not owner.encode
        or cls.decode_logits is not owner.decode_logits
        or cls.training_loss is not owner.training_loss
        or hooked(model.encoder)
        or hooked(model.decoder)
    ):
        return None
    if loss not in model.losses:
        return None
    act = model.config.output_activation
    return chain_gradients(
        [*model.encoder, *model.decoder],
        lambda logits, target: reconstruction_loss_gradient(loss, logits, target, act, trim),
    )


def _flat(step):
    return lambda x, target: step(x.flatten(1), target.flatten(1))


#: The model families whose step is written out, each with what its forward pass does around the
#: two chains: only those where it saved at least 10 % of a whole step at the default batch
#: (docs/decisions/gradient-paths.md: the dense models 12-18 %, the conv denoiser 10-18 %).
FAMILIES: dict[type, Callable] = {DenseAutoencoder: _flat, ConvAutoencoder: lambda step: step}


def written_out_step(model, *, loss: str, trim: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
    """A function ``(x, target) -> loss`` that computes a batch's training loss (the
    ``trim``-trimmed mean of ``model.training_loss``) and writes the parameters' ``.grad`` without
    autograd; None where ``model`` is of no family in :data:`FAMILIES` or a layer, hook or loss is
    not covered (then ``hg.fit`` runs autograd)."""
    for owner, around in FAMILIES.items():
        if isinstance(model, owner):
            step = encoder_decoder_gradients(model, owner, loss=loss, trim=trim)
            return None if step is None else around(step)
    return None
