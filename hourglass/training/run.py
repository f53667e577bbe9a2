"""One fit run's named parts (:class:`Run`), set up once and used by ``trainer``'s loop: the device and
torchrun group, the data on the device, the stream, seeds and state, the gradient strategy, the
thread policy and the faster layers, the checkpoints and the divergence error."""

from __future__ import annotations

import contextlib
import json
import math
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
from hourglass.training.data import DeviceData, TrainingArrays
from hourglass.training.distributed import local_device
from hourglass.training.distributed import setup as distributed_setup
from hourglass.training.epoch import FitProgress
from hourglass.training.layers import faster_layers
from hourglass.training.optim import make_optimizer
from hourglass.training.options import FitOptions
from hourglass.training.seeding import Seeds
from hourglass.training.state import EarlyStopping, MemberStopping, TrainState
from hourglass.training.stream import BatchStream


class TrainingError(HourglassError, FloatingPointError):
    """Training diverged (the loss became NaN or inf)."""


@dataclass
class Run:
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
    def setup(cls, model: Autoencoder, arrays: TrainingArrays, corruption, opts: FitOptions, rows=None) -> Run:
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
