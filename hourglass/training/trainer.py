"""The one fit loop every model trains with.

:func:`fit` sets up named parts, then runs a loop that knows no model family:

- :class:`~hourglass.training.options.FitOptions`: the options, validated once;
- :class:`~hourglass.training.data.DeviceData`: the data on the device, batched by index;
- :class:`~hourglass.training.stream.BatchStream`: which rows each step takes (shuffle, position,
  the torchrun share);
- :class:`~hourglass.training.seeding.Seeds`: every random stream, from one seed;
- :class:`~hourglass.training.state.TrainState`: weights, optimizer, stream, generators, early
  stopping and history, which turn themselves into checkpoint tensors and back;
- the model's own :meth:`~hourglass.models.Autoencoder.training_loss` (per-sample values and
  named parts), :meth:`~hourglass.models.Autoencoder.prepare_training` and
  :meth:`~hourglass.models.Autoencoder.training_step`.

Speed comes from doing nothing per step that can be done per epoch: the data lives on the device
as one tensor and each batch is one gather; the loss is summed on the device and read once per
epoch (no host sync per step); Adam runs its fused kernel; convolutional models use channels-last
memory on CPU, where oneDNN's kernels are fastest.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import math
import time
from dataclasses import dataclass

import torch

from hourglass.devices import resolve_device
from hourglass.errors import HourglassError, InvalidInputError
from hourglass.history import History
from hourglass.models.base import Autoencoder, check_unit_range
from hourglass.threads import ThreadPolicy, for_model
from hourglass.training.callbacks import close_callbacks
from hourglass.training.checkpoints import (
    CheckpointMismatchError,
    complete_checkpoints,
    data_fingerprint,
    load_latest,
    save_checkpoint,
)
from hourglass.training.compiled import compiled
from hourglass.training.data import DeviceData, TrainingArrays
from hourglass.training.distributed import local_device
from hourglass.training.distributed import setup as distributed_setup
from hourglass.training.optim import make_optimizer
from hourglass.training.options import FitOptions
from hourglass.training.seeding import Seeds
from hourglass.training.state import EarlyStopping, TrainState
from hourglass.training.stream import BatchStream

logger = logging.getLogger(__name__)  # one INFO line per epoch; configure the 'hourglass' logger


class TrainingError(HourglassError, FloatingPointError):
    """Training diverged (the loss became NaN or inf)."""


def fit(
    model: Autoencoder,
    x,
    target=None,
    *,
    corruption=None,
    validation=None,
    labels=None,
    validation_labels=None,
    options: FitOptions | None = None,
    **kwargs,
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
        for denoising, ``MaskingNoise(0.3)``, ``Downsample(2)``; the target stays clean.
    validation : array-like or (inputs, targets), optional
        Evaluated after each epoch. With a ``corruption`` and a bare array, the inputs are
        corrupted once (fixed noise from ``seed``) and the clean array is the target, as in the
        classic denoising tutorial.
    labels, validation_labels : array-like of int, optional
        Class of each training / validation sample, for a conditional model (``cvae``) only.
    options : FitOptions, optional
        The options below as one object; keyword arguments override it.
    epochs, batch_size : int, default 10, 32
        Passes over the data and rows per step (the last batch of a pass may be smaller).
    steps_per_epoch : int, optional
        Batches per epoch, as in Keras' ``fit(generator, steps_per_epoch=...)``: the batches
        come from an endless stream of shuffled passes over the data, so an epoch may cover part
        of a pass or several. Default: one pass per epoch.
    loss : {"mse", "mae", "bce", "elbo"}, optional
        Reconstruction loss, averaged over elements; a variational model trains with "elbo" (the
        negative ELBO in nats per sample). Default: the model's own (``model.default_loss``).
    lr, weight_decay : float, default 1e-3, 0
        Adam's learning rate and L2 penalty.
    shuffle : bool, default True
        Reshuffle the rows every pass.
    seed : int or None, default 0
        Seeds shuffling, noise and the model's own randomness (dropout, a VAE's draws), so the
        same seed gives the same run on CPU; see :mod:`hourglass.training.seeding`. (Weights are
        initialised by ``create_model(..., seed=...)``.)
    device : "auto", "cpu", "cuda", or torch.device
        "auto" uses CUDA when present, else the CPU.
    precision : {"fp32", "bf16"}
        "bf16" runs the forward pass and loss under bfloat16 autocast (weights and optimizer
        state stay float32): faster on GPUs and on CPUs with bf16 instructions, at slightly
        different numerics.
    early_stopping : int, optional
        Stop when the monitored loss (validation if given, else training) has not improved by
        ``min_delta`` for this many epochs; with ``restore_best`` the best weights are restored.
    trim : float in [0, 0.5), default 0
        Robust training for data that may hold anomalies: in every batch, the ``trim`` fraction
        of samples with the highest loss is left out of the loss (a trimmed mean), so the model
        does not learn to reconstruct the rare rows it should flag. 0 = the plain mean.
    kl_warmup : int, default 0
        For a VAE: the KL term's weight grows linearly from 0 to ``beta`` over this many epochs
        (step by step), so the decoder learns to use the code before the KL pulls it to the
        prior. 0 = the plain ELBO throughout.
    binarize : bool, default False
        Dynamic binarisation, for data in [0, 1] read as probabilities (grey MNIST digits): every
        step draws each value of the batch as Bernoulli(value) afresh, and the model learns to
        reconstruct that draw. A fresh draw each time keeps a Bernoulli model (a VAE's
        likelihood) from overfitting one fixed binarisation; a validation array is drawn once
        (fixed, from ``seed``). Needs ``target`` unset.
    compile : bool, default False
        Run the loss through ``torch.compile`` (on CUDA with ``mode="reduce-overhead"``, which
        replays CUDA graphs). Off by default: on CPU it does not pay off for these models
        (``benchmarks/speed.py --compile``), and the first steps pay the compilation. Falls back to
        eager execution, with a warning, where compilation fails.
    checkpoint_dir : path, optional
        Write a checkpoint here every ``checkpoint_every`` epochs (and after the last): weights,
        the optimizer, the random generators, the batch stream's position and the history, as
        safetensors + JSON, atomically (see :mod:`hourglass.training.checkpoints`).
    resume : bool
        Continue from the newest checkpoint in ``checkpoint_dir`` if there is one (else start
        afresh). On CPU a resumed run ends with exactly the weights of an uninterrupted one. A
        checkpoint of another model, data set or settings is refused; ``epochs`` may grow.
    progress : "auto" or bool, default "auto"
        A progress bar (tqdm): "auto" where a person is watching (a terminal or a notebook),
        once the fit has run for two seconds (:mod:`hourglass.progress`); True always, False never.
    callbacks : sequence of callables
        Each is called as ``callback(epoch, history, model)`` after every epoch (``epoch`` counts
        from 1, after the epoch's time is recorded); a callback that returns True stops training,
        and one with a ``close()`` method has it called once when the run ends. Ready-made:
        ``hg.callbacks.CSVLogger(path)``, ``hg.callbacks.TensorBoard(log_dir)``; the protocol, with
        an MLflow example, is in :mod:`hourglass.training.callbacks`. Every epoch also writes one
        INFO line to the ``hourglass`` logger.
    optimizer : callable, optional
        ``optimizer(params, lr=, weight_decay=)`` -> a ``torch.optim.Optimizer``, to train with
        another optimizer than Adam (e.g. ``torch.optim.AdamW``).
    threads : "auto" or int, default "auto"
        CPU threads for torch's operations during the fit (the caller's setting is restored
        after). "auto" runs one thread where the model's operations are too small to share and,
        for larger ones, the CPUs that other processes leave idle, looking again every epoch
        (:mod:`hourglass.threads`; ``HOURGLASS_THREADS`` sets it for a whole run). A number fixes it.

    Returns
    -------
    History
        ``train_loss`` and ``val_loss`` per epoch, ``epoch_seconds``, ``best_epoch``.

    Notes
    -----
    Several processes: a script launched with ``torchrun --nproc_per_node=N`` trains
    data-parallel with no change (see :mod:`hourglass.training.distributed`); ``batch_size`` is
    the global batch, shared out among the processes.

    Examples
    --------
    >>> import hourglass as hg
    >>> beats = hg.datasets.load("ecg5000").x_train            # 500 heartbeats of 140 steps
    >>> model = hg.create_model("stacked", input_shape=(140,), seed=0)
    >>> history = hg.fit(model, beats, epochs=2, batch_size=128, loss="mae", progress=False)
    >>> len(history.train_loss), history.settings["steps_per_epoch"]
    (2, 4)
    """
    if not isinstance(model, Autoencoder):
        raise InvalidInputError(
            f"model must be an hourglass Autoencoder (from create_model), got {type(model).__name__}"
        )
    if options is not None and not isinstance(options, FitOptions):
        raise InvalidInputError(f"options must be a FitOptions, got {type(options).__name__}")
    opts = (options or FitOptions()).replace(**kwargs) if kwargs else (options or FitOptions())
    if corruption is not None and not callable(corruption):
        raise InvalidInputError(f"corruption must be callable (e.g. hg.GaussianNoise(0.2)), got {corruption!r}")
    if getattr(model, "n_members", None) is not None:  # a DenseEnsemble: its members train together
        from hourglass.training.members import fit_members

        if labels is not None or validation_labels is not None:
            raise InvalidInputError(f"the {model.name!r} model takes no class labels")
        return fit_members(model, x, target, corruption=corruption, validation=validation, options=opts)
    arrays = TrainingArrays.check(model, x, target, validation, labels, validation_labels)
    run = _Run.setup(model, arrays, corruption, opts)
    with run.scope():
        _loop(run)
    return run.state.history


