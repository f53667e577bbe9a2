"""The one fit loop every model trains with.

Speed comes from doing nothing per step that can be done per epoch: the data lives on the device
as one tensor, each epoch shuffles it with a single gather and takes batches as views; the loss is
summed on the device and read once per epoch (no host sync per step); Adam runs as one fused
kernel; convolutional models use channels-last memory on CPU, where oneDNN's kernels are fastest.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from hourglass.errors import HourglassError, InvalidInputError
from hourglass.models.base import LOSSES, Autoencoder
from hourglass.models.vae import VariationalAutoencoder
from hourglass.streaming import MappedRows, is_mapped
from hourglass.training.distributed import local_device
from hourglass.training.distributed import setup as distributed_setup
from hourglass.training.checkpoints import (CheckpointMismatchError, complete_checkpoints, data_fingerprint,
                                            load_latest, save_checkpoint)
from hourglass.training.optim import FastAdam
from hourglass.validation import check_model_input, check_positive_int


class TrainingError(HourglassError, FloatingPointError):
    """Training diverged (the loss became NaN or inf)."""


@dataclass
class History:
    """Per-epoch record of a :func:`fit` run."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    # The loss's parts per epoch where it has several: a VAE's "reconstruction" (NLL) and "kl",
    # both in nats per sample, averaged over all samples; without trim and warm-up,
    # train_loss = reconstruction + beta * kl.
    train_parts: dict[str, list[float]] = field(default_factory=dict)
    val_parts: dict[str, list[float]] = field(default_factory=dict)
    epoch_seconds: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    settings: dict = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when present, else CPU. Asking for CUDA without it is a clear error."""
    if isinstance(device, torch.device):
        dev = device
    elif device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError):
            raise InvalidInputError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("device='cuda' was asked for but no CUDA GPU is available; use device='auto'")
    return dev


def model_device(model: torch.nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _uses_conv2d(model: torch.nn.Module) -> bool:
    return any(isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) for m in model.modules())


def _describe_corruption(corruption) -> dict | str | None:
    """The corruption as JSON: a dict for the library's own (rebuilt by ``corruption_from_dict``,
    so a report can show noisy inputs), else its repr for a user's callable."""
    from hourglass.transforms.corruptions import CORRUPTIONS, corruption_to_dict

    if corruption is None or type(corruption).__name__ not in CORRUPTIONS:
        return None if corruption is None else repr(corruption)
    return corruption_to_dict(corruption)


def check_labels(model: Autoencoder, labels, n: int, name: str = "labels") -> np.ndarray | None:
    """Class labels for a conditional model: integers in ``[0, n_classes)``, one per sample.
    ``None`` for an unconditional model (which refuses labels)."""
    if not model.conditional:
        if labels is not None:
            raise InvalidInputError(f"the {model.name!r} model is not conditional; call it without {name}")
        return None
    if labels is None:
        raise InvalidInputError(f"the conditional {model.name!r} model needs {name}: one class per sample, "
                                f"integers in [0, {model.config.n_classes})")
    arr = np.asarray(labels)
    if arr.ndim == 0:
        arr = np.full(n, arr)
    if arr.ndim != 1 or len(arr) != n:
        raise InvalidInputError(f"{name} must hold one class per sample ({n}), got shape {np.shape(labels)}")
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iub":
        raise InvalidInputError(f"{name} must be integers in [0, {model.config.n_classes}), got dtype {arr.dtype}")
    bad = (arr < 0) | (arr >= model.config.n_classes)
    if bad.any():
        raise InvalidInputError(f"{name} must lie in [0, {model.config.n_classes}) for this model "
                                f"(n_classes={model.config.n_classes}); got {arr[bad][0]} at position {int(np.argmax(bad))}")
    return arr.astype(np.int64)


def _split_validation(model, validation):
    if validation is None:
        return None, None
    if isinstance(validation, tuple):
        if len(validation) != 2:
            raise InvalidInputError("validation must be an array or a tuple (inputs, targets)")
        xv, tv = validation
        return check_model_input(model, xv, "validation input"), check_model_input(model, tv, "validation target")
    xv = check_model_input(model, validation, "validation")
    return xv, None


