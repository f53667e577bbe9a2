"""Where the conv denoiser's batch-32 CPU step goes, and what the formulations tried against it give.

Issue 16 asks hg.fit to train the tutorial's conv denoiser (Conv 1->16->8 stride 2, ConvTranspose
8->8->16, Conv 16->1, sigmoid; Gaussian noise 0.2) 2x faster than the typical hand-written loop at
batch 32. ``speed.py`` measures that ratio on full epochs; this script measures why it stops short,
in one run, each figure the median of repeated timings:

- ``step``: ms per step of the typical loop (as in speed.py) and of hg.fit, 200-step epochs on real
  Fashion-MNIST rows, interleaved in rounds; the step hg.fit would need for 2x;
- ``layers``: forward and forward + backward of each convolution of hg.fit's model (channels-last,
  as hg.fit runs it; the gradients returned as in a step, not added to an input's ``.grad``),
  their sum and share of hg.fit's step;
- ``bias``: each strided layer's convolution backward with and without its bias gradient, and that
  gradient as a plain sum (oneDNN's own bias gradient is the slow part);
- ``bias_after``: each strided layer fwd + bwd with the bias added after a bias-free convolution
  (so autograd's bias gradient is the sum), against torch's layer;
- ``native``: each layer with oneDNN switched off (``torch.backends.mkldnn.flags``: ATen's im2col
  kernels); ``nchw``: in torch's default memory format instead of channels-last; ``fp32_bf16``:
  with oneDNN allowed bf16 arithmetic in float32 convolutions (``torch.backends.mkldnn.conv.
  fp32_precision = "bf16"``), and how much the output changes;
- ``subpixel``: the decoder's tail (ConvTranspose 8->16, ReLU, Conv 16->1) rewritten exactly as
  matrix products on the four output phases of the stride-2 layer, against hourglass's layers;
- ``upsampling``: the step's three stride-2 transposed convolutions (layer 1's input gradient,
  layers 2 and 3 forward), which oneDNN runs with its strided kernels, against two exact stride-1
  forms: a convolution over the input with zeros inserted between pixels, and one 2x2 convolution
  to the four output phases, interleaved (with its phase weight prebuilt, and built per call as a
  training step would); forward kernels only;
- ``phase_step``: hg.fit with those three layers in the phase form (as ``torch.autograd.Function``
  layers: the phase-form forward or input gradient, torch's weight gradient, the bias gradient as
  a sum) against hourglass's layers, both through autograd, paired epochs, and their largest
  gradient difference;
- ``threads``: a batch-32 step on two threads against two half-batches on one thread each (Python
  threads; torch releases the GIL inside its kernels), against one thread, and on two threads
  with OpenMP's threads spinning (``OMP_WAIT_POLICY=ACTIVE``) or sleeping (``PASSIVE``) between
  kernels, each in its own process;
- ``matmul``: every layer as matrix products on the channels-last memory (im2col for the strided
  convolutions, the phase form for the transposed ones, per-tap products over shifted windows for
  the output layer), forward and a hand-written backward without autograd, against the layer's
  forward + backward as in ``layers`` (timed in turn), and the largest difference in output or
  gradients;
- ``written_out``: the step (as in ``threads``, two threads) with its gradients written out by hand
  instead of autograd, as hg.fit now takes them (the conv model's ``manual_gradients``,
  hourglass/models/gradients.py: in-place ReLUs, their masks as float multiplies, ``torch.nn.grad``
  for the convolutions, the biases' gradients as sums), blocks of 200 steps alternating, and the
  largest gradient difference;
- ``kernels``: how much of each layer's fwd + bwd and of the whole two-thread step is oneDNN's
  kernels: in a child process, blocks of calls alternate between timed and run under oneDNN's
  verbose mode (``torch.backends.mkldnn.verbose``), in which oneDNN times every primitive it
  executes (the kernel and its threads, nothing around it);
- ``call_cost``: each strided layer's forward and backward call on a 1 x c x 4 x 4 input (the
  per-call cost that does not grow with the batch), against a 16 x 16 matrix product.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/conv_step.py

Prints each part; writes benchmarks/results/conv_step.json.
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import itertools
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F
from common import run_times, write_json
from speed import NOISE, paired_run
from torch import nn

import hourglass as hg

B = 32
CL = torch.channels_last


def timed_us(fn, calls: int = 200, repeats: int = 7) -> float:
    """Median over ``repeats`` blocks of ``calls`` calls (after 20 warm-up calls), in us per call."""

    def block():
        for _ in range(calls):
            fn()  # each result freed before the next call, as in a training step

    for _ in range(20):
        fn()
    return statistics.median(run_times(block, repeats)) / calls * 1e6


def model_layers():
    """The five convolutions of hg.fit's conv model in channels-last and each one's input (a real
    batch through the model, ReLUs between)."""
    model = hg.create_model("conv", input_shape=(1, 28, 28), seed=0).to(memory_format=CL)
    layers = [model.encoder[0], model.encoder[2], model.decoder[0], model.decoder[2], model.decoder[4]]
    x = torch.from_numpy(hg.datasets.load("fashion-mnist").x_train[:B]).contiguous(memory_format=CL)
    inputs = []
    with torch.no_grad():
        for i, layer in enumerate(layers):
            inputs.append(x.clone().requires_grad_(i > 0))  # the first layer's input needs no gradient
            x = layer(x) if i == 4 else F.relu(layer(x))
    return layers, inputs


def fwd_bwd(layer, x):
    """Forward and backward as in a step: gradients returned, not added to earlier ones (in the step,
    an input's gradient goes on to the layer before; ``.backward()`` would add it to ``x.grad``)."""
    grad = torch.randn_like(layer(x))
    wrt = ([x] if x.requires_grad else []) + [p for p in layer.parameters() if p.requires_grad]
    return lambda: torch.autograd.grad(layer(x), wrt, grad)


def part_step(x_train, rounds):
    """ms per step: the typical loop and hg.fit, epochs alternating (speed.py's paired_run)."""
    steps = len(x_train) // B
    typical_ms, ours_ms = [], []
    for seed in range(rounds):
        typical, _, history = paired_run("conv", x_train, torch.from_numpy(x_train), B, 2, seed, True)
        typical_ms.append(typical.seconds[-1] / steps * 1e3)  # the second epochs: warm
        ours_ms.append(history.epoch_seconds[-1] / steps * 1e3)
    t, o = statistics.median(typical_ms), statistics.median(ours_ms)
    print(f"step: typical {t:.2f} ms, hg.fit {o:.2f} ms ({t / o:.2f}x); 2x needs {t / 2:.2f} ms per step")
    return {"typical_ms": typical_ms, "hourglass_ms": ours_ms, "ratio": t / o, "needed_for_2x_ms": t / 2}


def part_layers(layers, inputs, step_ms):
    rows = []
    for i, (layer, x) in enumerate(zip(layers, inputs)):
        forward = timed_us(lambda layer=layer, x=x: layer(x))
        both = timed_us(fwd_bwd(layer, x))
        rows.append({"layer": i, "name": repr(layer), "forward_us": forward, "forward_backward_us": both})
        print(f"layer {i} {layer!r}: forward {forward:.0f} us, forward + backward {both:.0f} us")
    total = sum(r["forward_backward_us"] for r in rows)
    print(f"layers: {total:.0f} us, {total / (step_ms * 1e3):.0%} of hg.fit's step")
    return {"rows": rows, "total_us": total, "share_of_step": total / (step_ms * 1e3)}


def conv_backward(layer, x, grad, mask):
    transposed = isinstance(layer, nn.ConvTranspose2d)
    return torch.ops.aten.convolution_backward(
        grad, x, layer.weight, None, layer.stride, layer.padding, layer.dilation,
        transposed, layer.output_padding if transposed else [0, 0], 1, mask,
    )  # fmt: skip


def bias_row(i, layer, x):
    grad = torch.randn_like(layer(x))
    need_x = i > 0
    row = {
        "layer": i,
        "with_bias_us": timed_us(lambda: conv_backward(layer, x, grad, [need_x, True, True])),
        "without_bias_us": timed_us(lambda: conv_backward(layer, x, grad, [need_x, True, False])),
        "sum_us": timed_us(lambda: grad.sum((0, 2, 3))),
    }
    print(
        f"bias, layer {i}: backward {row['with_bias_us']:.0f} us with its bias gradient, "
        f"{row['without_bias_us']:.0f} without; the sum {row['sum_us']:.0f} us"
    )
    return row


def part_bias(layers, inputs):
    return [bias_row(i, layer, x) for i, (layer, x) in enumerate(zip(layers[:4], inputs[:4]))]


class BiasAfter(nn.Module):
    """A strided layer whose bias is added after a bias-free convolution."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        m = self.layer
        if isinstance(m, nn.ConvTranspose2d):
            y = F.conv_transpose2d(x, m.weight, None, m.stride, m.padding, m.output_padding)
        else:
            y = F.conv2d(x, m.weight, None, m.stride, m.padding)
        return y.add_(m.bias.view(1, -1, 1, 1))


def bf16_math(layer, x, torch_layer):
    """fwd + bwd with oneDNN allowed bf16 arithmetic inside float32 convolutions (torch's public
    ``torch.backends.mkldnn.conv.fp32_precision``), and how much that changes the output."""
    conv = torch.backends.mkldnn.conv
    before = conv.fp32_precision
    with torch.no_grad():
        reference = layer(x)
    try:
        conv.fp32_precision = "bf16"
        with torch.no_grad():
            difference = (layer(x) - reference).abs().max().item()
        return timed_us(torch_layer), difference
    finally:
        conv.fp32_precision = before


def part_alternatives(layers, inputs):
    rows = []
    for i, (layer, x) in enumerate(zip(layers, inputs)):
        torch_layer = fwd_bwd(layer, x)
        row = {"layer": i, "torch_us": timed_us(torch_layer)}
        if i < 4:
            row["bias_after_us"] = timed_us(fwd_bwd(BiasAfter(layer), x))
        with torch.backends.mkldnn.flags(enabled=False):
            row["native_us"] = timed_us(torch_layer)
        plain = copy.deepcopy(layer).to(memory_format=torch.contiguous_format)
        row["nchw_us"] = timed_us(fwd_bwd(plain, x.detach().contiguous().requires_grad_(x.requires_grad)))
        row["fp32_bf16_us"], row["fp32_bf16_max_difference"] = bf16_math(layer, x, torch_layer)
        rows.append(row)
        timings = ", ".join(f"{k[:-3]} {v:.0f} us" for k, v in row.items() if k.endswith("_us"))
        print(f"layer {i} fwd + bwd: {timings} (bf16 math changes the output by {row['fp32_bf16_max_difference']:.1e})")
    return rows


# Sub-pixel form of ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1): output phase a
# (row parity) at row 2m + a reads input rows m (shift 0) and m + 1 (shift 1) through kernel row
# TAP[a][shift] (3: no tap, a zero row appended to the kernel).
TAP = torch.tensor([[1, 3], [2, 0]])


def subpixel_weight(w):
    """(c_in, c_out, 3, 3) transposed-conv weight -> (4 c_in, 4 c_out): rows (shift y, shift x,
    c_in), columns (phase y, phase x, c_out); one product with PHASE_TAPS (below), so that its
    gradient is one product with the transpose."""
    c_in, c_out = w.shape[:2]
    return weight_slots(w).permute(4, 5, 0, 2, 3, 1).reshape(4 * c_in, 4 * c_out)


def output_taps():
    """For the 3x3 stride-1 conv read on the phases: kernel row for (input phase q, shift s + 1,
    output phase a), 3 where there is none."""
    table = torch.full((2, 3, 2), 3)
    for q in range(2):
        for s in (-1, 0, 1):
            for a in range(2):
                if -1 <= 2 * s + q - a <= 1:
                    table[q, s + 1, a] = 2 * s + q - a + 1
    return table


OUT_TAP = output_taps()


def subpixel_output_weight(v):
    """(1, c, 3, 3) conv weight -> (4 c, 36): rows (phase y, phase x, c), columns (shift y, shift x,
    output phase y, output phase x)."""
    c = v.shape[1]
    taps = F.pad(v[0], (0, 1, 0, 1))[:, OUT_TAP[:, :, :, None, None, None], OUT_TAP[None, None, None, :, :, :]]
    return taps.permute(1, 4, 0, 2, 5, 3, 6).reshape(4 * c, 36)


def subpixel_tail(up, out, x):
    """out(relu(up(x))) as two matrix products on the four output phases of ``up``."""
    n, c, h, w = x.shape
    xp = F.pad(x.permute(0, 2, 3, 1), (0, 0, 0, 1, 0, 1))
    shifted = torch.cat([xp[:, :h, :w], xp[:, :h, 1:], xp[:, 1:, :w], xp[:, 1:, 1:]], dim=-1).reshape(-1, 4 * c)
    phases = torch.relu(torch.addmm(up.bias.repeat(4), shifted, subpixel_weight(up.weight)))
    parts = F.pad((phases @ subpixel_output_weight(out.weight)).view(n, h, w, 3, 3, 4), (0, 0) * 3 + (1, 1, 1, 1))
    y = sum(
        parts[:, 1 + sy : 1 + sy + h, 1 + sx : 1 + sx + w, sy + 1, sx + 1] for sy in (-1, 0, 1) for sx in (-1, 0, 1)
    )
    return (y + out.bias).view(n, h, w, 2, 2).permute(0, 1, 3, 2, 4).reshape(n, 1, 2 * h, 2 * w)


def part_subpixel(layers, inputs):
    up, out, x = layers[3], layers[4], inputs[3]
    with torch.no_grad():
        error = (out(F.relu(up(x))) - subpixel_tail(up, out, x)).abs().max().item()
    grad = torch.randn(B, 1, 28, 28).contiguous(memory_format=CL)
    ours = timed_us(lambda: out(F.relu(up(x))).backward(grad))
    sub = timed_us(lambda: subpixel_tail(up, out, x).backward(grad))
    print(
        f"decoder tail fwd + bwd: hourglass's layers {ours:.0f} us, "
        f"sub-pixel matrix products {sub:.0f} us (max difference {error:.1e})"
    )
    return {"hourglass_us": ours, "subpixel_us": sub, "max_abs_difference": error}


def upsample_zeros(x, w, b):
    """conv_transpose2d(x, w, b, stride 2, padding 1, output_padding 1) as a stride-1 convolution
    over x with a zero between neighbouring pixels (input pixel i at 2i + 1)."""
    n, c, h, wd = x.shape
    z = x.new_zeros((n, 2 * h + 2, 2 * wd + 2, c)).permute(0, 3, 1, 2)  # channels-last
    z[:, :, 1 : 2 * h : 2, 1 : 2 * wd : 2] = x
    return F.conv2d(z, w.flip(2, 3).transpose(0, 1).contiguous(memory_format=CL), b)


def phase_taps():
    """(9, 16) 0/1 matrix: kernel tap (row, column) -> slot (phase y, phase x, shift y, shift x)."""
    taps = torch.zeros(9, 2, 2, 2, 2)
    for a, b, dy, dx in itertools.product(range(2), repeat=4):
        ky, kx = TAP[a, dy].item(), TAP[b, dx].item()
        if ky < 3 and kx < 3:
            taps[ky * 3 + kx, a, b, dy, dx] = 1.0
    return taps.reshape(9, 16)


PHASE_TAPS = phase_taps()


def weight_slots(w):
    """(c_in, c_out, 3, 3) transposed-conv weight -> (c_in, c_out, phase y, phase x, shift y,
    shift x), zero where a slot has no tap: one matrix product with PHASE_TAPS."""
    c_in, c_out = w.shape[:2]
    return (w.reshape(c_in * c_out, 9) @ PHASE_TAPS).view(c_in, c_out, 2, 2, 2, 2)


def phase_weight(w):
    """(c_in, c_out, 3, 3) transposed-conv weight -> (4 c_out, c_in, 2, 2) stride-1 conv weight whose
    output channels are the four output phases (phase y, phase x, c_out), as one matrix product
    (training rebuilds it every step, so it is kept cheap)."""
    c_in, c_out = w.shape[:2]
    return weight_slots(w).permute(2, 3, 1, 0, 4, 5).reshape(4 * c_out, c_in, 2, 2).contiguous(memory_format=CL)


def upsample_phases(x, w4, b):
    """The same as one stride-1 2x2 convolution to the four phases, interleaved into the output."""
    n, _, h, wd = x.shape
    c_out = w4.shape[0] // 4
    y = F.conv2d(F.pad(x, (0, 1, 0, 1)), w4, None if b is None else b.repeat(4)).permute(0, 2, 3, 1)
    y = y.reshape(n, h, wd, 2, 2, c_out).transpose(2, 3).reshape(n, 2 * h, 2 * wd, c_out)
    return y.permute(0, 3, 1, 2)


def part_upsampling(layers, inputs):
    """The three stride-2 transposed convolutions of a step (layer 1's input gradient, layers 2 and
    3 forward: oneDNN's strided kernels) computed three exact ways, forward kernels only."""
    grad1 = torch.randn_like(layers[1](inputs[1])).detach()
    passes = {
        "layer 1 input gradient": (grad1, layers[1].weight.detach(), None),
        "layer 2 forward": (inputs[2].detach(), layers[2].weight.detach(), layers[2].bias.detach()),
        "layer 3 forward": (inputs[3].detach(), layers[3].weight.detach(), layers[3].bias.detach()),
    }
    rows = []
    for name, (x, w, b) in passes.items():
        w4 = phase_weight(w)
        ways = {
            "torch": lambda x=x, w=w, b=b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
            "zeros": lambda x=x, w=w, b=b: upsample_zeros(x, w, b),
            "phases": lambda x=x, w4=w4, b=b: upsample_phases(x, w4, b),
            "phases_with_weight": lambda x=x, w=w, b=b: upsample_phases(x, phase_weight(w), b),
        }
        with torch.no_grad():
            reference = ways["torch"]()
            error = max((ways[k]() - reference).abs().max().item() for k in ("zeros", "phases"))
            row = {"pass": name, **{f"{k}_us": timed_us(f) for k, f in ways.items()}, "max_abs_difference": error}
        rows.append(row)
        print(f"{name}: " + ", ".join(f"{k[:-3]} {v:.0f} us" for k, v in row.items() if k.endswith("_us")))
    return rows


class _PhaseUpsample(torch.autograd.Function):
    """ConvTranspose2d(3, stride 2, padding 1, output_padding 1) with the phase-form forward and
    torch's own backward (its input and weight gradients, the bias gradient as a sum)."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return upsample_phases(x, phase_weight(w), b)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        grad = grad.contiguous(memory_format=CL)
        need_x, need_w, need_b = ctx.needs_input_grad
        gx, gw, _ = torch.ops.aten.convolution_backward(
            grad, x, w, None, [2, 2], [1, 1], [1, 1], True, [1, 1], 1, [need_x, need_w, False]
        )
        return gx, gw, grad.sum((0, 2, 3)) if need_b else None


class _PhaseDownsample(torch.autograd.Function):
    """Conv2d(3, stride 2, padding 1) whose input gradient (a stride-2 transposed convolution) is
    computed in the phase form."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return F.conv2d(x, w, b, 2, 1)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        grad = grad.contiguous(memory_format=CL)
        need_x, need_w, need_b = ctx.needs_input_grad
        gw = torch.ops.aten.convolution_backward(
            grad, x, w, None, [2, 2], [1, 1], [1, 1], False, [0, 0], 1, [False, need_w, False]
        )[1]
        gx = upsample_phases(grad, phase_weight(w), None) if need_x else None
        return gx, gw, grad.sum((0, 2, 3)) if need_b else None


class PhaseUpsample(nn.ConvTranspose2d):
    def forward(self, x):
        return _PhaseUpsample.apply(x, self.weight, self.bias) if torch.is_grad_enabled() else super().forward(x)


class PhaseDownsample(nn.Conv2d):
    def forward(self, x):
        training = torch.is_grad_enabled() and x.requires_grad
        return _PhaseDownsample.apply(x, self.weight, self.bias) if training else super().forward(x)


def phase_model(seed):
    """hourglass's conv model with layers 1, 2 and 3 in the phase form (same parameters)."""
    model = hg.create_model("conv", input_shape=(1, 28, 28), seed=seed)
    model.encoder[2].__class__ = PhaseDownsample
    model.decoder[0].__class__ = PhaseUpsample
    model.decoder[2].__class__ = PhaseUpsample
    return model


def part_phase_step(x_train, rounds):
    """ms per step of hg.fit with torch's layers and with the phase-form layers (same seeds,
    epochs alternating, both through autograd); checks first that both give the same output and
    gradients."""
    ours, phases = hg.create_model("conv", input_shape=(1, 28, 28), seed=0), phase_model(0)
    x = torch.from_numpy(x_train[:B])
    grad = torch.randn(B, 1, 28, 28)
    for model in (ours, phases):
        model.to(memory_format=CL)(x.contiguous(memory_format=CL)).backward(grad)
    error = max((a.grad - b.grad).abs().max().item() for a, b in zip(ours.parameters(), phases.parameters()))
    steps = len(x_train) // B
    ms = {"torch": [], "phases": []}
    losses = {"torch": [], "phases": []}
    for seed in range(rounds):
        for name, model in (
            ("torch", hg.create_model("conv", input_shape=(1, 28, 28), seed=seed)),
            ("phases", phase_model(seed)),
        ):
            # both through autograd (the phase-form layers have no hand-written backward): this
            # compares the layers' forms, not the ways of taking the gradients
            model.manual_gradients = lambda **kwargs: None
            history = hg.fit(
                model, x_train, corruption=hg.GaussianNoise(NOISE, clip=(0, 1)), epochs=2, batch_size=B,
                loss="mse", seed=seed, progress=False,
            )  # fmt: skip
            ms[name].append(history.epoch_seconds[-1] / steps * 1e3)
            losses[name].append(history.train_loss[-1])
    ratios = [a / b for a, b in zip(ms["torch"], ms["phases"])]
    print(
        f"phase-form layers in hg.fit: {statistics.median(ms['phases']):.2f} ms per step against "
        f"{statistics.median(ms['torch']):.2f} ms (paired median {statistics.median(ratios):.3f}x, "
        f"{min(ratios):.2f}-{max(ratios):.2f}); largest gradient difference {error:.1e}"
    )
    return {"ms_per_step": ms, "train_loss": losses, "paired_ratios": ratios, "max_gradient_difference": error}


# Each layer as matrix products on NHWC tensors (channels-last memory read as N, H, W, C), forward
# and a hand-written backward, no autograd: the strided convolutions through im2col, the transposed
# ones in the phase form (rows: shift y, shift x, c_in; columns: phase y, phase x, c_out), the
# output layer as per-tap products summed over shifted windows.
def mm_conv(x, w, b):
    n, h, wd, c = x.shape
    ho, wo = (h + 1) // 2, (wd + 1) // 2
    xp = F.pad(x, (0, 0, 1, 1, 1, 1))
    s = xp.stride()
    cols = xp.as_strided((n, ho, wo, 3, 3, c), (s[0], 2 * s[1], 2 * s[2], s[1], s[2], 1)).reshape(-1, 9 * c)
    wm = w.permute(2, 3, 1, 0).reshape(9 * c, -1)
    y = torch.addmm(b, cols, wm).view(n, ho, wo, -1)

    def backward(gy, need_x):
        g = gy.reshape(-1, w.shape[0])
        gw, gx = (cols.t() @ g).view(3, 3, c, -1).permute(3, 2, 0, 1), None
        if need_x:
            gc = (g @ wm.t()).view(n, ho, wo, 3, 3, c)
            gxp = gy.new_zeros(n, h + 2, wd + 2, c)
            for ky, kx in itertools.product(range(3), repeat=2):
                gxp[:, ky : ky + 2 * ho : 2, kx : kx + 2 * wo : 2].add_(gc[:, :, :, ky, kx])
            gx = gxp[:, 1 : h + 1, 1 : wd + 1]
        return gx, gw, g.sum(0)

    return y, backward


def mm_transposed(x, w, b):
    n, h, wd, c = x.shape
    o, wp = w.shape[1], subpixel_weight(w)
    xp = F.pad(x, (0, 0, 0, 1, 0, 1))
    s = xp.stride()
    cols = xp.as_strided((n, h, wd, 2, 2, c), (s[0], s[1], s[2], s[1], s[2], 1)).reshape(-1, 4 * c)
    y = torch.addmm(b.repeat(4), cols, wp).view(n, h, wd, 2, 2, o).transpose(2, 3).reshape(n, 2 * h, 2 * wd, o)

    def backward(gy, need_x):
        g4 = gy.view(n, h, 2, wd, 2, o).transpose(2, 3).reshape(-1, 4 * o)
        taps = (cols.t() @ g4).view(2, 2, c, 2, 2, o).permute(2, 5, 3, 4, 0, 1).reshape(c * o, 16)
        gw, gx = (taps @ PHASE_TAPS.t()).view(c, o, 3, 3), None
        if need_x:
            gc = (g4 @ wp.t()).view(n, h, wd, 2, 2, c)
            gxp = gy.new_zeros(n, h + 1, wd + 1, c)
            for dy, dx in itertools.product(range(2), repeat=2):
                gxp[:, dy : dy + h, dx : dx + wd].add_(gc[:, :, :, dy, dx])
            gx = gxp[:, :h, :wd]
        return gx, gw, g4.view(-1, 4, o).sum((0, 1))

    return y, backward


def mm_output(x, v, b):
    n, h, wd, c = x.shape
    vm = v.view(c, 9)
    taps = F.pad((vm.t() @ x.reshape(-1, c).t()).view(9, n, h, wd), (1, 1, 1, 1))
    y = b.expand(n, h, wd).clone()
    for k, (ky, kx) in enumerate(itertools.product(range(3), repeat=2)):
        y.add_(taps[k, :, ky : ky + h, kx : kx + wd])

    def backward(gy, need_x):
        gp = F.pad(gy, (1, 1, 1, 1))
        shifted = [gp[:, 2 - ky : 2 - ky + h, 2 - kx : 2 - kx + wd] for ky, kx in itertools.product(range(3), repeat=2)]
        gt = torch.stack(shifted).view(9, -1)
        gx = (gt.t() @ vm.t()).view(n, h, wd, c) if need_x else None
        return gx, (gt @ x.reshape(-1, c)).t().reshape(1, c, 3, 3), gy.sum().view(1)

    return y.unsqueeze(-1), backward


def mm_row(i, layer, x):
    """One layer's matrix-product fwd + bwd time against torch's (timed in turn, three times each),
    and its largest difference from torch's results."""
    form = mm_output if i == 4 else mm_transposed if isinstance(layer, nn.ConvTranspose2d) else mm_conv
    w, b, xn = layer.weight.detach(), layer.bias.detach(), x.detach().permute(0, 2, 3, 1)
    y = layer(x)
    grad = torch.randn_like(y)
    want = torch.autograd.grad(y, ([x] if i > 0 else []) + [layer.weight, layer.bias], grad)
    gn = grad.permute(0, 2, 3, 1)
    gn = gn[..., 0] if i == 4 else gn  # the output layer's gradient as (n, h, w)
    got_y, backward = form(xn, w, b)
    got = backward(gn, i > 0)
    refs = [y.permute(0, 2, 3, 1)] + ([want[0].permute(0, 2, 3, 1)] if i > 0 else []) + list(want[-2:])
    outs = [got_y] + ([got[0]] if i > 0 else []) + list(got[1:])
    error = max((a - r).abs().max().item() for a, r in zip(outs, refs))
    pairs = [(timed_us(fwd_bwd(layer, x)), timed_us(lambda: form(xn, w, b)[1](gn, i > 0))) for _ in range(3)]
    torch_us, ours = (statistics.median(t) for t in zip(*pairs))
    print(f"matrix products, layer {i}: {ours:.0f} us against torch's {torch_us:.0f} us (max difference {error:.1e})")
    return {"layer": i, "matmul_us": ours, "torch_us": torch_us, "max_abs_difference": error}


def part_matmul(layers, inputs):
    rows = [mm_row(i, layer, x) for i, (layer, x) in enumerate(zip(layers, inputs))]
    print(
        f"matrix products: {sum(r['matmul_us'] for r in rows):.0f} us against {sum(r['torch_us'] for r in rows):.0f} us"
    )
    return rows


def part_written_out(rounds):
    """The step through autograd against the same step written out (the conv model's
    ``manual_gradients``, as hg.fit takes them), blocks
    of 200 steps alternating in this process, each on its own copy of the model."""
    ms = {mode: [] for mode in ("two threads", "written out")}
    steps = {mode: make_step(mode) for mode in ms}
    for step, batches in steps.values():
        for xb in batches[:20]:
            step(xb)
    for _ in range(rounds):
        for mode, (step, batches) in steps.items():
            start = time.perf_counter()
            for xb in batches:
                step(xb)
            ms[mode].append((time.perf_counter() - start) / len(batches) * 1e3)
    model = hg.create_model("conv", input_shape=(1, 28, 28), seed=0).to(memory_format=CL)
    xb = steps["written out"][1][0]
    want = torch.autograd.grad(F.mse_loss(model(xb), xb), list(model.parameters()))
    model.manual_gradients(loss="mse", trim=0.0)(xb, xb)
    error = max((p.grad - b).abs().max().item() for p, b in zip(model.parameters(), want))
    ratios = [a / b for a, b in zip(ms["two threads"], ms["written out"])]
    print(
        f"written out: {statistics.median(ms['written out']):.2f} ms per step against autograd's "
        f"{statistics.median(ms['two threads']):.2f} ms (paired median {statistics.median(ratios):.3f}x, "
        f"{min(ratios):.2f}-{max(ratios):.2f}); largest gradient difference {error:.1e}"
    )
    return {"ms_per_step": ms, "paired_ratios": ratios, "max_gradient_difference": error}


def kernel_child(calls: int, repeats: int):
    """Each layer's fwd + bwd and the whole step, in alternating blocks: one timed, the next with
    oneDNN's verbose mode on (``torch.backends.mkldnn.verbose``), under which oneDNN times every
    primitive it executes and prints it to stdout, after a marker naming the block."""
    libc = ctypes.CDLL(None)
    layers, inputs = model_layers()
    step, batches = make_step("two threads")
    blocks = [(f"layer {i}", fwd_bwd(layer, x)) for i, (layer, x) in enumerate(zip(layers, inputs))]
    cycle = itertools.cycle(batches)
    blocks.append(("step", lambda: step(next(cycle))))
    for name, fn in blocks:
        for _ in range(20):
            fn()
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            print(f"hourglass,{name},{(time.perf_counter() - start) / calls * 1e6}", flush=True)
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                for _ in range(calls):
                    fn()
            libc.fflush(None)  # oneDNN writes through C's stdout: its lines before the next marker


# oneDNN's verbose line: onednn_verbose,v1,primitive,exec,cpu,<kind>,<implementation>,<propagation>,
# <memory formats>,<attributes>,<algorithm>,<problem>,<ms>
def kernel_blocks(text: str, calls: int) -> dict[str, dict[str, list[float]]]:
    """Per block name: its timed us per call, and oneDNN's execution us per call, per repeat."""
    blocks: dict[str, dict[str, list[float]]] = {}
    for line in text.splitlines():
        f = line.split(",")
        if f[0] == "hourglass":
            current = blocks.setdefault(f[1], {"call_us": [], "kernels_us": []})
            current["call_us"].append(float(f[2]))
            current["kernels_us"].append(0.0)
        elif len(f) > 12 and f[2:4] == ["primitive", "exec"]:
            current["kernels_us"][-1] += float(f[-1]) * 1e3 / calls
    return blocks


def part_kernels(calls, repeats):
    out = subprocess.run(
        [sys.executable, __file__, "--kernel-child", "--steps", str(calls), "--rounds", str(repeats)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = []
    for name, b in kernel_blocks(out.stdout, calls).items():
        call, kernels = statistics.median(b["call_us"]), statistics.median(b["kernels_us"])
        rows.append({"block": name, "call_us": call, "kernels_us": kernels, "repeats": b})
    layers = rows[:-1]
    total_call, total_kernels = sum(r["call_us"] for r in layers), sum(r["kernels_us"] for r in layers)
    print(
        "kernels: " + ", ".join(f"{r['block']} {r['kernels_us']:.0f} of {r['call_us']:.0f} us" for r in rows)
        + f"; the five layers {total_kernels:.0f} of {total_call:.0f} us"
    )  # fmt: skip
    return {"rows": rows, "layers_call_us": total_call, "layers_kernels_us": total_kernels}


def tiny_call_us(layer):
    """fwd and bwd of one of the model's layers on a 1 x c x 4 x 4 input: the per-call cost
    that does not grow with the batch."""
    x = torch.randn(1, layer.in_channels, 4, 4).contiguous(memory_format=CL)
    transposed = isinstance(layer, nn.ConvTranspose2d)
    out_pad = layer.output_padding if transposed else [0, 0]
    w, b = layer.weight.detach(), layer.bias.detach()
    args = (w, b, layer.stride, layer.padding, layer.dilation, transposed, out_pad, 1)
    grad = torch.randn_like(torch.ops.aten.convolution(x, *args))
    bwd = (grad, x, w, [b.numel()], *args[2:])
    return (
        timed_us(lambda: torch.ops.aten.convolution(x, *args), calls=500),
        timed_us(lambda: torch.ops.aten.convolution_backward(*bwd, [True, True, True]), calls=500),
    )


def part_call_cost(layers):
    rows = []
    for i, layer in enumerate(layers[:4]):
        fwd, bwd = tiny_call_us(layer)
        rows.append({"layer": i, "forward_us": fwd, "backward_us": bwd})
    a, b = torch.randn(16, 16), torch.randn(16, 8)
    mm = timed_us(lambda: a @ b, calls=500)
    print("call cost (1 x c x 4 x 4): " + ", ".join(f"layer {r['layer']} fwd {r['forward_us']:.1f} bwd "
          f"{r['backward_us']:.1f} us" for r in rows) + f"; a 16 x 16 matrix product {mm:.1f} us")  # fmt: skip
    return {"rows": rows, "matmul_us": mm}


@torch.no_grad()
def make_step(mode: str):
    """A batch-32 step of forward + backward + Adam over hourglass's conv model, and its batches."""
    torch.set_num_threads(1 if mode in ("one thread", "two half-batches") else 2)
    x = torch.from_numpy(hg.datasets.load("fashion-mnist").x_train[: 200 * B]).contiguous(memory_format=CL)
    model = hg.create_model("conv", input_shape=(1, 28, 28), seed=0).to(memory_format=CL)
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=1e-3, fused=True)
    pool = ThreadPoolExecutor(1)

    manual = model.manual_gradients(loss="mse", trim=0.0)

    def grads(xb):
        inp = torch.clamp(xb + NOISE * torch.randn_like(xb), 0, 1)
        if mode == "written out":  # hg.fit's own: the parameters' .grad written without autograd
            manual(inp, xb)
            return [p.grad for p in params]
        return torch.autograd.grad(F.mse_loss(model(inp), xb), params)

    def step(xb):
        if mode == "two half-batches":
            other = pool.submit(grads, xb[B // 2 :])
            for p, a, b in zip(params, grads(xb[: B // 2]), other.result()):
                p.grad = (a + b) / 2
        else:
            for p, g in zip(params, grads(xb)):
                p.grad = g
        opt.step()

    return step, x.split(B)


def thread_step(mode: str, steps: int) -> float:
    """ms per step (run in a child process: the thread count and OpenMP's settings are per process)."""
    step, batches = make_step(mode)
    for xb in batches[:20]:
        step(xb)
    start = time.perf_counter()
    for i in range(steps):
        step(batches[i % len(batches)])
    return (time.perf_counter() - start) / steps * 1e3


# label: (the child's mode, what its environment adds: OpenMP's wait policy is read at start-up)
THREAD_MODES = {
    "two threads": ("two threads", {}),
    "two half-batches": ("two half-batches", {}),
    "one thread": ("one thread", {}),
    "two threads, OMP_WAIT_POLICY=ACTIVE": ("two threads", {"OMP_WAIT_POLICY": "ACTIVE"}),
    "two threads, OMP_WAIT_POLICY=PASSIVE": ("two threads", {"OMP_WAIT_POLICY": "PASSIVE"}),
}


def part_threads(rounds, steps):
    ms = {label: [] for label in THREAD_MODES}
    for _ in range(rounds):
        for label, (mode, env) in THREAD_MODES.items():
            out = subprocess.run(
                [sys.executable, __file__, "--thread-child", mode, "--steps", str(steps)],
                capture_output=True, text=True, check=True, env={**os.environ, **env},
            )  # fmt: skip
            ms[label].append(float(out.stdout.strip().splitlines()[-1]))
    print("threads: " + ", ".join(f"{m} {statistics.median(v):.2f} ms" for m, v in ms.items()))
    return {m: {"ms_per_step": v, "median": statistics.median(v)} for m, v in ms.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=400, help="steps per timing in the threads part")
    ap.add_argument("--thread-child", help=argparse.SUPPRESS)
    ap.add_argument("--kernel-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.kernel_child:
        kernel_child(args.steps, args.rounds)
        return
    if args.thread_child:
        print(thread_step(args.thread_child, args.steps))
        return
    x_train = hg.datasets.load("fashion-mnist").x_train[: 200 * B]
    result = {"batch_size": B, "threads": torch.get_num_threads(), "step": part_step(x_train, args.rounds)}
    layers, inputs = model_layers()
    result["layers"] = part_layers(layers, inputs, statistics.median(result["step"]["hourglass_ms"]))
    result["bias"] = part_bias(layers, inputs)
    result["alternatives"] = part_alternatives(layers, inputs)
    result["subpixel"] = part_subpixel(layers, inputs)
    result["upsampling"] = part_upsampling(layers, inputs)
    result["phase_step"] = part_phase_step(x_train, 4 * args.rounds)
    result["two_threads"] = part_threads(args.rounds, args.steps)
    result["matmul"] = part_matmul(layers, inputs)
    result["written_out"] = part_written_out(2 * args.rounds + 1)
    result["kernels"] = part_kernels(200, 2 * args.rounds + 1)
    result["call_cost"] = part_call_cost(layers)
    write_json("conv_step", {"benchmark": "conv_step", "protocol": __doc__, **result}, args.out)


if __name__ == "__main__":
    main()
