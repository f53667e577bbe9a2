"""The optimizer: PyTorch's own Adam, through public API only; and its state as flat tensors +
JSON for checkpoints.

``torch.optim.Adam.step`` spends more time in Python (profiler ranges, hooks, regrouping the
state each step) than its fused kernel spends updating a small autoencoder. :class:`FunctionalAdam`
keeps a real ``torch.optim.Adam`` (its state, ``state_dict`` and ``load_state_dict``) and steps it
through PyTorch's public functional form, ``torch.optim.adam.adam(..., fused=True)``: the same
kernel and arithmetic (bit for bit), less overhead. (0.1.0 called the private kernel
``torch._fused_adam_`` directly; the three were measured on paired epochs:
docs/decisions/cpu-step-experiments.md has the figures.)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.optim.adam import adam as functional_adam


def fused_ok(params) -> bool:
    """Whether Adam's fused kernel takes these parameters: floating point, all on one CPU / CUDA device."""
    devices = {p.device for p in params}
    return len(devices) == 1 and all(
        p.dtype in (torch.float32, torch.float16, torch.bfloat16) and p.device.type in ("cpu", "cuda") for p in params
    )


class FunctionalAdam:
    """Adam (``torch.optim.Adam``'s defaults) stepped through ``torch.optim.adam.adam(fused=True)``.

    Where the fused kernel does not take the parameters (or a parameter is complex), ``step`` is
    the inner optimizer's own. ``state_dict`` / ``load_state_dict`` are the inner optimizer's.
    """

    def __init__(self, params, *, lr: float = 1e-3, weight_decay: float = 0.0, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.inner = torch.optim.Adam(
            self.params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, fused=fused_ok(self.params) or None
        )
        self.functional = fused_ok(self.params) and not any(p.is_complex() for p in self.params)
        self._settings = dict(
            amsgrad=False,
            beta1=betas[0],
            beta2=betas[1],
            lr=float(lr),
            weight_decay=float(weight_decay),
            eps=float(eps),
            maximize=False,
        )
        if self.functional:
            for p in self.params:  # the state Adam's own _init_group creates for fused=True
                self.inner.state[p] = {
                    "step": torch.zeros((), dtype=torch.float32, device=p.device),
                    "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                    "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
                }
        self._refresh()

    def _refresh(self) -> None:
        state = self.inner.state
        self._exp_avgs = [state[p]["exp_avg"] for p in self.params] if self.functional else []
        self._exp_avg_sqs = [state[p]["exp_avg_sq"] for p in self.params] if self.functional else []
        self._steps = [state[p]["step"] for p in self.params] if self.functional else []

    @torch.no_grad()
    def step(self) -> None:
        if not self.functional:
            self.inner.step()
            return
        grads = [p.grad for p in self.params]
        params, exp_avgs, exp_avg_sqs, steps = self.params, self._exp_avgs, self._exp_avg_sqs, self._steps
        if any(g is None for g in grads):  # as torch.optim.Adam: a parameter without a gradient is left alone
            keep = [i for i, g in enumerate(grads) if g is not None]
            params, grads, exp_avgs, exp_avg_sqs, steps = (
                [seq[i] for i in keep] for seq in (params, grads, exp_avgs, exp_avg_sqs, steps)
            )
        if params:
            functional_adam(params, grads, exp_avgs, exp_avg_sqs, [], steps, fused=True, **self._settings)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        self.inner.load_state_dict(state_dict)
        self._refresh()


def make_optimizer(params, *, lr: float, weight_decay: float, factory: Callable | None = None):
    """``factory(params, lr=, weight_decay=)`` when given, else :class:`FunctionalAdam`."""
    params = [p for p in params if p.requires_grad]
    if factory is not None:
        return factory(params, lr=lr, weight_decay=weight_decay)
    return FunctionalAdam(params, lr=lr, weight_decay=weight_decay)


def optimizer_state(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """The optimizer's ``state_dict`` split into tensors (``"<param index>/<name>"``) and JSON
    (the parameter groups' settings and any non-tensor state)."""
    sd = optimizer.state_dict()
    tensors, values = {}, {}
    for index, state in sd["state"].items():
        for name, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}/{name}"] = value.detach().clone()
            else:
                values[f"{index}/{name}"] = value
    return tensors, {"param_groups": sd["param_groups"], "values": values}


def load_optimizer_state(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict | None) -> None:
    """Inverse of :func:`optimizer_state`, through ``load_state_dict`` (which puts each state
    tensor where its parameter's optimizer step expects it). A checkpoint written before the
    groups were recorded (format 1) keeps the optimizer's own groups: its settings are part of
    the run's fingerprint, so they are the same."""
    meta = meta or {}
    state: dict[int, dict] = {}
    for key, value in [*tensors.items(), *meta.get("values", {}).items()]:
        index, name = key.split("/", 1)
        state.setdefault(int(index), {})[name] = value
    groups = meta.get("param_groups") or optimizer.state_dict()["param_groups"]
    optimizer.load_state_dict({"state": state, "param_groups": groups})