# fit's signature lists its options, for help() and editors; FitOptions stays their one source.
fit.__signature__ = inspect.signature(fit).replace(
    parameters=[
        *[p for p in inspect.signature(fit).parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD],
        *[
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
            for name, default in FitOptions().to_dict().items()
        ],
    ]
)


def _loop(run: _Run) -> None:
    """The training loop: epochs of steps, then the epoch's bookkeeping and stop rules."""
    state, opts, data, model = run.state, run.opts, run.data, run.model
    history, ddp = state.history, run.ddp
    for epoch in range(state.epoch, opts.epochs):
        started = time.perf_counter()
        model.train()
        record = _EpochRecord(opts.batch_size)
        for i in range(run.steps):
            batch = state.stream.next()
            if batch.index is None:
                continue
            xb, tb, lb = data.batch(batch.index)
            if opts.binarize:
                xb = tb = torch.bernoulli(xb, generator=state.noise)
            inp = xb if run.corruption is None else run.corruption(xb, state.noise)
            model.training_step(epoch * run.steps + i + 1)
            loss, part_means = run.gradients(inp, tb, lb, len(xb) / batch.rows)
            state.optimizer.step()
            state.optimizer.zero_grad(set_to_none=True)
            record.add(i, loss, len(xb), batch.rows, part_means)
            run.progress.step(i)
        train_loss, train_parts = record.close(ddp)  # the epoch's only host sync
        if not math.isfinite(train_loss):
            raise run.diverged(epoch, train_loss, record.first_bad_step())
        history.train_loss.append(train_loss)
        for name, value in train_parts.items():
            history.train_parts.setdefault(name, []).append(value)
        if data.val_x is not None:
            with run.autocast:
                val_loss, val_parts = run.evaluate()
            history.val_loss.append(val_loss)
            for name, value in val_parts.items():
                history.val_parts.setdefault(name, []).append(value)
        history.epoch_seconds.append(time.perf_counter() - started)
        run.progress.epoch_done(
            epoch + 1, train_loss, history.val_loss[-1] if history.val_loss else None, history.epoch_seconds[-1]
        )

        stop = any([cb(epoch + 1, history, model) for cb in opts.callbacks])
        monitored = history.val_loss[-1] if history.val_loss else train_loss
        stop = state.early.update(monitored, epoch + 1, model, history) or stop
        state.epoch = epoch + 1
        if run.should_checkpoint(stop):
            run.checkpoint()
        if stop:
            break
        run.threads.revisit()  # other work may have started or ended on the machine
    state.early.restore_best_weights(model, history)


