"""Where the conv denoiser's batch-32 CPU step goes, and what the formulations tried against it give.

Issue 16 asks hg.fit to train the tutorial's conv denoiser (Conv 1->16->8 stride 2, ConvTranspose
8->8->16, Conv 16->1, sigmoid; Gaussian noise 0.2) 2x faster than the typical hand-written loop at
batch 32. ``speed.py`` measures that ratio on full epochs; this script measures why it stops short,
in one run, each figure the median of repeated timings:

- ``step``: ms per step of the typical loop (as in speed.py) and of hg.fit, 200-step epochs on real
  Fashion-MNIST rows, interleaved in rounds; the step hg.fit would need for 2x;
- ``layers``: forward and forward + backward of each convolution of hg.fit's model (channels-last,
  as hg.fit runs it), their sum and share of hg.fit's step;
- ``bias``: each strided layer's convolution backward with and without its bias gradient, and that
  gradient as a plain sum (oneDNN's own bias gradient is the slow part);
- ``bias_after``: each strided layer fwd + bwd with the bias added after a bias-free convolution
  (so autograd's bias gradient is the sum), against torch's layer;
- ``native``: each layer with oneDNN switched off (``torch.backends.mkldnn.flags``: ATen's im2col
  kernels);
- ``subpixel``: the decoder's tail (ConvTranspose 8->16, ReLU, Conv 16->1) rewritten exactly as
  matrix products on the four output phases of the stride-2 layer, against hourglass's layers;
- ``threads``: a batch-32 step on two threads against two half-batches on one thread each (Python
  threads; torch releases the GIL inside its kernels) and against one thread, each in its own
  process.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/conv_step.py

Prints each part; writes benchmarks/results/conv_step.json.
"""

from __future__ import annotations

import argparse
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
    for _ in range(20):
        fn()
    blocks = run_times(lambda: [fn() for _ in range(calls)], repeats)
    return statistics.median(blocks) / calls * 1e6


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
    grad = torch.randn_like(layer(x))
    return lambda: layer(x).backward(grad)


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


def part_alternatives(layers, inputs):
    rows = []
    for i, (layer, x) in enumerate(zip(layers, inputs)):
        torch_layer = fwd_bwd(layer, x)
        row = {"layer": i, "torch_us": timed_us(torch_layer)}
        if i < 4:
            row["bias_after_us"] = timed_us(fwd_bwd(BiasAfter(layer), x))
        with torch.backends.mkldnn.flags(enabled=False):
            row["native_us"] = timed_us(torch_layer)
        rows.append(row)
        print(f"layer {i} fwd + bwd: " + ", ".join(f"{k[:-3]} {v:.0f} us" for k, v in row.items() if k != "layer"))
    return rows


# Sub-pixel form of ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1): output phase a
# (row parity) at row 2m + a reads input rows m (shift 0) and m + 1 (shift 1) through kernel row
# TAP[a][shift] (3: no tap, a zero row appended to the kernel).
TAP = torch.tensor([[1, 3], [2, 0]])


def subpixel_weight(w):
    """(c_in, c_out, 3, 3) transposed-conv weight -> (4 c_in, 4 c_out): rows (shift y, shift x,
    c_in), columns (phase y, phase x, c_out)."""
    c_in, c_out = w.shape[:2]
    taps = F.pad(w, (0, 1, 0, 1))[:, :, TAP[:, :, None, None], TAP[None, None, :, :]]
    return taps.permute(3, 5, 0, 2, 4, 1).reshape(4 * c_in, 4 * c_out)


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


def thread_step(mode: str, steps: int) -> float:
    """ms per step of forward + backward + Adam at batch 32 (run in a child process)."""
    torch.set_num_threads(2 if mode == "two threads" else 1)
    x = torch.from_numpy(hg.datasets.load("fashion-mnist").x_train[: 200 * B]).contiguous(memory_format=CL)
    model = hg.create_model("conv", input_shape=(1, 28, 28), seed=0).to(memory_format=CL)
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=1e-3, fused=True)
    pool = ThreadPoolExecutor(1)

    def grads(xb):
        inp = torch.clamp(xb + NOISE * torch.randn_like(xb), 0, 1)
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

    for i in range(20):
        step(x[i * B : (i + 1) * B])
    start = time.perf_counter()
    for i in range(steps):
        step(x[(i % 200) * B : (i % 200 + 1) * B])
    return (time.perf_counter() - start) / steps * 1e3


def part_threads(rounds, steps):
    modes = ["two threads", "two half-batches", "one thread"]
    ms = {m: [] for m in modes}
    for _ in range(rounds):
        for m in modes:
            out = subprocess.run(
                [sys.executable, __file__, "--thread-child", m, "--steps", str(steps)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            ms[m].append(float(out.stdout.strip().splitlines()[-1]))
    print("threads: " + ", ".join(f"{m} {statistics.median(v):.2f} ms" for m, v in ms.items()))
    return {m: {"ms_per_step": v, "median": statistics.median(v)} for m, v in ms.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=400, help="steps per timing in the threads part")
    ap.add_argument("--thread-child", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
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
    result["two_threads"] = part_threads(args.rounds, args.steps)
    write_json("conv_step", {"benchmark": "conv_step", "protocol": __doc__, **result}, args.out)


if __name__ == "__main__":
    main()
