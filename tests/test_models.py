"""The model registry and the models' contracts: shapes, configs, initialisation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import hourglass as hg

SHAPES = {
    "dense": (1, 28, 28),
    "stacked": (140,),
    "conv": (1, 28, 28),
    "conv-bn": (1, 28, 28),
    "vae": (1, 28, 28),
    "conv-vae": (1, 28, 28),
    "cvae": (6,),
    "conv1d": (140,),
    "lstm": (3, 20),
}


def test_registry_lists_and_filters():
    assert hg.list_models() == [
        "conv",
        "conv-bn",
        "conv-vae",
        "conv1d",
        "cvae",
        "dense",
        "dense-ensemble",
        "lstm",
        "stacked",
        "vae",
    ]
    assert hg.list_models("conv*") == ["conv", "conv-bn", "conv-vae", "conv1d"]
    assert hg.list_models("*vae") == ["conv-vae", "cvae", "vae"]
    assert hg.list_models("nothing*") == []


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_model_reconstructs_its_input_shape(name):
    model = hg.create_model(name, input_shape=SHAPES[name], seed=0)
    x = torch.rand(5, *SHAPES[name])
    kw = {"labels": torch.arange(5) % 3} if model.conditional else {}
    z = model.encode(x, **kw)
    assert model.decode(z, **kw).shape == x.shape == model(x, **kw).shape
    assert tuple(z.shape[1:]) == model.latent_shape
    out = model(x, **kw)
    assert 0 <= out.min() and out.max() <= 1  # sigmoid output by default


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_config_round_trips_through_json(name):
    model = hg.create_model(name, input_shape=SHAPES[name], output_activation="none")
    d = json.loads(json.dumps(model.config.to_dict()))
    again = hg.models.model_from_config(name, d)
    assert again.config == model.config
    assert [p.shape for p in again.parameters()] == [p.shape for p in model.parameters()]


def test_tutorial_architectures():
    dense = hg.create_model("dense", input_shape=(1, 28, 28), latent_dim=64)
    assert [m.__class__.__name__ for m in dense.encoder] == ["Linear", "ReLU"]
    assert dense.encoder[0].weight.shape == (64, 784)
    stacked = hg.create_model("stacked", input_shape=(140,), hidden=(32, 16), latent_dim=8)
    sizes = [m.out_features for m in stacked.modules() if isinstance(m, torch.nn.Linear)]
    assert sizes == [32, 16, 8, 16, 32, 140]
    conv = hg.create_model("conv", input_shape=(1, 28, 28))
    assert conv.latent_shape == (8, 7, 7)
    assert [m.out_channels for m in conv.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))] == [
        16,
        8,
        8,
        16,
        1,
    ]
    bn = hg.create_model("conv-bn", channels=(64, 32))
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in bn.modules()) == 4
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in bn.modules()) == 2
    # latent_dim turns the spatial code into a vector (image2vec) through a linear layer
    assert hg.create_model("conv", latent_dim=64).latent_shape == (64,)
    assert hg.create_model("conv-bn", latent_dim=32).latent_shape == (32,)


def test_keras_style_init_and_seed():
    a = hg.create_model("dense", seed=3)
    b = hg.create_model("dense", seed=3)
    c = hg.create_model("dense", seed=4)
    assert torch.equal(a.encoder[0].weight, b.encoder[0].weight)
    assert not torch.equal(a.encoder[0].weight, c.encoder[0].weight)
    assert torch.count_nonzero(a.encoder[0].bias) == 0  # zero biases, as Keras
    limit = np.sqrt(6 / (784 + 64))  # Glorot uniform bound
    assert a.encoder[0].weight.abs().max() <= limit


def test_output_activation_none_is_unbounded():
    model = hg.create_model("stacked", input_shape=(10,), hidden=(8,), latent_dim=2, output_activation="none", seed=0)
    out = model(torch.randn(64, 10) * 50)
    assert out.min() < 0 or out.max() > 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"latnt_dim": 3}, "latnt_dim"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"output_activation": "softmax"}, "output_activation"),
        ({"hidden": (32, -1)}, "hidden"),
        ({"activation": "swishy"}, "activation"),
    ],
)
def test_bad_model_options_are_named(kwargs, match):
    with pytest.raises(hg.InvalidInputError, match=match):
        hg.create_model("stacked", **kwargs)


def test_bad_model_name_and_conv_shape():
    with pytest.raises(hg.InvalidInputError, match="unknown model 'transformer'"):
        hg.create_model("transformer")
    with pytest.raises(hg.InvalidInputError, match="divisible by 4"):
        hg.create_model("conv", input_shape=(1, 30, 30))
    with pytest.raises(hg.InvalidInputError, match="channels, height, width"):
        hg.create_model("conv", input_shape=(140,))


@pytest.mark.parametrize("in_channels,kernel_size", [(16, 3), (32, 3), (16, 5)])
def test_output_conv_matches_torch_conv_in_values_and_gradients(fashion_small, in_channels, kernel_size):
    """The CPU fast path of a decoder's last layer computes what nn.Conv2d computes, forward and
    backward, and is a plain nn.Conv2d to everything else (state_dict, inference)."""
    from torch import nn

    from hourglass.training.layers import OutputConv2d

    torch.manual_seed(0)
    ref = nn.Conv2d(in_channels, 1, kernel_size, padding=kernel_size // 2)
    fast = OutputConv2d(in_channels, 1, kernel_size, padding=kernel_size // 2)
    fast.load_state_dict(ref.state_dict())
    assert list(fast.state_dict()) == list(ref.state_dict())
    # Feature maps made from real images, channels-last as hg.fit lays them out on CPU.
    images = torch.from_numpy(fashion_small[0][:8])
    features = torch.relu(nn.Conv2d(1, in_channels, 3, padding=1)(images)).detach()
    features = features.contiguous(memory_format=torch.channels_last)
    target = torch.rand(8, 1, 28, 28)
    results = []
    for layer in (ref, fast):
        x = features.clone().requires_grad_()
        layer.zero_grad()
        out = layer(x)
        ((out - target) ** 2).mean().backward()
        results.append((out.detach(), x.grad, layer.weight.grad, layer.bias.grad))
    assert fast._fast_path(features.requires_grad_())
    for got, want in zip(results[1], results[0]):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    with torch.no_grad():
        assert not fast._fast_path(features)
        torch.testing.assert_close(fast(features), ref(features))


@pytest.mark.parametrize(
    ("transposed", "in_channels", "out_channels", "options"),
    [
        (False, 1, 32, {"stride": 2, "padding": 3}),
        (False, 32, 1, {"padding": 3}),
        (False, 4, 6, {"stride": 2, "padding": 2, "dilation": 2, "groups": 2}),
        (True, 16, 32, {"stride": 2, "padding": 3, "output_padding": 1}),
        (True, 4, 6, {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2}),
    ],
    ids=["strided", "to-one-channel", "dilated-grouped", "transposed", "transposed-grouped"],
)
def test_channels_last_1d_layers_match_torch_in_values_and_gradients(
    ecg, transposed, in_channels, out_channels, options
):
    """The 1-d layers' CPU training path (a 2-d convolution over channels-last views) computes
    what nn.Conv1d / nn.ConvTranspose1d compute, forward and backward, lays its output out so the
    next such layer needs no copy, and is torch's own layer to everything else (inference too)."""
    from torch import nn

    from hourglass.training.layers import ChannelsLastConv1d, ChannelsLastConvTranspose1d

    plain, fast_type = (
        (nn.ConvTranspose1d, ChannelsLastConvTranspose1d) if transposed else (nn.Conv1d, ChannelsLastConv1d)
    )
    torch.manual_seed(0)
    ref = plain(in_channels, out_channels, 7 if in_channels != 4 else 3, **options)
    fast = fast_type(in_channels, out_channels, ref.kernel_size, **options)
    fast.load_state_dict(ref.state_dict())
    assert list(fast.state_dict()) == list(ref.state_dict())
    beats = torch.from_numpy(ecg.x_train[: 8 * in_channels]).reshape(8, in_channels, 140)  # real series
    results = []
    for layer in (ref, fast):
        x = beats.clone().requires_grad_()
        out = layer(x)
        ((out - out.detach().roll(1, -1)) ** 2).mean().backward()
        results.append((out.detach(), x.grad, layer.weight.grad, layer.bias.grad))
    out = results[1][0]
    assert out.shape == results[0][0].shape and fast.takes_2d_path(out)
    assert out.unsqueeze(2).is_contiguous(memory_format=torch.channels_last)  # the next layer's view
    for got, want in zip(results[1], results[0]):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    with torch.no_grad():  # inference: torch's own kernel, the same numbers bit for bit
        assert torch.equal(fast(beats), ref(beats))
    assert not fast.takes_2d_path(beats.double())