@dataclass
class _Run:
    """The named parts of one fit run, set up once (:meth:`setup`), used by :func:`_loop`."""

    model: Autoencoder
    opts: FitOptions
    loss: str
    device: torch.device
    ddp: object
    data: DeviceData
    state: TrainState
    seeds: Seeds
    corruption: object
    steps: int
    fingerprint: dict
    progress: _Progress
    batch_loss: object = None
    params: list = None
    autocast: object = None
    gradients: object = None
    threads: ThreadPolicy = None

    @classmethod
    def setup(cls, model: Autoencoder, arrays: TrainingArrays, corruption, opts: FitOptions) -> _Run:
        device = resolve_device(opts.device)
        if str(opts.device) == "auto" and local_device() is not None:
            device = local_device()  # under torchrun: this process's own GPU
        ddp = distributed_setup(device)  # None unless launched by torchrun with several processes
        if ddp is not None and len(arrays.x) < ddp.world:
            raise InvalidInputError(f"{len(arrays.x)} training samples cannot be shared among {ddp.world} processes")
        check_binarize(opts, arrays)
        data = DeviceData(arrays, model, device)
        model.to(device, memory_format=data.memory_format)
        if ddp is not None:
            ddp.broadcast_parameters(model)  # every process starts from rank 0's weights
        n = len(data)
        steps = math.ceil(n / opts.batch_size) if opts.steps_per_epoch is None else opts.steps_per_epoch
        loss = opts.loss or model.default_loss
        model.prepare_training(opts, loss=loss, steps_per_epoch=steps, targets=arrays.targets(), sample=data.sample())
        seeds = Seeds(opts.seed, rank=0 if ddp is None else ddp.rank)
        if ddp is not None and opts.seed is None:
            seeds = Seeds(None, rank=ddp.rank, entropy=ddp.agree(seeds.entropy))  # all processes shuffle alike
        shuffle = seeds.shuffle(device)
        validation_noise = seeds.validation(device)  # one stream: binarising, then corrupting
        if opts.binarize:
            data.binarize_validation(validation_noise)
        data.corrupt_validation(corruption, validation_noise)
        stream = BatchStream(n, opts.batch_size, shuffle=opts.shuffle, generator=shuffle, share=ddp)
        optimizer = make_optimizer(
            model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay, factory=opts.optimizer
        )
        history = History(settings=_settings(opts, loss, steps, device, n, corruption))
        state = TrainState(
            model,
            optimizer,
            stream,
            seeds.noise(device),
            EarlyStopping(opts.early_stopping, opts.min_delta, opts.restore_best),
            history,
            device,
            seeded=opts.seed is not None,
        )
        fingerprint = _fingerprint(model, arrays, opts, history.settings)
        progress = _Progress(opts, steps, model.name, quiet=ddp is not None and not ddp.is_main)
        run = cls(model, opts, loss, device, ddp, data, state, seeds, corruption, steps, fingerprint, progress)
        run.params = [p for p in model.parameters() if p.requires_grad]
        run.autocast = (
            torch.autocast(device.type, dtype=torch.bfloat16) if opts.precision == "bf16" else contextlib.nullcontext()
        )
        run.batch_loss = _batch_loss(model, loss, opts.trim)
        if opts.compile:
            run.batch_loss = compiled(run.batch_loss, device)
        run.gradients = run.pick_gradients()
        run.threads = for_model(model, min(opts.batch_size, n), opts.threads, device)
        return run

    def pick_gradients(self):
        """The model's hand-written gradients where it has them for this run (float32 on CPU, eager,
        one process: where they were measured faster and tested equal), else autograd's."""
        manual = None
        if self.device.type == "cpu" and self.ddp is None and self.opts.precision == "fp32" and not self.opts.compile:
            manual = self.model.manual_gradients(loss=self.loss, trim=self.opts.trim)
        self.state.history.settings["gradients"] = "autograd" if manual is None else "manual"
        if manual is None:
            return self.autograd_gradients
        return lambda x, target, labels, share: (manual(x, target), {})

    def autograd_gradients(self, x, target, labels, share: float) -> tuple[torch.Tensor, dict]:
        """One step's loss and its parts' means, the parameters' gradients written by autograd.
        ``share``: this process's share of the global batch's rows."""
        with self.autocast:
            loss, part_means = self.batch_loss(x, target, labels)
        if self.ddp is None:
            loss.backward()
        else:
            # weight by this process's share of the rows: the summed gradients are then the
            # gradient of the global batch's mean loss
            (loss * share).backward()
            self.ddp.sum_gradients(self.params)
        return loss, part_means

    @contextlib.contextmanager
    def scope(self):
        """The run's lifetime: torch's generator seeded for it (and given back after), a resumed
        checkpoint, the progress bar; whatever happens, the model is left in eval mode."""
        try:
            with self.seeds.model_scope(self.device), self.threads:
                self.resume()
                self.progress.start(self.state.epoch)
                yield
        finally:
            self.model.finish_training()
            self.progress.close()
            close_callbacks(self.opts.callbacks)
            self.data.release()
            self.model.eval()
            if self.data.channels_last:
                self.model.to(memory_format=torch.contiguous_format)

    @torch.no_grad()
    def evaluate(self) -> tuple[float, dict[str, float]]:
        """The validation loss (the model's full loss, no warm-up) and its parts' means."""
        data, model = self.data, self.model
        model.eval()
        chunk, n = max(self.opts.batch_size, 1024), len(data.val_x)
        total = torch.zeros((), device=self.device)
        parts: dict[str, torch.Tensor] = {}
        for i in range(0, n, chunk):
            lb = None if data.val_labels is None else data.val_labels[i : i + chunk]
            out = model.training_loss(
                data.val_x[i : i + chunk], data.val_target[i : i + chunk], loss=self.loss, labels=lb
            )
            total += out.mean() * len(data.val_x[i : i + chunk])
            for name, value in out.parts.items():
                parts[name] = parts[name] + value.sum() if name in parts else value.sum()
        model.train()
        return float(total) / n, {name: (value / n).item() for name, value in parts.items()}

    # -- checkpoints -------------------------------------------------------------------------
    def resume(self) -> None:
        if not self.opts.resume:
            return
        restored = load_latest(self.opts.checkpoint_dir)
        if restored is None:
            return
        meta, tensors = restored
        expected = json.loads(json.dumps(self.fingerprint))
        if meta["fingerprint"] != expected:
            changed = sorted(k for k in expected if expected[k] != meta["fingerprint"].get(k))
            raise CheckpointMismatchError(
                f"the checkpoint in {self.opts.checkpoint_dir} is of another run (different "
                f"{', '.join(changed)}); use a new checkpoint_dir or resume=False"
            )
        self.state.restore(tensors, meta)
        if self.state.history.stopped_early:
            self.state.epoch = self.opts.epochs  # that run had finished: nothing left to train

    def should_checkpoint(self, stop: bool) -> bool:
        opts, epoch = self.opts, self.state.epoch
        return (
            opts.checkpoint_dir is not None
            and (self.ddp is None or self.ddp.is_main)
            and (epoch % opts.checkpoint_every == 0 or epoch == opts.epochs or stop)
        )

    def checkpoint(self) -> None:
        tensors, meta = self.state.checkpoint()
        save_checkpoint(self.opts.checkpoint_dir, self.state.epoch, tensors, {**meta, "fingerprint": self.fingerprint})

    def diverged(self, epoch: int, train_loss: float, bad: tuple[int, float] | None) -> TrainingError:
        """The error for a non-finite epoch loss, naming the first bad step and the checkpoint kept."""
        if bad is not None:
            step, value = bad
            when = (
                f"{value} at epoch {epoch + 1}, step {step + 1} of {self.steps} "
                f"(step {epoch * self.steps + step + 1} of the run)"
            )
        else:  # another process's step went bad first (several processes)
            when = f"{train_loss} in epoch {epoch + 1} (on another process)"
        directory = self.opts.checkpoint_dir
        kept = complete_checkpoints(directory) if directory is not None else []
        where = (
            f"; the last good checkpoint (epoch {int(kept[-1].stem.split('-')[1])}) is kept in {directory}: "
            "fix the cause and call fit again with resume=True"
            if kept
            else ""
        )
        return TrainingError(
            f"the training loss became {when}; usual causes: a learning rate too high "
            f"(lr={self.opts.lr}), or unscaled inputs far from the model's output range (scale "
            f"them, e.g. hg.StandardScaler), or NaN / inf in a target{where}"
        )


