"""Every random stream of a training run, derived from its one ``seed``.

A run draws random numbers for four purposes, each from a stream of its own:

==============  ======================================================  ==========================
stream          what it draws                                           generator
==============  ======================================================  ==========================
``shuffle``     the order of the rows in each pass (the same in every   ``torch.Generator`` on the
                process under torchrun)                                 training device
``noise``       the corruption of each training batch                   ``torch.Generator``, one
                                                                        per process
``validation``  the fixed corruption of the validation inputs           ``torch.Generator``
``model``       randomness inside the model: dropout, a VAE's draws     torch's global generator,
                                                                        seeded for the run and
                                                                        given back after
==============  ======================================================  ==========================

Each stream's seed is drawn from ``numpy.random.SeedSequence([seed, stream, rank])`` (the
stream's index in the table, the process's rank), NumPy's recommended way to derive independent
streams: no two streams, of one run or of runs with nearby seeds, start from related states (as
``seed``, ``seed + 1``, ... would). With ``seed=None`` the run's entropy comes from the OS (and,
under torchrun, from rank 0, so that every process shuffles alike), and the model stream is
torch's global generator as the caller left it.

(hourglass 0.1.0 seeded the shuffle stream with ``seed``, validation with ``seed + 1`` and the
model with ``seed + 2``, and drew one process's noise from the shuffle stream; so the same seed
trains a different, equally good model since 0.2.)
"""

from __future__ import annotations

import contextlib
import secrets

import numpy as np
import torch

STREAMS = ("shuffle", "noise", "validation", "model")


class Seeds:
    """The streams of one run. ``rank``: this process's rank under torchrun, else 0; ``entropy``
    (for ``seed=None``): the run's random entropy, the same in every process."""

    def __init__(self, seed: int | None, rank: int = 0, entropy: int | None = None):
        self.seed, self.rank = seed, rank
        if seed is not None:
            self.entropy = int(seed) % 2**64  # SeedSequence takes non-negative integers
        else:
            self.entropy = secrets.randbits(63) if entropy is None else int(entropy)

    def seed_of(self, stream: str, rank: int = 0) -> int:
        """The 63-bit seed of ``stream`` (for process ``rank``)."""
        state = np.random.SeedSequence([self.entropy, STREAMS.index(stream), rank]).generate_state(1, np.uint64)
        return int(state[0] >> np.uint64(1))

    def generator(self, stream: str, device: torch.device, rank: int = 0) -> torch.Generator:
        gen = torch.Generator(device=device)
        gen.manual_seed(self.seed_of(stream, rank))
        return gen

    def shuffle(self, device: torch.device) -> torch.Generator:
        return self.generator("shuffle", device)

    def noise(self, device: torch.device) -> torch.Generator:
        return self.generator("noise", device, self.rank)

    def validation(self, device: torch.device) -> torch.Generator:
        return self.generator("validation", device)

    def model_scope(self, device: torch.device) -> contextlib.AbstractContextManager:
        """Seed torch's global generator for the run only: the caller's state comes back after
        (with ``seed=None`` the run uses the global generator as it is)."""
        if self.seed is None:
            return contextlib.nullcontext()
        stack = contextlib.ExitStack()
        stack.enter_context(torch.random.fork_rng(devices=[device] if device.type == "cuda" else []))
        torch.manual_seed(self.seed_of("model", self.rank))
        return stack
