"""How many CPU threads torch's intra-op pool runs while hourglass trains or scores: the one place.

Why a policy: torch's intra-op threads (OpenMP) meet at a barrier at the end of every parallel
operation, and a small model's step is hundreds of small operations. When another process holds a
core (a second fit, a test suite, a Dask worker, any OpenMP job), one descheduled thread stalls
every operation: beside a two-thread torch job, a step of the 784-64-784 dense model at batch 32
took 78 ms with two threads and 1.6 ms with one in one run (``docs/decisions/threads.md`` has the
figures and the reasons, ``benchmarks/busy.py`` whole fits under load). With one thread there is
no barrier to wait at.

What ``threads="auto"`` (the default) does, in :class:`ThreadPolicy`:

1. The ceiling is the CPUs this process may use (its CPU affinity and cgroup quota) and the
   caller's own setting, ``torch.get_num_threads()``, which ``OMP_NUM_THREADS``,
   ``torch.set_num_threads`` and threadpoolctl's limits all set.
2. One thread when the work per operation (multiply-adds of the model's weight layers per batch,
   :func:`work_per_op`) is below :data:`SMALL_OP_MACS`: there two threads gain little alone and
   lose many times over beside other work.
3. Above it, the CPUs that other processes left idle since the last look (``/proc/stat``, this
   process's own CPU time taken off), at least one; a fit looks again after every epoch.

An explicit ``threads=N`` (``hg.fit``, the estimators, ``SeriesDetector``) or the environment
variable ``HOURGLASS_THREADS=N`` fixes the count (at most the CPUs the process may use);
``HOURGLASS_THREADS=auto`` is the default. The caller's setting is restored afterwards, also on
error. A policy on the CPU also keeps large blocks on glibc's heap while it runs where the process
fixed malloc's thresholds (a Dask worker does): :mod:`hourglass.allocator`. Dense models compute
the same numbers with any count; a convolution's gradients may differ in the last bits, so pass
``threads=N`` where a conv fit must repeat bit for bit under any load.

>>> import torch
>>> before = torch.get_num_threads()
>>> with ThreadPolicy(threads=1):
...     torch.get_num_threads()
1
>>> torch.get_num_threads() == before
True
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
import os
import time
import weakref
from pathlib import Path

import torch

from hourglass.allocator import large_blocks_from_heap
from hourglass.errors import InvalidInputError

#: Multiply-adds per weight operation below which one thread runs, whatever the load: measured with
#: ``benchmarks/threads.py`` (on a quiet 2-core machine two threads gained at most 2 % below it,
#: and lost up to 18 %; from here up they gained 5-44 %).
SMALL_OP_MACS = 1_000_000

#: How long a look at the other processes' CPU use must span to be read (a shorter gap reuses the
#: last reading): /proc/stat counts in ticks of 10 ms.
MIN_LOOK_SECONDS = 0.05

# A CPU counts as taken when other processes used at least this share of it since the last look.
_BUSY_SHARE = 0.25


# The count an enclosing ThreadPolicy(threads=N) fixed: policies opened inside it (a fit's
# scoring, say) keep N rather than choose afresh.
_FIXED: contextvars.ContextVar[int | None] = contextvars.ContextVar("hourglass_threads", default=None)


def parse_threads(threads, name: str = "threads") -> int | None:
    """``threads`` as a fixed count, or None for the automatic policy ("auto" or None: then an
    enclosing fixed policy, else ``HOURGLASS_THREADS``, decides, where either is set)."""
    if threads is None or (isinstance(threads, str) and threads.strip().lower() == "auto"):
        if _FIXED.get() is not None:
            return _FIXED.get()
        env = os.environ.get("HOURGLASS_THREADS", "").strip()
        if not env or env.lower() == "auto":
            return None
        if not env.isdigit() or int(env) < 1:
            raise InvalidInputError(f"HOURGLASS_THREADS must be a whole number >= 1 or 'auto', got {env!r}")
        return int(env)
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1:
        raise InvalidInputError(f"{name} must be 'auto' or a whole number of threads >= 1, got {threads!r}")
    return int(threads)


def cpu_limit() -> int:
    """The CPUs this process may use: its affinity, and its cgroup's CPU quota where one is set."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cpus, math.ceil(quota)) if quota else cpus)


def _cgroup_quota() -> float | None:
    """CPUs' worth of this process's cgroup quota (v2 ``cpu.max``, v1 ``cfs_quota_us``), if any."""
    for path, period_path in (
        ("/sys/fs/cgroup/cpu.max", None),
        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
    ):
        try:
            words = Path(path).read_text().split()
            if period_path:
                words.append(Path(period_path).read_text().strip())
        except (OSError, ValueError):
            continue
        if len(words) >= 2 and words[0] not in ("max", "-1"):
            return int(words[0]) / int(words[1])
        return None
    return None


class _OtherLoad:
    """How many of our CPUs other processes kept busy since the last look (Linux; 0 elsewhere)."""

    def __init__(self):
        self.last = self._sample()
        self.busy = 0

    @staticmethod
    def _sample():
        try:
            cpus = {f"cpu{i}" for i in os.sched_getaffinity(0)}
            busy = 0
            with open("/proc/stat") as f:
                for line in f:
                    words = line.split()
                    if words and words[0] in cpus:  # user nice system idle iowait irq softirq steal
                        busy += sum(int(w) for w in words[1:4]) + sum(int(w) for w in words[6:9])
            ticks = os.sysconf("SC_CLK_TCK")
        except (AttributeError, OSError, ValueError):
            return None
        return time.monotonic(), busy / ticks, time.process_time()

    def cpus_taken(self) -> int:
        now = self._sample()
        if now is None or self.last is None:
            return 0
        wall = now[0] - self.last[0]
        if wall >= MIN_LOOK_SECONDS:
            others = (now[1] - self.last[1]) - (now[2] - self.last[2])  # all busy time less our own
            self.busy = max(0, math.floor(others / wall + 1 - _BUSY_SHARE))
            self.last = now
        return self.busy


