"""Faster CPU twins of torch layers, which ``hg.fit`` trains a model's layers as.

The models are built from torch's own layers. While a CPU fit runs (``FitOptions.layers="auto"``),
:func:`faster_layers` turns each ``nn.Conv2d``, ``nn.Conv1d``, ``nn.ConvTranspose1d`` and
``nn.Dropout`` of an hourglass model into its twin below, a subclass with no state of its own,
and back when the fit ends. The convolutions compute the same numbers (to float rounding) with
torch's own parameter layout, and only their CPU training step takes the faster route (inference
keeps torch's kernels, so a saved model scores exactly as it did); ``FastDropout`` draws its
training mask its own way: the same distribution, other draws. Measured by
``benchmarks/gradient_paths.py`` (docs/decisions/gradient-paths.md): the decoder's last
convolution as ``OutputConv2d`` saves 22 % of the conv denoiser's step, the conv1d model's 2-d
path and ``FastDropout`` together 27-29 % of its step, at batch 32.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn


def few_output_conv2d(x, weight, bias, padding):
    """``conv2d(x, weight, bias, padding=padding)`` (stride 1) for a few output channels, as a
    depthwise convolution (one group per input channel) summed over the input channels."""
    c_out, c_in, kh, kw = weight.shape
    # Grouped weight: input channel i feeds outputs i * c_out .. i * c_out + c_out - 1.
    grouped = weight.transpose(0, 1).reshape(c_in * c_out, 1, kh, kw)
    partial = F.conv2d(x, grouped, None, padding=padding, groups=c_in)
    n, _, h, w = partial.shape
    y = partial.view(n, c_in, c_out, h, w).sum(1)
    if bias is not None:
        y = y + bias.view(1, c_out, 1, 1)
    return y.contiguous(memory_format=torch.channels_last)


def few_output_conv2d_backward(grad, x, weight, padding, needs):
    """The gradients ``(x, weight, bias)`` of :func:`few_output_conv2d` where ``needs`` (three
    flags) asks for them, else None: the backward of the equivalent transposed convolution
    (flipped kernel, padding ``k - 1 - p``)."""
    kh, kw = weight.shape[2:]
    ph, pw = padding
    need_x, need_w, need_b = needs
    grad_x, grad_flipped, grad_b = torch.ops.aten.convolution_backward(
        grad.contiguous(memory_format=torch.channels_last),
        x,
        weight.flip(2, 3).transpose(0, 1),
        [weight.shape[0]] if need_b else None,
        [1, 1],
        [kh - 1 - ph, kw - 1 - pw],
        [1, 1],
        True,
        [0, 0],
        1,
        [need_x, need_w, need_b],
    )
    grad_w = grad_flipped.transpose(0, 1).flip(2, 3) if need_w else None
    return (grad_x if need_x else None), grad_w, (grad_b if need_b else None)


class _FewOutputConv2d(torch.autograd.Function):
    """Stride-1 convolution to a single output channel (a grayscale decoder's last layer).

    oneDNN pads the output channels to its vector width, so ``conv2d`` to one channel costs as
    much as to sixteen and its weight gradient is slower still. Two exact reformulations avoid
    that: the forward pass is a depthwise convolution (one group per input channel) summed over
    the input channels, and the backward pass is the backward of the equivalent transposed
    convolution (flipped kernel, padding ``k - 1 - p``), whose kernels oneDNN vectorises over the
    input channels. Together about 2.3x faster for the tutorial's 16 -> 1 layer on 28 x 28 images
    (batch 32 or 256), and 1.25x at 8 -> 1; below 8 input channels, or with 3 outputs, oneDNN's
    own kernel is faster, so the layer falls back to it.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, padding):
        ctx.save_for_backward(x, weight)
        ctx.padding, ctx.has_bias = padding, bias is not None
        return few_output_conv2d(x, weight, bias, padding)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        needs = (need_x, need_w, need_b and ctx.has_bias)
        return (*few_output_conv2d_backward(grad, x, weight, ctx.padding, needs), None)


def plain_cpu_float32(x: torch.Tensor) -> bool:
    """Is ``x`` a float32 CPU tensor outside autocast, tracing, scripting, compiling and ONNX
    export: where the layers below may take their own route?"""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and not torch.is_autocast_enabled("cpu")
        and not torch.jit.is_tracing()
        and not torch.jit.is_scripting()
        and not torch.compiler.is_compiling()
        and not torch.onnx.is_in_onnx_export()
    )