class _EpochRecord:
    """An epoch's step losses and loss parts, kept on the device and read once, at the epoch's end
    (no host sync per step). A short last batch weighs by its share of a full batch."""

    def __init__(self, batch_size: int):
        self.batch_size, self.seen = batch_size, 0
        self.steps, self.losses, self.weights, self.parts = [], [], [], {}

    def add(self, step: int, loss: torch.Tensor, rows: int, global_rows: int, parts: dict) -> None:
        self.steps.append(step)
        self.losses.append(loss.detach())
        self.weights.append(rows / self.batch_size)
        self.seen += global_rows
        for name, value in parts.items():
            self.parts.setdefault(name, []).append(value)

    def close(self, ddp) -> tuple[float, dict[str, float]]:
        """The epoch's mean loss per sample and its parts' (summed over processes under torchrun)."""
        weights = torch.tensor(self.weights, device=self.losses[0].device)
        total = (torch.stack(self.losses).float() * weights).sum()
        parts = {name: (torch.stack(values).float() * weights).sum() for name, values in self.parts.items()}
        if ddp is not None:
            for value in (total, *parts.values()):
                ddp.sum_(value)
        scale = self.batch_size / self.seen
        return float(total) * scale, {name: float(value) * scale for name, value in parts.items()}

    def first_bad_step(self) -> tuple[int, float] | None:
        """(step, loss) of this process's first non-finite step loss, if any."""
        losses = torch.stack(self.losses).float()
        bad = (~torch.isfinite(losses)).nonzero()
        return None if not len(bad) else (self.steps[int(bad[0, 0])], float(losses[int(bad[0, 0])]))


