"""Data-parallel training over several processes (GPUs or machines), through ``torch.distributed``.

The user's script does not change: launched with ``torchrun --nproc_per_node=N script.py`` (which
sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK`` and the rendezvous address), ``hg.fit`` joins the
process group itself (NCCL on CUDA, gloo on CPU) and trains data-parallel:

- every process holds the same data and the same initial weights (broadcast from rank 0), and
  draws the same shuffle, so all agree on each global batch of ``batch_size`` rows;
- each process takes its share of the global batch (rows split as evenly as possible), and its
  loss is weighted by its share of the rows, so that summing the gradients over processes (one
  all-reduce of one flat buffer per step) gives the gradient of the global batch's mean loss:
  the same update as one process training with the same global batch, up to floating-point
  summation order;
- the epoch's loss is summed over processes; validation, early stopping and callbacks see the
  same values everywhere; only rank 0 shows a progress bar and writes checkpoints.

Differences from one process, by design: batch normalisation uses each process's share of the
batch for its statistics (as PyTorch's DDP does by default), a trimmed loss trims each share, and
random corruption noise is drawn per process.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Distributed:
    rank: int
    world: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def share(self, lo: int, hi: int) -> tuple[int, int]:
        """This process's rows ``[a, b)`` of the global batch ``[lo, hi)``."""
        n = hi - lo
        return lo + n * self.rank // self.world, lo + n * (self.rank + 1) // self.world

    def broadcast_parameters(self, model: torch.nn.Module) -> None:
        with torch.no_grad():
            for tensor in list(model.parameters()) + list(model.buffers()):
                dist.broadcast(tensor.data, src=0)

    def sum_gradients(self, params) -> None:
        """Sum every process's gradients in place, in one all-reduce of one flat buffer."""
        grads = [p.grad for p in params if p.grad is not None]
        if grads:
            flat = flatten(grads)
            dist.all_reduce(flat, op=dist.ReduceOp.SUM)
            unflatten_into(flat, grads)

    def agree(self, value: int) -> int:
        """Rank 0's ``value`` (a 63-bit integer), in every process."""
        tensor = torch.tensor([value], dtype=torch.int64)
        if dist.get_backend() == "nccl":
            tensor = tensor.cuda()
        dist.broadcast(tensor, src=0)
        return int(tensor.item())

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor


def flatten(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The tensors' elements in one new 1-D tensor, in logical order (public ops only; the same
    as ``torch._utils._flatten_dense_tensors``, which ``benchmarks/speed.py --ddp`` measures against)."""
    return torch.cat([t.reshape(-1) for t in tensors])


def unflatten_into(flat: torch.Tensor, tensors: list[torch.Tensor]) -> None:
    """Copy ``flat``'s consecutive pieces back into ``tensors`` (any memory layout)."""
    for t, piece in zip(tensors, torch.split(flat, [t.numel() for t in tensors])):
        t.copy_(piece.view(t.shape))


def launched_world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def setup(device: torch.device) -> Distributed | None:
    """Join (or reuse) the process group when launched by torchrun with more than one process."""
    if dist.is_available() and dist.is_initialized():
        world = dist.get_world_size()
        return Distributed(dist.get_rank(), world) if world > 1 else None
    if launched_world_size() <= 1 or not dist.is_available():
        return None
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    # The group hg.fit joined is left when the script ends: a gloo group still alive at interpreter
    # exit can abort the process ("terminate called without an active exception"), and so can a
    # process that leaves while a peer still talks to it, hence the barrier before leaving.
    atexit.register(_leave_group)
    return Distributed(dist.get_rank(), dist.get_world_size())


def _leave_group() -> None:
    if dist.is_available() and dist.is_initialized():
        try:
            dist.barrier()  # every process reaches the end before any closes its connections
        finally:
            dist.destroy_process_group()


def local_device() -> torch.device | None:
    """The GPU of this process under torchrun (``cuda:LOCAL_RANK``), when CUDA is present."""
    if launched_world_size() > 1 and torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return None