def fit(
    model: Autoencoder,
    x,
    target=None,
    *,
    corruption=None,
    epochs: int = 10,
    batch_size: int = 32,
    loss: str | None = None,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    validation=None,
    shuffle: bool = True,
    seed: int | None = 0,
    device: str | torch.device = "auto",
    progress: bool = True,
    early_stopping: int | None = None,
    min_delta: float = 0.0,
    restore_best: bool = True,
    precision: str = "fp32",
    callbacks=(),
    trim: float = 0.0,
    labels=None,
    validation_labels=None,
    kl_warmup: int = 0,
    steps_per_epoch: int | None = None,
    checkpoint_dir=None,
    checkpoint_every: int = 1,
    resume: bool = False,
    compile: bool = False,
) -> History:
    """Train ``model`` to reconstruct ``target`` (default ``x``) from ``x`` with Adam.

    Parameters
    ----------
    model : Autoencoder
        From :func:`hourglass.create_model`; trained in place and left on ``device``.
    x : array-like, shape (n, *model.input_shape)
        Training inputs (a flat ``(n, features)`` array is reshaped when sizes match).
    target : array-like, optional
        What the model should output for each input; defaults to ``x`` (reconstruction).
    corruption : callable, optional
        Applied to each input batch, redrawn every step: ``GaussianNoise(0.2, clip=(0, 1))``
        for denoising, ``MaskingNoise(0.3)``; the target stays clean.
    epochs, batch_size : int
        Passes over the data and rows per step (the last batch of a pass may be smaller).
    steps_per_epoch : int, optional
        Batches per epoch, as in Keras' ``fit(generator, steps_per_epoch=...)``: the batches
        come from an endless stream of shuffled passes over the data, so an epoch may cover part
        of a pass or several. Default: one pass per epoch.
    loss : {"mse", "mae", "bce", "elbo"}, optional
        Reconstruction loss, averaged over elements; a variational model trains with "elbo" (the
        negative ELBO in nats per sample). Default: the model's own (``model.default_loss``).
    lr, weight_decay : float
        Adam's learning rate and L2 penalty.
    validation : array-like or (inputs, targets), optional
        Evaluated after each epoch. With a ``corruption`` and a bare array, the inputs are
        corrupted once (fixed noise from ``seed``) and the clean array is the target, as in the
        classic denoising tutorial.
    shuffle : bool
        Reshuffle the rows every epoch.
    seed : int or None
        Seeds shuffling and noise, so the same seed gives the same run on CPU. (Weights are
        initialised by ``create_model(..., seed=...)``.)
    device : "auto", "cpu", "cuda", or torch.device
        "auto" uses CUDA when present, else the CPU.
    progress : bool
        Show a progress bar (tqdm).
    early_stopping : int, optional
        Stop when the monitored loss (validation if given, else training) has not improved by
        ``min_delta`` for this many epochs; with ``restore_best`` the best weights are restored.
    trim : float in [0, 0.5), default 0
        Robust training for data that may hold anomalies: in every batch, the ``trim`` fraction
        of samples with the highest loss is left out of the loss (a trimmed mean), so the model
        does not learn to reconstruct the rare rows it should flag. 0 = the plain mean.
    precision : {"fp32", "bf16"}
        "bf16" runs the forward pass and loss under bfloat16 autocast (weights and optimizer
        state stay float32): faster on GPUs and on CPUs with bf16 instructions, at slightly
        different numerics. Off by default.
    labels, validation_labels : array-like of int, optional
        Class of each training / validation sample, for a conditional model (``cvae``) only.
    kl_warmup : int, default 0
        For a VAE: the KL term's weight grows linearly from 0 to ``beta`` over this many epochs
        (step by step), so the decoder learns to use the code before the KL pulls it to the
        prior. 0 = the plain ELBO throughout.
    checkpoint_dir : path, optional
        Write a checkpoint here every ``checkpoint_every`` epochs (and after the last): weights,
        Adam's state, the random generators, the batch stream's position and the history, as
        safetensors + JSON, atomically (see :mod:`hourglass.training.checkpoints`).
    resume : bool
        Continue from the newest checkpoint in ``checkpoint_dir`` if there is one (else start
        afresh). On CPU a resumed run ends with exactly the weights of an uninterrupted one. A
        checkpoint of another model, data set or settings is refused; ``epochs`` may grow.
    compile : bool, default False
        Run the forward pass and loss through ``torch.compile`` (on CUDA with
        ``mode="reduce-overhead"``, which replays CUDA graphs: small models at small batches are
        bound by kernel-launch overhead there). Off by default: on CPU it does not pay off for these
        models (``benchmarks/speed.py --compile``: against the same hand-written loop, 0.98x / 1.92x /
        1.34x / 1.57x for dense and conv at batch 32 / 256, where eager hg.fit reaches 1.64x / 1.71x /
        1.57x / 1.94x), and the first steps pay the compilation. The weights are the eager ones.
        Falls back to eager execution, with a warning, where compilation fails.
    callbacks : sequence of callables
        Each is called as ``callback(epoch, history, model)`` after every epoch (``epoch`` counts
        from 1, after the epoch's time is recorded); a callback that returns True stops training.

    Several processes: a script launched with ``torchrun --nproc_per_node=N`` trains
    data-parallel with no change (see :mod:`hourglass.training.distributed`); ``batch_size`` is
    the global batch, shared out among the processes.

    Returns
    -------
    History
        ``train_loss`` and ``val_loss`` per epoch, ``epoch_seconds``, ``best_epoch``.

    Examples
    --------
    >>> import hourglass as hg
    >>> ds = hg.datasets.load("ecg5000", split="tutorial")
    >>> normal = ds.x_train[ds.y_train == 1]
    >>> model = hg.create_model("stacked", input_shape=(140,), seed=0)
    >>> history = hg.fit(model, normal, epochs=2, batch_size=512, loss="mae", progress=False)
    >>> len(history.train_loss)
    2
    """
    if not isinstance(model, Autoencoder):
        raise InvalidInputError(f"model must be an hourglass Autoencoder (from create_model), got {type(model).__name__}")
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    if steps_per_epoch is not None:
        steps_per_epoch = check_positive_int(steps_per_epoch, "steps_per_epoch")
    variational = isinstance(model, VariationalAutoencoder)
    if loss is None:
        loss = model.default_loss
    if loss not in LOSSES:
        raise InvalidInputError(f"loss must be one of {LOSSES}, got {loss!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise InvalidInputError(f"lr must be a positive number, got {lr!r}")
    if early_stopping is not None:
        early_stopping = check_positive_int(early_stopping, "early_stopping")
    if precision not in ("fp32", "bf16"):
        raise InvalidInputError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
    if isinstance(trim, bool) or not isinstance(trim, (int, float)) or not 0 <= trim < 0.5:
        raise InvalidInputError(f"trim must lie in [0, 0.5), got {trim!r}")
    if variational and loss != "elbo":
        raise InvalidInputError(f"a variational autoencoder trains with loss='elbo', got loss={loss!r}")
    if loss == "elbo" and not variational:
        raise InvalidInputError("loss='elbo' needs a variational model (e.g. create_model('vae'))")
    if isinstance(kl_warmup, bool) or not isinstance(kl_warmup, int) or kl_warmup < 0:
        raise InvalidInputError(f"kl_warmup must be an integer number of epochs >= 0, got {kl_warmup!r}")
    if kl_warmup and not variational:
        raise InvalidInputError(f"kl_warmup is for variational models; the {model.name!r} model has no KL term")
    checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
    if resume and checkpoint_dir is None:
        raise InvalidInputError("resume=True needs checkpoint_dir: the folder the interrupted run wrote to")
    if corruption is not None and not callable(corruption):
        raise InvalidInputError(f"corruption must be callable (e.g. hg.GaussianNoise(0.2)), got {corruption!r}")

    x_np = check_model_input(model, x, "x")
    t_np = None if target is None else check_model_input(model, target, "target")
    if t_np is not None and len(t_np) != len(x_np):
        raise InvalidInputError(f"x has {len(x_np)} samples but target has {len(t_np)}")
    xv_np, tv_np = _split_validation(model, validation)
    l_np = check_labels(model, labels, len(x_np))
    lv_np = None if xv_np is None else check_labels(model, validation_labels, len(xv_np), "validation_labels")
    if xv_np is not None and tv_np is not None and len(xv_np) != len(tv_np):
        raise InvalidInputError(f"validation inputs have {len(xv_np)} samples but targets have {len(tv_np)}")
    if loss == "bce" or (variational and model.config.likelihood == "bernoulli"):
        what = "loss='bce'" if loss == "bce" else "a Bernoulli likelihood"
        for arr, name in ((t_np if t_np is not None else x_np, "target"),
                          (tv_np if tv_np is not None else xv_np, "validation target")):
            if arr is not None and (arr.min() < 0 or arr.max() > 1):
                raise InvalidInputError(f"{what} needs {name} values in [0, 1]; scale the data first "
                                        "(or use likelihood='gaussian' for real-valued data)")
        if loss == "bce" and model.config.output_activation != "sigmoid":
            raise InvalidInputError("loss='bce' needs a model with output_activation='sigmoid'")

    dev = resolve_device(device)
    if str(device) == "auto" and local_device() is not None:
        dev = local_device()  # under torchrun: this process's own GPU
    ddp = distributed_setup(dev)  # None unless launched by torchrun with several processes
    if ddp is not None and len(x_np) < ddp.world:
        raise InvalidInputError(f"{len(x_np)} training samples cannot be shared among {ddp.world} processes")
    channels_last = dev.type == "cpu" and len(model.input_shape) == 3 and _uses_conv2d(model)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(dev, memory_format=fmt)
    if ddp is not None:
        ddp.broadcast_parameters(model)  # every process starts from rank 0's weights

    def to_dev(a):
        return None if a is None else torch.from_numpy(a).to(dev).contiguous(memory_format=fmt)

    def rows(a):
        # a memory-mapped file stays on disk: batches are gathered from it (hourglass.streaming)
        return MappedRows(a, model.input_shape, dev, fmt) if is_mapped(a) else to_dev(a)

    X, T = rows(x_np), rows(t_np)
    L = None if l_np is None else torch.from_numpy(l_np).to(dev)
    if variational:
        stats_from = X if T is None else T
        model.init_from_data(stats_from.head() if isinstance(stats_from, MappedRows) else stats_from)
    LV = None if lv_np is None else torch.from_numpy(lv_np).to(dev)
    gen = torch.Generator(device=dev)
    if seed is None:
        gen.seed()  # non-deterministic, and leaves torch's global generator alone
    else:
        gen.manual_seed(int(seed))
    noise_gen = gen
    if ddp is not None:
        # the shuffle generator must stay identical across processes: noise gets its own, per process
        noise_gen = torch.Generator(device=dev)
        noise_gen.manual_seed((int(seed) if seed is not None else 0) * 1000 + 17 + ddp.rank)
    XV, TV = to_dev(xv_np), to_dev(tv_np)
    if XV is not None and TV is None:
        TV = XV
        if corruption is not None:
            val_gen = torch.Generator(device=dev)
            val_gen.manual_seed((int(seed) if seed is not None else 0) + 1)
            XV = corruption(XV, val_gen)

    optimizer = FastAdam(model.parameters(), lr=lr, weight_decay=weight_decay)
    autocast = (torch.autocast(dev.type, dtype=torch.bfloat16) if precision == "bf16"
                else contextlib.nullcontext())
    n = len(X)
    steps = math.ceil(n / batch_size) if steps_per_epoch is None else steps_per_epoch
    pos, order = n, None  # where the batch stream stands in the current pass
    history = History(settings=dict(epochs=epochs, batch_size=batch_size, steps_per_epoch=steps, loss=loss, lr=lr,
                                    weight_decay=weight_decay, seed=seed, device=str(dev), n_train=n,
                                    precision=precision, trim=trim, kl_warmup=kl_warmup,
                                    corruption=_describe_corruption(corruption)))
    best, best_state, bad_epochs = math.inf, None, 0
    fingerprint = {"model": model.name, "config": model.config.to_dict(), "data": data_fingerprint(x_np),
                   "target": None if t_np is None else data_fingerprint(t_np), "shuffle": shuffle,
                   **{k: history.settings[k] for k in ("batch_size", "steps_per_epoch", "loss", "lr", "weight_decay",
                                                        "seed", "n_train", "precision", "trim", "kl_warmup")}}
    start_epoch, restored = 0, None
    if resume:
        restored = load_latest(checkpoint_dir)
    if restored is not None:
        meta, saved = restored
        if meta["fingerprint"] != json.loads(json.dumps(fingerprint)):
            changed = sorted(k for k in fingerprint if json.loads(json.dumps(fingerprint[k])) != meta["fingerprint"].get(k))
            raise CheckpointMismatchError(f"the checkpoint in {checkpoint_dir} is of another run (different "
                                          f"{', '.join(changed)}); use a new checkpoint_dir or resume=False")
        model.load_state_dict({k[6:]: v for k, v in saved.items() if k.startswith("model/")})
        optimizer.load_state_tensors({k[6:]: v.to(dev) for k, v in saved.items() if k.startswith("optim/")})
        gen.set_state(saved["rng/batches"])
        start_epoch, pos = meta["epoch"], meta["position"]
        order = saved["stream/order"].to(dev) if "stream/order" in saved else None
        best = meta["best"] if meta["best"] is not None else math.inf
        bad_epochs = meta["bad_epochs"]
        if any(k.startswith("best/") for k in saved):
            best_state = {k[5:]: v.to(dev) for k, v in saved.items() if k.startswith("best/")}
        settings = history.settings
        history = History.from_dict(meta["history"])
        history.settings = {**settings, "resumed_from_epoch": start_epoch}
        if history.stopped_early:
            start_epoch = epochs  # that run had finished: nothing left to train

    from tqdm.auto import tqdm

    bar = tqdm(total=epochs * steps, initial=min(start_epoch, epochs) * steps,
               disable=not progress or (ddp is not None and not ddp.is_main), unit="batch", dynamic_ncols=True,
               desc=f"fit {model.name}")
    tick = max(1, steps // 50)  # bar updates are cheap but not free: ~50 per epoch
    # Randomness inside the model (dropout, a VAE's draws) comes from torch's global generator:
    # seed it from ``seed`` for this run only, and give the caller's generator state back after.
    rng_scope = contextlib.ExitStack()
    if seed is not None:
        rng_scope.enter_context(torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []))
        torch.manual_seed(int(seed) + 2)
        if restored is not None:
            torch.set_rng_state(restored[1]["rng/torch"])
            if dev.type == "cuda" and "rng/cuda" in restored[1]:
                torch.cuda.set_rng_state(restored[1]["rng/cuda"], dev)
    if variational and restored is None:
        history.train_parts = {"reconstruction": [], "kl": []}
        if XV is not None:
            history.val_parts = {"reconstruction": [], "kl": []}

    def checkpoint(epoch_done: int) -> None:
        tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
        tensors.update({f"optim/{k}": v for k, v in optimizer.state_tensors().items()})
        tensors["rng/batches"] = gen.get_state()
        if seed is not None:
            tensors["rng/torch"] = torch.get_rng_state()
            if dev.type == "cuda":
                tensors["rng/cuda"] = torch.cuda.get_rng_state(dev)
        if order is not None:
            tensors["stream/order"] = order
        if best_state is not None:
            tensors.update({f"best/{k}": v for k, v in best_state.items()})
        save_checkpoint(checkpoint_dir, epoch_done, tensors,
                        {"position": pos, "best": best if math.isfinite(best) else None, "bad_epochs": bad_epochs,
                         "history": history.to_dict(), "fingerprint": fingerprint})

    warmup_steps = kl_warmup * steps
    loss_fn, elbo_fn = model.loss, getattr(model, "negative_elbo", None)
    if compile:
        loss_fn, elbo_fn = (None if fn is None else _compiled(fn, dev) for fn in (loss_fn, elbo_fn))
    try:
        for epoch in range(start_epoch, epochs):
            start = time.perf_counter()
            model.train()
            parts = torch.zeros(2, device=dev)
            total = torch.zeros((), device=dev)
            step_losses = torch.zeros(steps, device=dev)  # to name the first bad step without a sync per step
            seen = 0
            for i in range(steps):
                # Batches come from one stream of passes over the data; a pass (a new shuffle)
                # starts whenever the last one is used up: at each epoch's start unless
                # steps_per_epoch cuts epochs shorter or longer than one pass.
                if pos >= n:
                    pos = 0
                    # Shuffled batches are gathered one at a time: a batch-sized copy stays in
                    # cache, where shuffling the whole set at once streams it through memory twice.
                    order = torch.randperm(n, device=dev, generator=gen) if shuffle else None
                lo, hi = pos, min(pos + batch_size, n)
                pos = hi
                global_rows = hi - lo
                if ddp is not None:
                    if global_rows < ddp.world:
                        continue  # a last batch with fewer rows than processes: every process skips it
                    lo, hi = ddp.share(lo, hi)  # this process's rows of the global batch
                seen += global_rows
                if order is None:
                    xb = X[lo:hi]
                    tb = xb if T is None else T[lo:hi]
                    lb = None if L is None else L[lo:hi]
                else:
                    idx = order[lo:hi]
                    xb = X.index_select(0, idx)
                    tb = xb if T is None else T.index_select(0, idx)
                    lb = None if L is None else L.index_select(0, idx)
                    if channels_last:
                        xb = xb.contiguous(memory_format=fmt)
                        tb = xb if T is None else tb.contiguous(memory_format=fmt)
                inp = corruption(xb, noise_gen) if corruption is not None else xb
                with autocast:
                    if variational:
                        if warmup_steps:
                            model.kl_weight = min(1.0, (epoch * steps + i + 1) / warmup_steps)
                        nll, kl = elbo_fn(inp, tb, lb)
                        per_sample = nll + (model.config.beta * model.kl_weight) * kl
                        weight = len(xb) / batch_size
                        parts += torch.stack([nll.detach().mean(), kl.detach().mean()]) * weight
                    elif trim:
                        per_sample = loss_fn(inp, tb, loss, reduction="none")
                    else:
                        per_sample = None
                        batch_loss = loss_fn(inp, tb, loss)
                    if per_sample is not None:
                        if trim:
                            keep = max(1, len(per_sample) - int(round(trim * len(per_sample))))
                            per_sample = torch.topk(per_sample, keep, largest=False, sorted=False).values
                        batch_loss = per_sample.mean()
                if ddp is None:
                    batch_loss.backward()
                else:
                    # weight by this process's share of the rows: the summed gradients are then the
                    # gradient of the global batch's mean loss
                    (batch_loss * (len(xb) / global_rows)).backward()
                    ddp.sum_gradients(optimizer.params)
                optimizer.step()
                optimizer.zero_grad()
                # Full batches are summed as they are; only a short last batch needs a weight.
                total += batch_loss.detach() if len(xb) == batch_size else batch_loss.detach() * (len(xb) / batch_size)
                step_losses[i] = batch_loss.detach()
                if (i + 1) % tick == 0 or i == steps - 1:
                    bar.update(tick if (i + 1) % tick == 0 else (i + 1) % tick)
            if ddp is not None:
                ddp.sum_(total)
                ddp.sum_(parts)
            train_loss = float(total) * batch_size / seen  # the epoch's only host sync
            if not math.isfinite(train_loss):
                bad_steps = (~torch.isfinite(step_losses)).nonzero()
                if len(bad_steps):
                    bad = int(bad_steps[0, 0])
                    when = (f"{float(step_losses[bad])} at epoch {epoch + 1}, step {bad + 1} of {steps} "
                            f"(step {epoch * steps + bad + 1} of the run)")
                else:  # another process's step went bad first (several processes)
                    when = f"{train_loss} in epoch {epoch + 1} (on another process)"
                kept = complete_checkpoints(checkpoint_dir) if checkpoint_dir is not None else []
                where = (f"; the last good checkpoint (epoch {int(kept[-1].stem.split('-')[1])}) is kept in "
                         f"{checkpoint_dir}: fix the cause and call fit again with resume=True"
                         if kept else "")
                raise TrainingError(
                    f"the training loss became {when}; usual causes: a learning rate too high "
                    f"(lr={lr}), or unscaled inputs far from the model's output range (scale them, e.g. "
                    f"hg.StandardScaler), or NaN / inf in a target{where}"
                )
            history.train_loss.append(train_loss)
            if variational:
                for name, value in zip(("reconstruction", "kl"), (parts * batch_size / seen).tolist()):
                    history.train_parts[name].append(value)
            if XV is not None:
                with autocast:
                    if variational:
                        nll, kl = _evaluate_elbo(model, XV, TV, LV, max(batch_size, 1024))
                        history.val_parts["reconstruction"].append(nll)
                        history.val_parts["kl"].append(kl)
                        history.val_loss.append(nll + model.config.beta * kl)
                    else:
                        history.val_loss.append(_evaluate_loss(model, XV, TV, loss, max(batch_size, 1024)))
            history.epoch_seconds.append(time.perf_counter() - start)
            postfix = {"loss": f"{train_loss:.4g}"}
            if history.val_loss:
                postfix["val_loss"] = f"{history.val_loss[-1]:.4g}"
            bar.set_postfix(postfix, refresh=False)

            stop = any([cb(epoch + 1, history, model) for cb in callbacks])
            monitored = history.val_loss[-1] if history.val_loss else train_loss
            if monitored < best - min_delta:
                best, bad_epochs, history.best_epoch = monitored, 0, epoch + 1
                if early_stopping is not None and restore_best:
                    best_state = copy.deepcopy(model.state_dict())
            else:
                bad_epochs += 1
                if early_stopping is not None and bad_epochs >= early_stopping:
                    history.stopped_early = stop = True
            if checkpoint_dir is not None and (ddp is None or ddp.is_main) and (
                    (epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs or stop):
                checkpoint(epoch + 1)
            if stop:
                break
    finally:
        if variational:
            model.kl_weight = 1.0
        rng_scope.close()
        bar.close()
        for rows_of in (X, T):
            if isinstance(rows_of, MappedRows):
                rows_of.release()
        model.eval()
        if channels_last:
            model.to(memory_format=torch.contiguous_format)
    if history.stopped_early and best_state is not None:
        model.load_state_dict(best_state)
    return history


def _compiled(eager, dev: torch.device):
    """``eager`` through torch.compile, falling back to it (with a warning) if compiling fails: a
    missing C++ compiler or an unsupported operation must not stop the user's training."""
    import warnings

    graphs = dev.type == "cuda"
    compiled = torch.compile(eager, mode="reduce-overhead" if graphs else None, dynamic=False)
    state = {"fn": compiled}

    def call(*args, **kwargs):
        try:
            if graphs and state["fn"] is compiled:
                # one training step per call: the previous step's graph outputs may be reused
                torch.compiler.cudagraph_mark_step_begin()
            return state["fn"](*args, **kwargs)
        except Exception as exc:  # the compiler's many error types; eager still works
            if state["fn"] is eager:
                raise
            warnings.warn(f"torch.compile failed ({type(exc).__name__}: {str(exc)[:200]}); training without it",
                          RuntimeWarning, stacklevel=2)
            state["fn"] = eager
            return eager(*args, **kwargs)

    return call


@torch.no_grad()
def _evaluate_loss(model: Autoencoder, x: torch.Tensor, target: torch.Tensor, loss: str, chunk: int) -> float:
    model.eval()
    total = torch.zeros((), device=x.device)
    for i in range(0, len(x), chunk):
        total += model.loss(x[i:i + chunk], target[i:i + chunk], loss) * len(x[i:i + chunk])
    model.train()
    return float(total) / len(x)


@torch.no_grad()
def _evaluate_elbo(model, x: torch.Tensor, target: torch.Tensor, labels, chunk: int) -> tuple[float, float]:
    """Mean reconstruction NLL and KL over the validation set (one draw per sample): the full
    -ELBO, whatever the KL warm-up has reached."""
    model.eval()
    total = torch.zeros(2, device=x.device)
    for i in range(0, len(x), chunk):
        lb = None if labels is None else labels[i:i + chunk]
        nll, kl = model.negative_elbo(x[i:i + chunk], target[i:i + chunk], lb)
        total += torch.stack([nll.sum(), kl.sum()])
    model.train()
    nll, kl = (total / len(x)).tolist()
    return nll, kl
