"""Every random stream of a training run, derived from its one ``seed``.

A run draws random numbers for four purposes, each from its own stream:

==============  =====================================================  ===========================
stream          what it draws                                          generator
==============  =====================================================  ===========================
``shuffle``     the order of the rows in each pass                     ``torch.Generator`` on the
                                                                       training device
``noise``       the corruption of each training batch                  ``torch.Generator``, one
                                                                       per process
``validation``  the fixed corruption of the validation inputs          ``torch.Generator``
``model``       randomness inside the model: dropout, a VAE's draws    torch's global generator,
                                                                       forked for the run
==============  =====================================================  ===========================

0.1.0's scheme, kept so that a seed trains the same model as before: the shuffle stream is
seeded with ``seed``, the validation stream with ``seed + 1``, the model stream with ``seed + 2``;
one process draws its noise from the shuffle stream, several draw it from ``seed * 1000 + 17 +
rank``. With ``seed=None`` the shuffle stream is seeded from the OS and the model stream is
torch's global generator as the caller left it.
"""

from __future__ import annotations

import contextlib

import torch


class Seeds:
    """The streams of one run (``rank``: this process's rank under torchrun, else 0)."""

    def __init__(self, seed: int | None, rank: int = 0, processes: int = 1):
        self.seed, self.rank, self.processes = seed, rank, processes

    def _base(self) -> int:
        return int(self.seed) if self.seed is not None else 0

    def shuffle(self, device: torch.device) -> torch.Generator:
        gen = torch.Generator(device=device)
        if self.seed is None:
            gen.seed()  # non-deterministic, and leaves torch's global generator alone
        else:
            gen.manual_seed(int(self.seed))
        return gen

    def noise(self, device: torch.device, shuffle: torch.Generator) -> torch.Generator:
        if self.processes == 1:
            return shuffle
        # the shuffle generator must stay identical across processes: noise gets its own
        gen = torch.Generator(device=device)
        gen.manual_seed(self._base() * 1000 + 17 + self.rank)
        return gen

    def validation(self, device: torch.device) -> torch.Generator:
        gen = torch.Generator(device=device)
        gen.manual_seed(self._base() + 1)
        return gen

    def model_scope(self, device: torch.device) -> contextlib.AbstractContextManager:
        """Seed torch's global generator for the run only: the caller's state comes back after."""
        if self.seed is None:
            return contextlib.nullcontext()
        stack = contextlib.ExitStack()
        stack.enter_context(torch.random.fork_rng(devices=[device] if device.type == "cuda" else []))
        torch.manual_seed(self._base() + 2)
        return stack