def _batch_loss(model: Autoencoder, loss: str, trim: float):
    """One step's loss (the trimmed mean of the model's per-sample loss) and its parts' means."""

    def batch_loss(x, target, labels):
        out = model.training_loss(x, target, loss=loss, labels=labels)
        return out.trimmed_mean(trim), {name: value.detach().mean() for name, value in out.parts.items()}

    return batch_loss


def _settings(opts: FitOptions, loss: str, steps: int, device, n: int, corruption) -> dict:
    """What History.settings records of the run."""
    from hourglass.transforms.corruptions import describe_corruption

    return dict(
        epochs=opts.epochs,
        batch_size=opts.batch_size,
        steps_per_epoch=steps,
        loss=loss,
        lr=opts.lr,
        weight_decay=opts.weight_decay,
        seed=opts.seed,
        device=str(device),
        n_train=n,
        precision=opts.precision,
        trim=opts.trim,
        kl_warmup=opts.kl_warmup,
        corruption=describe_corruption(corruption),
        # only when on: the settings (and the checkpoint fingerprints) of other runs stay as they were
        **({"binarize": True} if opts.binarize else {}),
    )


def check_binarize(opts: FitOptions, arrays: TrainingArrays) -> None:
    """``binarize`` draws targets from inputs in [0, 1]: a clear error otherwise."""
    if not opts.binarize:
        return
    if arrays.target is not None:
        raise InvalidInputError("binarize=True draws each target from its input; it takes no separate target")
    check_unit_range({"x": arrays.x, "validation": arrays.val_x}, "binarize=True (values read as probabilities)")