def test_one_channel_images_get_channels_last_strides_on_the_same_memory():
    from hourglass.training.layers import one_channel_last

    x = torch.rand(4, 1, 5, 7)
    view = one_channel_last(x)
    assert view.data_ptr() == x.data_ptr() and torch.equal(view, x)
    assert view.stride() == (35, 1, 7, 1) and view.is_contiguous(memory_format=torch.channels_last)
    assert one_channel_last(view) is view
    for other in (torch.rand(4, 3, 5, 7), x[:, :, :, ::2], torch.rand(4, 1, 7)):  # left as they are
        assert one_channel_last(other) is other


def test_fast_dropout_draws_a_bernoulli_mask_and_is_torchs_dropout_elsewhere():
    from torch import nn

    from hourglass.training.layers import FastDropout

    layer = FastDropout(0.3).train()
    torch.manual_seed(0)
    x = torch.rand(200, 1000) + 0.5  # no zeros: a zero in the output is a dropped element
    y = layer(x.requires_grad_())
    kept = y != 0
    assert abs(float(kept.float().mean()) - 0.7) < 0.005  # 200,000 draws: 4 standard errors
    torch.testing.assert_close(y[kept], (x / 0.7)[kept])
    y.sum().backward()
    torch.testing.assert_close(x.grad, kept.float() / 0.7)
    torch.manual_seed(1)
    first = layer(x)
    torch.manual_seed(1)
    assert torch.equal(layer(x), first)  # seeded by torch's generator
    with torch.no_grad():
        assert torch.equal(layer.eval()(x), x)
    layer.train()
    torch.manual_seed(2)
    want = nn.Dropout(0.3)(x.double())
    torch.manual_seed(2)
    assert torch.equal(layer(x.double()), want)  # outside float32 on CPU: torch's own dropout