def one_channel_last(x: torch.Tensor) -> torch.Tensor:
    """A contiguous ``(n, 1, h, w)`` tensor as the same memory with channels-last strides, else
    ``x``. torch reads a one-channel tensor's strides as NCHW, and ``torch.nn.grad``'s weight
    gradient takes its memory format from the input alone (it never sees the weight): with the
    NCHW reading, oneDNN's weight gradient of a grayscale image's first convolution ran 1.9x
    slower at stride 2 and 4.1x slower at stride 1 (docs/decisions/cpu-step-experiments.md)."""
    if x.dim() != 4 or x.shape[1] != 1 or x.stride(1) == 1 or not x.is_contiguous():
        return x
    n, _, h, w = x.shape
    return x.as_strided((n, 1, h, w), (h * w, 1, w, 1))


def as_2d(x: torch.Tensor) -> torch.Tensor:
    """``(n, c, length)`` as ``(n, c, 1, length)`` in channels-last memory: a view when ``x`` is
    already laid out channel by channel within each step (as :func:`conv1d_as_2d`'s outputs are)
    or has one channel, else one copy."""
    n, c, length = x.shape
    if c == 1:
        # torch reads a one-channel tensor's strides as NCHW (and the convolution's output with
        # them), so the view gets channels-last strides explicitly: the same memory
        x = x if x.stride(2) == 1 else x.contiguous()
        return x.as_strided((n, 1, 1, length), (x.stride(0), 1, x.stride(0), 1))
    return x.unsqueeze(2).contiguous(memory_format=torch.channels_last)


def conv1d_as_2d(x, weight, bias, stride, padding, dilation, groups, *, transposed=False, output_padding=(0,)):
    """``conv1d`` (or ``conv_transpose1d``) of ``x`` as a 2-d convolution over :func:`as_2d`'s
    view, with the weight as ``(out, in, 1, k)`` in channels-last memory (a small copy: with
    torch's contiguous weight oneDNN's transposed convolution ran 2.5x slower in a profile); the output is
    ``(n, c, length)`` laid out channel by channel within each step, ready for the next such
    layer without a copy."""
    args = ((1, *stride), (0, *padding))
    weight = weight_2d(weight)
    if transposed:
        y = F.conv_transpose2d(as_2d(x), weight, bias, *args, (0, *output_padding), groups, (1, *dilation))
    else:
        y = F.conv2d(as_2d(x), weight, bias, *args, (1, *dilation), groups)
    return y.squeeze(2)


def weight_2d(weight: torch.Tensor) -> torch.Tensor:
    """A 1-d layer's weight ``(a, b, k)`` as ``(a, b, 1, k)`` in channels-last memory."""
    return weight.unsqueeze(2).contiguous(memory_format=torch.channels_last)


