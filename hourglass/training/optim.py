"""Adam with the least per-step overhead PyTorch allows.

``torch.optim.Adam.step`` spends more time in Python (hooks, grouping, state lookup) than the
fused kernel spends updating a small autoencoder. :class:`FastAdam` keeps a real
``torch.optim.Adam`` (so its ``state_dict`` works for checkpoints) but drives its state with one
call of the fused kernel per step. Where the kernel is unavailable it falls back to ``step()``.
"""

from __future__ import annotations

import torch


class FastAdam:
    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.betas, self.eps, self.weight_decay = float(lr), betas, float(eps), float(weight_decay)
        devices = {p.device for p in self.params}
        fused_ok = hasattr(torch, "_fused_adam_") and len(devices) == 1 and all(
            p.dtype in (torch.float32, torch.float16, torch.bfloat16) and p.device.type in ("cpu", "cuda")
            for p in self.params
        )
        self.optimizer = torch.optim.Adam(self.params, lr=lr, betas=betas, eps=eps,
                                          weight_decay=weight_decay, fused=fused_ok or None)
        self.fused = fused_ok
        if fused_ok:
            state = self.optimizer.state
            # Every parameter takes the same number of steps, so they share one step counter:
            # one increment per step instead of one per parameter.
            self._step = torch.zeros((), dtype=torch.float32, device=self.params[0].device)
            for p in self.params:
                # The same state Adam's own _init_group creates for fused=True.
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
        if not self.fused:
            self.optimizer.step()
            return
        params, grads = self.params, [p.grad for p in self.params]
        exp_avgs, exp_avg_sqs, steps = self._exp_avgs, self._exp_avg_sqs, self._steps
        if any(g is None for g in grads):
            # A parameter without a gradient is left untouched, as torch.optim.Adam does
            # (its moments do not decay; the shared step counter still advances).
            keep = [i for i, g in enumerate(grads) if g is not None]
            params, grads, exp_avgs, exp_avg_sqs, steps = (
                [seq[i] for i in keep] for seq in (params, grads, exp_avgs, exp_avg_sqs, steps))
        self._step.add_(1)
        if params:
            torch._fused_adam_(
                params, grads, exp_avgs, exp_avg_sqs, [], steps,
                lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], weight_decay=self.weight_decay,
                eps=self.eps, amsgrad=False, maximize=False,
            )

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    # -- checkpoints -----------------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Adam's state as flat tensors, ``"<param index>/<exp_avg | exp_avg_sq | step>"``."""
        out = {}
        for i, p in enumerate(self.params):
            for key, value in self.optimizer.state.get(p, {}).items():
                out[f"{i}/{key}"] = torch.as_tensor(value).detach().clone()
        return out

    @torch.no_grad()
    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Inverse of :meth:`state_tensors`, in place (the fused path's shared step stays shared)."""
        for i, p in enumerate(self.params):
            keys = {k.split("/", 1)[1]: v for k, v in tensors.items() if k.split("/", 1)[0] == str(i)}
            if not keys:
                continue
            state = self.optimizer.state.setdefault(p, {})
            for key, value in keys.items():
                if key in state and isinstance(state[key], torch.Tensor):
                    state[key].copy_(value)
                else:
                    state[key] = value.to(p.device) if key != "step" else value.clone()