def test_a_fit_trains_torchs_layers_as_their_twins_and_gives_torchs_back_also_on_error(ecg):
    """The models are built from torch's layers; a CPU fit trains them as training/layers.py's
    twins (layers="auto"), the same objects, and they are torch's own again afterwards."""
    from torch import nn

    from hourglass.training.layers import ChannelsLastConv1d, FastDropout

    model = hg.create_model("conv1d", input_shape=(140,), dropout=0.2, seed=0)
    assert {type(m) for m in model.modules()} >= {nn.Conv1d, nn.ConvTranspose1d, nn.Dropout}
    before = [id(m) for m in model.modules()]
    seen = []

    def look(epoch, history, model):
        seen.append({type(m) for m in model.modules()})

    for layers, twins in (("auto", True), ("torch", False)):
        hg.fit(model, ecg.x_train[:64], epochs=1, layers=layers, callbacks=[look], progress=False)
        assert ({ChannelsLastConv1d, FastDropout} <= seen[-1]) is twins
        assert not {ChannelsLastConv1d, FastDropout} & {type(m) for m in model.modules()}
    assert [id(m) for m in model.modules()] == before

    def fail(epoch, history, model):
        raise RuntimeError("a callback's own error")

    with pytest.raises(RuntimeError, match="own error"):
        hg.fit(model, ecg.x_train[:64], epochs=1, callbacks=[fail], progress=False)
    assert nn.Dropout in {type(m) for m in model.modules()}
    assert FastDropout not in {type(m) for m in model.modules()}
    with pytest.raises(hg.InvalidInputError, match="layers must be"):
        hg.fit(model, ecg.x_train[:64], epochs=1, layers="fast")


# The private torch calls hourglass keeps, each where it won at least 10 % of a whole training step
# (benchmarks/speed.py; docs/architecture.md, "Private torch calls"), pinned here so that a torch
# release that changes one fails CI loudly instead of breaking training.
PINNED_SCHEMAS = {
    # OutputConv2d's backward (training/layers.py) calls it positionally.
    "convolution_backward": "aten::convolution_backward(Tensor grad_output, Tensor input, Tensor weight, "
    "SymInt[]? bias_sizes, SymInt[] stride, SymInt[] padding, SymInt[] dilation, "
    "bool transposed, SymInt[] output_padding, SymInt groups, bool[3] output_mask) "
    "-> (Tensor, Tensor, Tensor)",
}


@pytest.mark.parametrize("op", sorted(PINNED_SCHEMAS))
def test_private_torch_calls_keep_their_signatures(op):
    assert str(getattr(torch.ops.aten, op).default._schema) == PINNED_SCHEMAS[op]


def test_no_other_private_torch_calls_in_the_package():
    """Only the pinned private calls: no other ``torch._x`` name, private torch module or aten op in
    hourglass/ (read from the code itself, so docstrings that mention 0.1.0's calls do not count)."""
    import ast
    from pathlib import Path

    def dotted(node):
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else None

    def private(name: str) -> bool:
        parts = name.split(".")
        if parts[:3] == ["torch", "ops", "aten"] and len(parts) > 3:
            return parts[3] not in PINNED_SCHEMAS
        return parts[0] == "torch" and any(p.startswith("_") and not p.startswith("__") for p in parts[1:])

    package = Path(hg.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Attribute):
                names.append(dotted(node) or "")
            elif isinstance(node, ast.ImportFrom) and node.module:
                names += [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            found += [f"{path.relative_to(package)}:{node.lineno}: {n}" for n in names if private(n)]
    assert not found, "private torch calls outside PINNED_SCHEMAS:\n" + "\n".join(sorted(set(found)))
