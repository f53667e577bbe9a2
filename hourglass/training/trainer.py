"""The one fit loop every model trains with, a single model or a stack of members.

:func:`fit` sets up named parts, then runs a loop that knows no model family:

- :class:`~hourglass.training.options.FitOptions`: the options, validated once;
- :class:`~hourglass.training.data.DeviceData`: the data on the device, batched by index;
- :class:`~hourglass.training.stream.BatchStream`: which rows each step takes (shuffle, position,
  the torchrun share);
- :class:`~hourglass.training.seeding.Seeds`: every random stream, from one seed;
- :class:`~hourglass.training.state.TrainState`: weights, optimizer, stream, generators, early
  stopping and history, which turn themselves into checkpoint tensors and back;
- :mod:`~hourglass.training.epoch`: the epoch's losses, history lines and progress bar;
- the model's own :meth:`~hourglass.models.Autoencoder.training_loss` (per-sample values and
  named parts), :meth:`~hourglass.models.Autoencoder.prepare_training` and
  :meth:`~hourglass.models.Autoencoder.training_step`.

**Members.** A model of N members (a ``DenseEnsemble``: the default tabular detector and
``SeriesDetector``) trains in the same loop along a member axis: its loss is one value per member,
(N,), each member's trimmed mean over its own batch. Each member keeps what a fit of its own would
have: its own rows (``member_rows``) and order (its own seed's shuffle stream), its own trimmed
loss (the losses are summed, so one backward pass gives each member the gradient of its own loss
only), one optimizer step for all (element-wise for Adam, so each member's update is its own), and
its own early stopping (:class:`~hourglass.training.state.MemberStopping`: a stopped member goes
back to its best weights and is held there). Checkpoints, resume, a custom optimizer, ``compile``
and torchrun work the same. A single model is the one-member case, and a one-member ensemble
trains bit for bit as the ``stacked`` model it holds (``tests/test_members.py``).

Speed comes from doing nothing per step that can be done per epoch: the data lives on the device
as one tensor and each batch is one gather; the loss is summed on the device and read once per
epoch (no host sync per step); Adam runs its fused kernel; convolutional models use channels-last
memory on CPU, where oneDNN's kernels are fastest.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import time
from dataclasses import dataclass

import torch

from hourglass.devices import resolve_device
from hourglass.errors import HourglassError, InvalidInputError
from hourglass.history import History
from hourglass.models.base import Autoencoder, check_unit_range
from hourglass.models.members import member_seeds as seeds_of_members
from hourglass.threads import ThreadPolicy, for_model
from hourglass.training import gradients
from hourglass.training.callbacks import close_callbacks
from hourglass.training.checkpoints import (
    CheckpointMismatchError,
    complete_checkpoints,
    data_fingerprint,
    load_latest,
    save_checkpoint,
)
from hourglass.training.compiled import compiled
from hourglass.training.data import DeviceData, TrainingArrays, check_member_rows
from hourglass.training.distributed import local_device
from hourglass.training.distributed import setup as distributed_setup
from hourglass.training.epoch import EpochRecord, FitProgress, log_epoch
from hourglass.training.layers import faster_layers
from hourglass.training.optim import make_optimizer
from hourglass.training.options import FitOptions
from hourglass.training.seeding import Seeds
from hourglass.training.state import EarlyStopping, MemberStopping, TrainState
from hourglass.training.stream import BatchStream


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
    member_rows=None,
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
    member_rows : array-like of int, shape (n_members, m), optional
        For a model of several members (``dense-ensemble``): member k trains on the rows
        ``member_rows[k]`` of ``x`` only (bagging). Default: every member on every row.
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
    gradients : {"auto", "autograd"}, default "auto"
        How each step's gradients are made: "auto" writes the step out by hand for the model
        families where that was measured at least 10 % faster (the dense and conv models, float32
        on the CPU; the same gradients as autograd's, to rounding: :mod:`hourglass.training.gradients`),
        autograd elsewhere; "autograd" always. ``History.settings["gradients"]`` says which ran.
    layers : {"auto", "torch"}, default "auto"
        "auto": on the CPU, the model's convolutions and dropout train as their faster twins
        (:mod:`hourglass.training.layers`: the same parameters and results to rounding, dropout's
        masks drawn its own way), torch's own layers again when the fit ends; "torch": torch's
        layers throughout.
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
    arrays = TrainingArrays.check(model, x, target, validation, labels, validation_labels)
    rows = check_member_rows(member_rows, model, len(arrays.x))
    run = _Run.setup(model, arrays, corruption, opts, rows)
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
        record = EpochRecord(opts.batch_size)
        for i in range(run.steps):
            batch = state.stream.next()
            if batch.index is None:
                continue
            xb, tb, lb = data.batch(batch.index)
            if opts.binarize:
                xb = tb = torch.bernoulli(xb, generator=state.noise)
            inp = xb if run.corruption is None else run.corruption(xb, state.noise)
            model.training_step(epoch * run.steps + i + 1)
            rows = len(xb) if run.members is None else xb.shape[1]  # this process's rows
            loss, part_means = run.gradients(inp, tb, lb, rows / batch.rows)
            state.optimizer.step()
            state.optimizer.zero_grad(set_to_none=True)
            state.early.after_step()  # stopped members stay at their weights
            record.add(i, loss, rows, batch.rows, part_means)
            run.progress.step(i)
        train, train_parts = record.close(ddp)  # the epoch's only host sync; one loss per member
        bad = ~torch.isfinite(train) & state.early.active
        if bad.any():
            raise run.diverged(epoch, float(train[bad][0]), record.first_bad_step())
        val, val_parts = (None, {})
        if data.val_x is not None:
            with run.autocast:
                val, val_parts = run.evaluate()
        log_epoch(history, train, val, time.perf_counter() - started, state.early.active)
        for name, value in train_parts.items():
            history.train_parts.setdefault(name, []).append(value)
        for name, value in val_parts.items():
            history.val_parts.setdefault(name, []).append(value)
        run.progress.epoch_done(
            epoch + 1,
            history.train_loss[-1],
            history.val_loss[-1] if val is not None else None,
            history.epoch_seconds[-1],
        )

        stop = any([cb(epoch + 1, history, model) for cb in opts.callbacks])
        monitored = val if val is not None else train
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
    progress: FitProgress
    batch_loss: object = None
    params: list = None
    autocast: object = None
    gradients: object = None
    threads: ThreadPolicy = None
    members: int | None = None  # a model of several members: how many

    @classmethod
    def setup(cls, model: Autoencoder, arrays: TrainingArrays, corruption, opts: FitOptions, rows=None) -> _Run:
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
        members = model.n_members
        n = len(data) if rows is None else rows.shape[1]
        steps = math.ceil(n / opts.batch_size) if opts.steps_per_epoch is None else opts.steps_per_epoch
        loss = opts.loss or model.default_loss
        model.prepare_training(opts, loss=loss, steps_per_epoch=steps, targets=arrays.targets(), sample=data.sample())
        # each member shuffles with its own seed's stream; the rest comes from member 0's (the run's seed)
        member_seeds = [
            Seeds(s, rank=0 if ddp is None else ddp.rank) for s in seeds_of_members(opts.seed, members or 1)
        ]
        if ddp is not None and opts.seed is None:  # all processes shuffle alike
            member_seeds = [Seeds(None, rank=ddp.rank, entropy=ddp.agree(s.entropy)) for s in member_seeds]
        seeds = member_seeds[0]
        validation_noise = seeds.validation(device)  # one stream: binarising, then corrupting
        if opts.binarize:
            data.binarize_validation(validation_noise)
        data.corrupt_validation(corruption, validation_noise)
        shuffle = seeds.shuffle(device) if members is None else [s.shuffle(device) for s in member_seeds]
        rows = None if rows is None else torch.from_numpy(rows).to(device)
        stream = BatchStream(n, opts.batch_size, shuffle=opts.shuffle, generator=shuffle, rows=rows, share=ddp)
        optimizer = make_optimizer(
            model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay, factory=opts.optimizer
        )
        settings = _settings(opts, loss, steps, device, n, corruption)
        history = History(settings=settings if members is None else {**settings, "n_members": members})
        if members is None:
            early = EarlyStopping(opts.early_stopping, opts.min_delta, opts.restore_best)
        else:
            early = MemberStopping(opts.early_stopping, opts.min_delta, opts.restore_best, model)
            history.members = [History(settings={"seed": s.seed}) for s in member_seeds]
        state = TrainState(
            model, optimizer, stream, seeds.noise(device), early, history, device, seeded=opts.seed is not None
        )
        fingerprint = _fingerprint(model, arrays, opts, history.settings, rows)
        name = model.name if members is None else f"{model.name} ({members} members)"
        progress = FitProgress(opts, steps, name, quiet=ddp is not None and not ddp.is_main)
        run = cls(model, opts, loss, device, ddp, data, state, seeds, corruption, steps, fingerprint, progress)
        run.members = members
        run.params = [p for p in model.parameters() if p.requires_grad]
        run.autocast = (
            torch.autocast(device.type, dtype=torch.bfloat16) if opts.precision == "bf16" else contextlib.nullcontext()
        )
        run.batch_loss = _batch_loss(model, loss, opts.trim)
        if opts.compile:
            run.batch_loss = compiled(run.batch_loss, device)
        run.gradients = run.pick_gradients()
        run.threads = for_model(model, min(opts.batch_size, n), opts.threads, device)
        faster = opts.layers == "auto" and device.type == "cpu"
        run.layers = faster_layers(model) if faster else contextlib.nullcontext()
        return run

    def pick_gradients(self):
        """The written-out step where there is one for this run (``gradients="auto"``; float32 on
        CPU, eager, one process: where it was measured faster and tested equal), else autograd."""
        manual, opts = None, self.opts
        if opts.gradients == "auto" and self.device.type == "cpu" and self.ddp is None:
            if opts.precision == "fp32" and not opts.compile:
                manual = gradients.written_out_step(self.model, loss=self.loss, trim=opts.trim)
        self.state.history.settings["gradients"] = "autograd" if manual is None else "manual"
        if manual is None:
            return self.autograd_gradients
        return lambda x, target, labels, share: (manual(x, target), {})

    def autograd_gradients(self, x, target, labels, share: float) -> tuple[torch.Tensor, dict]:
        """One step's loss and its parts' means, the parameters' gradients written by autograd.
        ``share``: this process's share of the global batch's rows."""
        with self.autocast:
            loss, part_means = self.batch_loss(x, target, labels)
        # members' losses are summed: each member's weights get the gradient of its own loss only
        if self.ddp is None:
            (loss if loss.dim() == 0 else loss.sum()).backward()
        else:
            # weight by this process's share of the rows: the summed gradients are then the
            # gradient of the global batch's mean loss
            (loss * share).sum().backward()
            self.ddp.sum_gradients(self.params)
        return loss, part_means

    @contextlib.contextmanager
    def scope(self):
        """The run's lifetime: torch's generator seeded for it (and given back after), a resumed
        checkpoint, the progress bar; whatever happens, the model is left in eval mode."""
        try:
            with self.seeds.model_scope(self.device), self.threads, self.layers:
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
    def evaluate(self) -> tuple[torch.Tensor, dict[str, float]]:
        """The validation loss (the model's full loss, no warm-up; one per member, untrimmed) and
        its parts' means."""
        data, model = self.data, self.model
        model.eval()
        chunk, n = max(self.opts.batch_size, 1024), len(data.val_x)
        total = torch.zeros((self.members or 1,), device=self.device)
        parts: dict[str, torch.Tensor] = {}
        for i in range(0, n, chunk):
            lb = None if data.val_labels is None else data.val_labels[i : i + chunk]
            out = model.training_loss(
                data.val_x[i : i + chunk], data.val_target[i : i + chunk], loss=self.loss, labels=lb
            )
            total += out.mean().float() * len(data.val_x[i : i + chunk])
            for name, value in out.parts.items():
                parts[name] = parts[name] + value.sum() if name in parts else value.sum()
        model.train()
        return total.cpu().double() / n, {name: (value / n).item() for name, value in parts.items()}

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


def _fingerprint(model, arrays: TrainingArrays, opts: FitOptions, settings: dict, rows=None) -> dict:
    """What a checkpoint must match to be resumed by this run."""
    return {
        **({} if rows is None else {"member_rows": data_fingerprint(rows.cpu().numpy())}),
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
