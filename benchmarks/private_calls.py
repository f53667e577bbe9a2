"""The private torch calls hourglass 0.1.0 relied on, kept here only so that benchmarks/speed.py can
measure them against the public API in the same run (``--optimizers``, ``--output-conv``,
``--ddp-flatten``, ``--gradients``). The library itself does not import this file.

- :class:`PrivateFusedAdam`: 0.1.0's ``FastAdam``: a real ``torch.optim.Adam`` whose state is
  driven by one call of the private kernel ``torch._fused_adam_`` per step, with one step counter
  shared by all parameters.
- ``private_flatten`` / ``private_unflatten``: ``torch._utils._flatten_dense_tensors`` and
  ``_unflatten_dense_tensors``, 0.1.0's flat all-reduce buffer.
- :func:`with_private_conv_backward`: the conv model's hand-written gradients with one
  ``torch.ops.aten.convolution_backward`` call per layer (input and weight gradients together, in
  the weight's memory format) instead of ``torch.nn.grad``'s two public calls.
"""

from __future__ import annotations

import torch


class PrivateFusedAdam:
    def __init__(self, params, lr: float = 1e-3, weight_decay: float = 0.0, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.betas, self.eps, self.weight_decay = float(lr), betas, float(eps), float(weight_decay)
        self.optimizer = torch.optim.Adam(
            self.params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, fused=True
        )
        state = self.optimizer.state
        self._step = torch.zeros((), dtype=torch.float32, device=self.params[0].device)
        for p in self.params:
            state[p] = {
                "step": self._step,
                "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
            }
        self._exp_avgs = [state[p]["exp_avg"] for p in self.params]
        self._exp_avg_sqs = [state[p]["exp_avg_sq"] for p in self.params]
        self._steps = [state[p]["step"] for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        self._step.add_(1)
        torch._fused_adam_(
            self.params,
            [p.grad for p in self.params],
            self._exp_avgs,
            self._exp_avg_sqs,
            [],
            self._steps,
            lr=self.lr,
            beta1=self.betas[0],
            beta2=self.betas[1],
            weight_decay=self.weight_decay,
            eps=self.eps,
            amsgrad=False,
            maximize=False,
        )

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()


def private_flatten(tensors):
    from torch._utils import _flatten_dense_tensors

    return _flatten_dense_tensors(tensors)


def private_unflatten_into(flat, tensors) -> None:
    from torch._utils import _unflatten_dense_tensors

    for t, synced in zip(tensors, _unflatten_dense_tensors(flat, tensors)):
        t.copy_(synced)


def _private_input_and_weight_grads(self, grad, kept, need_input: bool):
    """``hourglass.models.gradients._Conv.input_and_weight_grads`` as one private call."""
    m = self.m
    out_pad = list(m.output_padding) if self.transposed else [0] * len(m.stride)
    grad_x, grad_w, _ = torch.ops.aten.convolution_backward(
        grad, kept, m.weight, None, list(m.stride), list(m.padding), list(m.dilation),
        self.transposed, out_pad, m.groups, [need_input, True, False],
    )  # fmt: skip
    return grad_x, grad_w


def with_private_conv_backward(model):
    """``model`` whose hand-written gradients (``manual_gradients``) run each convolution's backward
    as one private ``convolution_backward`` call (the class's method is swapped for the step only,
    so other models in the same process keep the public one)."""
    from hourglass.models import gradients

    build = model.manual_gradients

    def manual_gradients(**kwargs):
        step = build(**kwargs)
        if step is None:
            return None

        def private_step(x, target):
            public = gradients._Conv.input_and_weight_grads
            gradients._Conv.input_and_weight_grads = _private_input_and_weight_grads
            try:
                return step(x, target)
            finally:
                gradients._Conv.input_and_weight_grads = public

        return private_step

    model.manual_gradients = manual_gradients
    return model