_LOAD = _OtherLoad()
_WORK: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def work_per_op(model: torch.nn.Module, batch: int) -> float:
    """Multiply-adds per weight operation (a matrix product or convolution) of one ``batch``.

    Each weight of a dense layer, an ensemble's stacked layers or an LSTM is used once per sample
    (per time step); a convolution's once per output position, which one forward pass of a
    sample of zeros counts (eval mode, no gradients, torch's random state forked, so seeded runs
    are unchanged). Cached per model."""
    if model not in _WORK:
        _WORK[model] = _macs_per_sample(model)
    macs, ops = _WORK[model]
    return batch * macs / max(ops, 1)


def _macs_per_sample(model: torch.nn.Module) -> tuple[float, int]:
    weights = [p for p in model.parameters() if p.ndim >= 2]
    macs = float(sum(p.numel() for p in weights))
    convs = [m for m in model.modules() if isinstance(m, _CONVOLUTIONS)]
    shape = getattr(model, "input_shape", None)
    if not convs or shape is None or getattr(model, "conditional", False):
        return macs, len(weights)
    positions = {}

    def count(module, inputs, output):
        # a convolution's output positions; a transposed one's weight meets each input position
        x = inputs[0] if isinstance(module, _TRANSPOSED) else output
        positions[module] = x[0, 0].numel() if x.ndim > 2 else 1

    hooks = [m.register_forward_hook(count) for m in convs]
    mode = model.training
    try:
        device = next(model.parameters()).device
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            model.eval()
            model(torch.zeros(1, *shape, device=device))
    except Exception:  # a model whose forward needs more than a sample: count each weight once
        return macs, len(weights)
    finally:
        model.train(mode)
        for h in hooks:
            h.remove()
    macs += sum(m.weight.numel() * (positions.get(m, 1) - 1) for m in convs)
    return macs, len(weights)


_CONVOLUTIONS = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.ConvTranspose1d,
                 torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)  # fmt: skip
_TRANSPOSED = (torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)


class ThreadPolicy:
    """A context in which torch's intra-op threads follow the policy above.

    Parameters
    ----------
    threads : "auto", None or int
        A fixed count, or the automatic policy ("auto" / None; ``HOURGLASS_THREADS`` applies).
    work : float
        Multiply-adds per weight operation (:func:`work_per_op`); 0 means small.
    device : torch.device or str
        Nothing is changed off the CPU.
    """

    def __init__(self, threads=None, work: float = 0.0, device="cpu"):
        self.fixed = parse_threads(threads)
        self.work = float(work)
        self.cpu = torch.device(device).type == "cpu"
        self.saved = None
        self.token = None
        self.heap = None

    def choose(self) -> int:
        """The count for now: fixed, one for small work, else the CPUs others left idle."""
        if self.fixed is not None:
            return min(self.fixed, cpu_limit())
        if self.work < SMALL_OP_MACS:  # no system call for the many small models' passes
            return 1
        ceiling = min(self.saved or torch.get_num_threads(), cpu_limit())
        if ceiling <= 1:
            return 1
        return max(1, ceiling - _LOAD.cpus_taken())

    def revisit(self) -> int:
        """Look again (at an epoch's end); returns the count now in force."""
        if self.cpu and self.saved is not None:
            n = self.choose()
            if n != torch.get_num_threads():
                torch.set_num_threads(n)
        return torch.get_num_threads()

    def __enter__(self) -> ThreadPolicy:
        if self.fixed is not None:
            self.token = _FIXED.set(self.fixed)
        if self.cpu:
            self.saved = torch.get_num_threads()
            self.revisit()
            self.heap = large_blocks_from_heap()  # the allocator's part of a CPU run's settings
            self.heap.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.heap is not None:
            self.heap.__exit__(None, None, None)
            self.heap = None
        if self.saved is not None and torch.get_num_threads() != self.saved:
            torch.set_num_threads(self.saved)
        if self.token is not None:
            _FIXED.reset(self.token)
        self.saved = self.token = None


def for_model(model: torch.nn.Module, batch: int, threads=None, device=None) -> ThreadPolicy:
    """The policy for running ``model`` on batches of ``batch`` rows (training or scoring)."""
    if device is None:
        device = next(model.parameters()).device if any(True for _ in model.parameters()) else "cpu"
    cpu = torch.device(device).type == "cpu"
    work = work_per_op(model, batch) if cpu and parse_threads(threads) is None else 0.0
    return ThreadPolicy(threads, work, device)


def fixed(threads) -> contextlib.AbstractContextManager:
    """A :class:`ThreadPolicy` where ``threads`` (or ``HOURGLASS_THREADS``) fixes a count, so that
    every policy opened inside it keeps that count; nothing where the policy is automatic (each
    fit and scoring pass inside then chooses for its own model)."""
    return ThreadPolicy(threads) if parse_threads(threads) is not None else contextlib.nullcontext()
