"""Three per-step costs removed from the conv denoiser's CPU step, each measured against the step as
it was, and the step against the typical hand-written loop, in one run.

The model is the tutorial's conv denoiser (``hg.create_model("conv", input_shape=(1, 28, 28))``,
Gaussian noise 0.2 clipped to [0, 1], MSE) on Fashion-MNIST rows; hg.fit trains it with its
hand-written gradients (``hourglass/models/gradients.py``). The changes:

- **the first layer's weight gradient in channels-last memory.** ``torch.nn.grad.conv2d_weight``
  takes its memory format from its input alone, and torch reads a one-channel image batch's
  strides as NCHW, so the first layer's weight gradient ran oneDNN's NCHW kernel (with a copy of
  the output gradient into NCHW). ``hourglass.models.layers.one_channel_last`` gives the batch
  channels-last strides on the same memory;
- **the ReLU mask in the activation's own memory.** The written-out ReLU backward multiplies by
  ``sign(y)``; the sign now goes into ``y`` (``sign_``) instead of a fresh tensor per layer;
- **the noise in its own memory.** ``GaussianNoise`` adds the input into the noise tensor
  (``noise.mul_(std).add_(x)``: the same numbers) instead of allocating ``x + std * noise``.

Parts:

- ``first_layer``: ``torch.nn.grad.conv2d_weight`` of a one-channel batch of 32 with NCHW and with
  channels-last strides, for the conv model's first layer (1 -> 16, stride 2) and a stride-1
  layer (1 -> 32, as ``conv-bn``'s first), blocks alternating, us per call;
- ``paired_calls``: the parts of the step the changes touch: the written-out forward + backward
  (the conv model's ``manual_gradients`` step, as hg.fit takes it, on a noisy batch) and the
  noise, as the code was and now, call by call in turn, each call timed on its own: the median
  per call and of the paired ratios (one call next to the other meets the same machine; an
  epoch's total takes every burst of contention on a busy machine);
- ``variants``: hg.fit with the three changes undone (patched back in this process), then one
  change at a time, paired epochs (``speed.py``'s ``paired_variants``: each variant's epoch k next
  to the others', in a rotating order; the figure is the median of the paired ratios);
- ``typical``: hg.fit now against the typical hand-written loop (``speed.py``'s ``paired_run``:
  the same model in plain torch layers, a DataLoader, ``loss.item()`` every step, torch's Adam),
  from the same initial weights, epochs alternating.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/conv_overheads.py [--batch-sizes 32 256]

Prints each part; writes benchmarks/results/conv_overheads.json.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from functools import partial
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
from common import run_times, write_json
from speed import NOISE, hourglass_adam, paired_run, paired_variants, typical_summary, val_mse
from torch import nn
from torch.nn import grad as conv_grad

import hourglass as hg
import hourglass.models.gradients as gradients

CL = torch.channels_last


def nchw_read(x):
    """What the step passed before: the batch as torch reads it."""
    return x


def old_relu(m):
    """The ReLU part as it was: the mask ``sign(y)`` in a fresh tensor."""
    return torch.relu_, lambda g, y: g.mul_(y.sign())


def old_noise(self, x, generator=None):
    """``GaussianNoise.__call__`` as it was: ``x + std * noise`` in a new tensor."""
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    out = x + self.std * noise
    return out if self.clip is None else out.clamp_(*self.clip)


def undone(*changes):
    """A context that patches the named changes back to the code before them."""

    @contextlib.contextmanager
    def context():
        with contextlib.ExitStack() as stack:
            if "layout" in changes:
                stack.enter_context(mock.patch.object(gradients, "one_channel_last", nchw_read))
            if "relu" in changes:
                stack.enter_context(mock.patch.dict(gradients._ACTIVATIONS, {nn.ReLU: old_relu}))
            if "noise" in changes:
                stack.enter_context(mock.patch.object(hg.GaussianNoise, "__call__", old_noise))
            yield

    return context


VARIANTS = {  # each one change on the one before
    "as before": (lambda m: m, hourglass_adam, undone("layout", "relu", "noise")),
    "+ first layer's weight gradient channels-last": (lambda m: m, hourglass_adam, undone("relu", "noise")),
    "+ ReLU mask in the activation's memory": (lambda m: m, hourglass_adam, undone("noise")),
    "+ noise in its own memory (hourglass now)": (lambda m: m, hourglass_adam),
}


def weight_grads(inp, shape, grad, stride, calls):
    """``calls`` weight gradients of a stride-``stride``, padding-1 convolution of ``inp``."""
    return [conv_grad.conv2d_weight(inp, shape, grad, stride, 1) for _ in range(calls)]


def first_layer_rows(repeats: int = 9, calls: int = 50):
    rows = []
    for out_channels, stride in ((16, 2), (32, 1)):
        x = torch.rand(32, 1, 28, 28)
        grad = F.conv2d(x, torch.randn(out_channels, 1, 3, 3), None, stride, 1).contiguous(memory_format=CL)
        shape = (out_channels, 1, 3, 3)
        inputs = {"NCHW strides": x, "channels-last strides": hg.models.layers.one_channel_last(x)}
        times = {name: [] for name in inputs}
        for inp in inputs.values():  # warm-up
            weight_grads(inp, shape, grad, stride, 10)
        for _ in range(repeats):  # blocks alternating
            for name, inp in inputs.items():
                times[name] += run_times(partial(weight_grads, inp, shape, grad, stride, calls), 1)
        us = {name: statistics.median(t) / calls * 1e6 for name, t in times.items()}
        a, b = (weight_grads(inp, shape, grad, stride, 1)[0] for inp in inputs.values())
        row = {
            "layer": f"Conv2d(1, {out_channels}, 3, stride={stride}, padding=1)",
            "us_per_call": us,
            "speedup": us["NCHW strides"] / us["channels-last strides"],
            "max_abs_difference": float((a - b).abs().max()),
        }
        print(
            f"first layer {row['layer']}: weight gradient {us['NCHW strides']:.0f} us with NCHW strides, "
            f"{us['channels-last strides']:.0f} us channels-last ({row['speedup']:.1f}x); "
            f"largest difference {row['max_abs_difference']:.1e}",
            flush=True,
        )
        rows.append(row)
    return rows


def paired_calls(fns: dict, args_of, calls: int) -> dict:
    """Each of ``fns`` (name -> (fn, setup context)) called on the same arguments, call by call
    in turn (the order alternating), each call timed on its own: seconds per call per name."""
    names, times = list(fns), {name: [] for name in fns}
    for i in range(calls):
        args = args_of(i)
        for name in names[i % len(names) :] + names[: i % len(names)]:
            fn, context = fns[name]
            with context():
                start = time.perf_counter()
                fn(*args)
                times[name].append(time.perf_counter() - start)
    return times


def cycled(first: list, second: list, i: int) -> tuple:
    return first[i % len(first)], second[i % len(second)]


def step_pair_rows(x, args):
    """The written-out forward + backward and the noise, as the code was and now, call by call."""
    rows = []
    before = undone("layout", "relu", "noise")
    for bs in args.batch_sizes:
        batches = [torch.from_numpy(x[i * bs : (i + 1) * bs]) for i in range(50)]
        g = torch.Generator().manual_seed(0)
        noisy = [hg.GaussianNoise(NOISE, clip=(0, 1))(b, g) for b in batches]
        models = [hg.create_model("conv", input_shape=(1, 28, 28), seed=0).to(memory_format=CL) for _ in range(3)]
        built = []
        for model, context in zip(models, (before, undone("relu"), contextlib.nullcontext)):
            with context():  # the ReLU part is chosen when the step is built
                built.append(model.manual_gradients(loss="mse", trim=0.0))
        steps = {
            "as before": (built[0], before),
            "+ first layer's weight gradient channels-last": (built[1], undone("relu")),
            "hourglass now": (built[2], contextlib.nullcontext),
        }
        noise = hg.GaussianNoise(NOISE, clip=(0, 1))
        draws = {"as before": (noise, before), "hourglass now": (noise, contextlib.nullcontext)}
        step_args = partial(cycled, noisy, batches)  # a step's (input, target)
        paired_calls(steps, step_args, 20)  # warm-up
        row = {"batch_size": bs}
        for part, fns, args_of in (
            ("forward + backward", steps, step_args),
            ("noise", draws, partial(cycled, batches, [g] * len(batches))),
        ):
            times = paired_calls(fns, args_of, args.pair_calls)
            us = {v: statistics.median(t) * 1e6 for v, t in times.items()}
            ratios = {v: statistics.median(a / b for a, b in zip(times["as before"], t)) for v, t in times.items()}
            row[part] = {"median_us": us, "before_over_this_paired_median": ratios, "calls": args.pair_calls}
            for v in times:
                print(
                    f"conv bs={bs:4d} {part:18s} {v:46s} {us[v]:7.0f} us per call; as before / this, median of "
                    f"{args.pair_calls} paired calls: {ratios[v]:.3f}x",
                    flush=True,
                )
        rows.append(row)
    return rows


def variant_rows(x, x_val, args):
    rows = []
    for bs in args.batch_sizes:
        rows_x = x[: args.steps * bs]
        result = paired_variants("conv", rows_x, x_val, bs, args.epochs, args.seeds, VARIANTS)
        for v, r in result.items():
            steps = -(-len(rows_x) // bs)
            print(
                f"conv bs={bs:4d} {v:46s} {r['sec_per_epoch'] / steps * 1e3:6.3f} ms/step  "
                f"x{r['time_vs_first_median']:.3f} of the first (paired {r['time_vs_first_min']:.2f}-"
                f"{r['time_vs_first_max']:.2f}); val MSE {np.mean(r['val_mse']):.5f}; {r['gradients']} gradients",
                flush=True,
            )
            rows.append({"batch_size": bs, "variant": v, "steps_per_epoch": steps, **r})
    return rows


def typical_rows(x, x_val, args):
    rows = []
    for bs in args.batch_sizes:
        rows_x = x[: args.steps * bs]
        sec, ratios, val = {"typical": [], "hourglass": []}, [], {"typical": [], "hourglass": []}
        for seed in args.seeds:
            typical, ours, history = paired_run("conv", rows_x, torch.from_numpy(rows_x), bs, args.epochs, seed, True)
            sec["typical"] += typical.seconds
            sec["hourglass"] += history.epoch_seconds
            ratios += [a / b for a, b in zip(typical.seconds, history.epoch_seconds)]
            val["typical"].append(val_mse(typical.model, x_val, True))
            val["hourglass"].append(val_mse(ours, x_val, True))
        rows.append(typical_summary("conv", bs, sec, ratios, val))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256])
    ap.add_argument("--steps", type=int, default=200, help="steps per epoch")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--pair-calls", type=int, default=2000, help="calls of each in the paired part")
    ap.add_argument("--quick", action="store_true", help="20 steps, 2 epochs, 1 seed")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.epochs, args.seeds, args.pair_calls = 20, 2, args.seeds[:1], 100
    ds = hg.datasets.load("fashion-mnist")
    x, x_val = ds.x_train, ds.x_test[:1000]
    payload = {
        "benchmark": "conv_overheads",
        "protocol": __doc__,
        "steps_per_epoch": args.steps,
        "epochs": args.epochs,
        "seeds": args.seeds,
        "first_layer": first_layer_rows(),
        "paired_calls": step_pair_rows(x, args),
        "variants": variant_rows(x, x_val, args),
        "typical": typical_rows(x, x_val, args),
    }
    write_json("conv_overheads", payload, args.out)


if __name__ == "__main__":
    main()