class _ChannelsLast1d:
    """``nn.Conv1d`` / ``nn.ConvTranspose1d`` whose CPU training step runs as a 2-d convolution
    over ``(n, c, 1, length)`` in channels-last memory (:func:`conv1d_as_2d`): oneDNN's 1-d path
    reorders every input and output between its own layout and torch's, and its channels-last
    2-d kernels need no reorder (``benchmarks/conv1d_speed.py``: the conv1d model's fit 1.10x-1.23x
    faster). Same parameters, same results to float rounding; inference, GPU, export and every
    other path are torch's own layer."""

    def takes_2d_path(self, x: torch.Tensor) -> bool:
        """Does a training step on ``x`` take the 2-d path?"""
        return (
            x.dim() == 3 and self.padding_mode == "zeros" and not isinstance(self.padding, str) and plain_cpu_float32(x)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and self.weight.requires_grad and self.takes_2d_path(x):
            return self.forward_2d(x)
        return super().forward(x)


class ChannelsLastConv1d(_ChannelsLast1d, nn.Conv1d):
    __doc__ = (
        _ChannelsLast1d.__doc__
        + """
    To one output channel from at least 8 (a decoder's last layer: :attr:`few_outputs`), the 2-d
    path is :class:`OutputConv2d`'s reformulation (depthwise forward, transposed backward)."""
    )

    @property
    def few_outputs(self) -> bool:
        return (
            self.out_channels == 1
            and self.in_channels >= 8
            and self.stride == (1,)
            and self.dilation == (1,)
            and self.groups == 1
            and self.padding[0] <= self.kernel_size[0] - 1
        )

    def forward_2d(self, x: torch.Tensor) -> torch.Tensor:
        if self.few_outputs:
            return _FewOutputConv2d.apply(as_2d(x), weight_2d(self.weight), self.bias, (0, self.padding[0])).squeeze(2)
        return conv1d_as_2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ChannelsLastConvTranspose1d(_ChannelsLast1d, nn.ConvTranspose1d):
    __doc__ = _ChannelsLast1d.__doc__

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if output_size is not None:  # torch's own layer works the output padding out
            return nn.ConvTranspose1d.forward(self, x, output_size)
        return super().forward(x)

    def forward_2d(self, x: torch.Tensor) -> torch.Tensor:
        return conv1d_as_2d(
            x,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            transposed=True,
            output_padding=self.output_padding,
        )


class FastDropout(nn.Dropout):
    """``nn.Dropout`` whose CPU training mask is drawn as uniform numbers compared with ``p``
    (``torch.rand_like(x) >= p``, then scaled by ``1 / (1 - p)``): the same Bernoulli(1 - p) mask
    (to the 2**-24 resolution of torch's float uniforms), 1.9x-2.4x faster to draw than torch's
    CPU ``bernoulli_``, whose masks took 23-43 % of the conv1d model's whole training step
    (``benchmarks/conv1d_speed.py``). A different draw from the same generator: a seeded fit is
    reproducible, but its masks are not those ``nn.Dropout`` would draw. Elsewhere (eval, GPU,
    other dtypes, export, compile) it is torch's own ``nn.Dropout``."""

    def draws_own_mask(self, x: torch.Tensor) -> bool:
        """Does a training step on ``x`` draw this layer's mask (:meth:`noise`), not torch's?"""
        return self.training and 0 < self.p < 1 and not self.inplace and plain_cpu_float32(x)

    def noise(self, x: torch.Tensor) -> torch.Tensor:
        """A training step's mask for ``x``: 0 or ``1 / (1 - p)`` per element, in ``x``'s layout."""
        with torch.no_grad():
            return torch.rand_like(x).ge_(self.p).div_(1 - self.p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.draws_own_mask(x):
            return x * self.noise(x)
        return super().forward(x)


class OutputConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters, same results) with a faster CPU training path when it
    maps many channels to one, as the last layer of a grayscale image decoder does. Elsewhere
    (GPU, inference, export, autocast, other strides, RGB output, where the reformulation measured
    slower) it is ``nn.Conv2d``."""

    def _fast_path(self, x: torch.Tensor) -> bool:
        return torch.is_grad_enabled() and self.weight.requires_grad and self.reformulates(x)

    def reformulates(self, x: torch.Tensor) -> bool:
        """Does a training step on ``x`` take the reformulated path (autograd's, or the one
        :mod:`hourglass.training.gradients` writes out)?"""
        return (
            x.dim() == 4
            and self.out_channels == 1
            and self.in_channels >= 8
            and self.stride == (1, 1)
            and self.dilation == (1, 1)
            and self.groups == 1
            and self.padding_mode == "zeros"
            and isinstance(self.padding, tuple)
            and all(p <= k - 1 for p, k in zip(self.padding, self.kernel_size))
            and x.is_contiguous(memory_format=torch.channels_last)
            and plain_cpu_float32(x)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._fast_path(x):
            return _FewOutputConv2d.apply(x, self.weight, self.bias, self.padding)
        return super().forward(x)


#: torch's layer -> its twin: only exact types (a user's subclass of a torch layer keeps its own)
TWINS: dict[type, type] = {
    nn.Conv2d: OutputConv2d,
    nn.Conv1d: ChannelsLastConv1d,
    nn.ConvTranspose1d: ChannelsLastConvTranspose1d,
    nn.Dropout: FastDropout,
}


@contextmanager
def faster_layers(model: nn.Module):
    """While inside, each of ``model``'s layers of a type in :data:`TWINS` is its twin: its class
    is swapped, as ``torch.nn.utils.parametrize`` swaps a module's, so it stays the same object
    with the same parameters, buffers, hooks and ``state_dict``, and every layer is back to
    torch's own on the way out, also on error."""
    swapped = [(m, type(m)) for m in model.modules() if type(m) in TWINS]
    for m, cls in swapped:
        m.__class__ = TWINS[cls]
    try:
        yield
    finally:
        for m, cls in swapped:
            m.__class__ = cls
