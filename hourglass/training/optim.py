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
        fused_ok = hasattr(torch, "_fused_adam_") and all(
            p.dtype in (torch.float32, torch.float16, torch.bfloat16) and p.device.type in ("cpu", "cuda")
            for p in self.params
        )
        self.optimizer = torch.optim.Adam(self.params, lr=lr, betas=betas, eps=eps,
                                          weight_decay=weight_decay, fused=fused_ok or None)
        self.fused = fused_ok
        if fused_ok:
            state = self.optimizer.state
            for p in self.params:
                # The same state Adam's own _init_group creates for fused=True.
                state[p] = {
                    "step": torch.zeros((), dtype=torch.float32, device=p.device),
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
        grads = [p.grad for p in self.params]
        if any(g is None for g in grads):
            # Adam leaves parameters without a gradient untouched; the optimizer does the same.
            self.optimizer.step()
            return
        torch._foreach_add_(self._steps, 1)
        torch._fused_adam_(
            self.params, grads, self._exp_avgs, self._exp_avg_sqs, [], self._steps,
            lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], weight_decay=self.weight_decay,
            eps=self.eps, amsgrad=False, maximize=False,
        )

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None
