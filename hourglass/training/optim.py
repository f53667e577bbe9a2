"""The optimizer: PyTorch's own Adam, its fused kernel where the parameters allow, through public
API only; and its state as flat tensors + JSON for checkpoints.

(0.1.0 drove Adam's state with a private kernel, ``torch._fused_adam_``, to skip
``Adam.step``'s Python bookkeeping. Measured in ``benchmarks/speed.py --optimizers``, same run,
paired epochs, it won less than 10 % of a whole training step, so it gave way to
``torch.optim.Adam(fused=True)``; docs/architecture.md has the figures.)
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def fused_ok(params) -> bool:
    """Whether Adam's fused kernel takes these parameters: floating point, all on one CPU / CUDA device."""
    devices = {p.device for p in params}
    return len(devices) == 1 and all(p.dtype in (torch.float32, torch.float16, torch.bfloat16)
                                     and p.device.type in ("cpu", "cuda") for p in params)


def make_optimizer(params, *, lr: float, weight_decay: float, factory: Callable | None = None) -> torch.optim.Optimizer:
    """``factory(params, lr=, weight_decay=)`` when given, else Adam (fused where possible)."""
    params = [p for p in params if p.requires_grad]
    if factory is not None:
        return factory(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused_ok(params) or None)


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
