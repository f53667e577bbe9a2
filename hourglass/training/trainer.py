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

import inspect
import time
import warnings

import numpy as np
import torch

from hourglass.errors import InvalidInputError
from hourglass.history import History
from hourglass.models.base import Autoencoder
from hourglass.training.data import TrainingArrays, check_member_rows
from hourglass.training.epoch import EpochRecord, log_epoch
from hourglass.training.options import FitOptions
from hourglass.training.run import Run, TrainingError  # noqa: F401 (TrainingError: its home was here)


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
    run = Run.setup(model, arrays, corruption, opts, rows)
    with run.scope():
        _loop(run)
    warn_if_degenerate(model, arrays, opts, run.state.history)
    return run.state.history


def warn_if_degenerate(model: Autoencoder, arrays: TrainingArrays, opts: FitOptions, history: History) -> None:
    """One-line warnings for a run that learnt nothing, which the user would otherwise notice only
    from its scores: training samples that are all the same, or a training loss never below that
    of outputting the average sample (a step too large: ``lr=1e6`` saturates every unit)."""
    if len(arrays.x) < 2:
        return
    sample = _spread_rows(arrays.x)
    if float(sample.std(axis=0).max()) == 0:
        warnings.warn(
            "the training samples are all the same (no feature varies): the model cannot learn what "
            "normal variation looks like, and will score every new sample by its distance from that one",
            UserWarning,
            stacklevel=3,
        )
        return
    loss = opts.loss or model.default_loss
    losses = history.train_loss
    if loss not in ("mse", "mae") or getattr(model.config, "member_scaling", False) or len(losses) < 5:
        return
    # no progress over the second half of the run (not a short run still on its first plateau), or
    # a loss that no progress explains: 100x that of the average sample (lr=10: 1e21 and falling)
    still = losses[-1] >= 0.99 * losses[len(losses) // 2]
    baseline = _average_sample_loss(arrays, loss, opts.trim)
    if min(losses) >= (0.98 if still else 100) * baseline:
        warnings.warn(
            f"training did not reduce the loss below that of outputting the average sample "
            f"({min(losses):.4g} at best, against {baseline:.4g}) in {len(losses)} epochs: the model learnt "
            f"nothing. Causes: a step too large (lr={opts.lr:g}: try a smaller one), outputs that cannot reach "
            "the data (a sigmoid output for values outside [0, 1]: scale them or set output_activation='none'), "
            "or data without structure a code of this size can keep",
            UserWarning,
            stacklevel=3,
        )


def _average_sample_loss(arrays: TrainingArrays, loss: str, trim: float) -> float:
    """The trimmed training loss of a model that outputs the average target whatever its input:
    every model should do better (on up to 2,048 samples spread over the data)."""
    target = _spread_rows(arrays.x if arrays.target is None else arrays.target)
    gap = target - target.mean(axis=0)
    per_sample = (gap**2 if loss == "mse" else np.abs(gap)).mean(axis=1)
    keep = max(1, len(per_sample) - int(round(trim * len(per_sample))))
    return float(np.sort(per_sample)[:keep].mean())


def _spread_rows(x, most: int = 2048, blocks: int = 8) -> np.ndarray:
    """Up to ``most`` samples from ``blocks`` contiguous stretches spread evenly over ``x`` (a
    recording's first windows can all be flat), flattened, float64. Stretches, not scattered rows:
    a memory-mapped file then reads a few pages, not most of itself (tests/test_streaming.py)."""
    size = max(1, min(len(x), most) // blocks)
    starts = np.unique(np.linspace(0, len(x) - size, blocks).astype(np.int64))
    parts = [np.asarray(x[a : a + size], dtype=np.float64) for a in starts]
    return np.concatenate(parts).reshape(sum(len(p) for p in parts), -1)


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


def _loop(run: Run) -> None:
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
