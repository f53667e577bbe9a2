"""``hg.fit(compile=True)``: the per-step loss through ``torch.compile``, never at the cost of a run."""

from __future__ import annotations

import warnings

import torch


def compiled(eager, device: torch.device):
    """``eager`` through torch.compile (on CUDA with ``mode="reduce-overhead"``: CUDA graphs, as small
    models at small batches are bound by kernel launches there), falling back to ``eager`` with a
    warning if compiling fails: a missing C++ compiler or an unsupported operation must not stop the
    user's training."""
    graphs = device.type == "cuda"
    fast = torch.compile(eager, mode="reduce-overhead" if graphs else None, dynamic=False)
    state = {"fn": fast}

    def call(*args, **kwargs):
        try:
            if graphs and state["fn"] is fast:
                # one training step per call: the previous step's graph outputs may be reused
                torch.compiler.cudagraph_mark_step_begin()
                # ... so the step's outputs are copied out of the graph's memory: the epoch keeps
                # every step's loss until its end, and the next replay overwrites that memory
                return _copied(fast(*args, **kwargs))
            return state["fn"](*args, **kwargs)
        except Exception as exc:  # the compiler's many error types; eager still works
            if state["fn"] is eager:
                raise
            warnings.warn(
                f"torch.compile failed ({type(exc).__name__}: {str(exc)[:200]}); training without it",
                RuntimeWarning,
                stacklevel=2,
            )
            state["fn"] = eager
            return eager(*args, **kwargs)

    return call


def _copied(out):
    """``out`` (tensors in tuples, lists and dicts) with every tensor cloned; clone keeps the graph
    for backward."""
    if isinstance(out, torch.Tensor):
        return out.clone()
    if isinstance(out, (tuple, list)):
        return type(out)(_copied(v) for v in out)
    if isinstance(out, dict):
        return {k: _copied(v) for k, v in out.items()}
    return out