def _fingerprint(model, arrays: TrainingArrays, opts: FitOptions, settings: dict) -> dict:
    """What a checkpoint must match to be resumed by this run."""
    return {
        "model": model.name,
        "config": model.config.to_dict(),
        "data": data_fingerprint(arrays.x),
        "target": None if arrays.target is None else data_fingerprint(arrays.target),
        "shuffle": opts.shuffle,
        **({"binarize": True} if opts.binarize else {}),  # only when on: older fingerprints stay equal
        **{
            k: settings[k]
            for k in (
                "batch_size",
                "steps_per_epoch",
                "loss",
                "lr",
                "weight_decay",
                "seed",
                "n_train",
                "precision",
                "trim",
                "kl_warmup",
            )
        },
    }


class _Progress:
    """The tqdm bar: about 50 updates per epoch (cheap, but not free), the losses as a postfix."""

    def __init__(self, opts: FitOptions, steps: int, name: str, quiet: bool):
        self.opts, self.steps, self.name, self.quiet = opts, steps, name, quiet
        self.option = False if quiet else opts.progress
        self.tick = max(1, steps // 50)
        self.bar = None

    def start(self, epochs_done: int) -> None:
        from hourglass.progress import bar

        self.bar = bar(
            self.option,
            total=self.opts.epochs * self.steps,
            initial=min(epochs_done, self.opts.epochs) * self.steps,
            unit="batch",
            desc=f"fit {self.name}",
        )

    def step(self, i: int) -> None:
        if (i + 1) % self.tick == 0:
            self.bar.update(self.tick)
        elif i == self.steps - 1:
            self.bar.update((i + 1) % self.tick)

    def epoch_done(self, epoch: int, train_loss: float, val_loss: float | None, seconds: float) -> None:
        """The bar's postfix, and one line on the ``hourglass`` logger (INFO; once under torchrun)."""
        # with trim, the training loss leaves out each batch's worst rows and the validation loss
        # does not: on heavy-tailed data they differ by orders of magnitude, so each says which it is
        train_name, val_name = self.labels()
        postfix = {train_name: f"{train_loss:.4g}"}
        if val_loss is not None:
            postfix[val_name] = f"{val_loss:.4g}"
        self.bar.set_postfix(postfix, refresh=False)
        if not self.quiet and logger.isEnabledFor(logging.INFO):
            val = "" if val_loss is None else f", {val_name} {val_loss:.6g}"
            done = f"epoch {epoch}/{self.opts.epochs}"
            logger.info(f"fit {self.name}: {done}, {train_name} {train_loss:.6g}{val}, {seconds:.2f} s")

    def labels(self) -> tuple[str, str]:
        """The names of the training and validation losses as the bar and the log show them."""
        if not self.opts.trim:
            return "loss", "val_loss"
        kept = round(100 * (1 - self.opts.trim))
        return f"loss (best {kept}% of each batch)", "val_loss (all rows)"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
