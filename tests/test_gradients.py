"""Hand-written gradients of the dense and conv models (hourglass.training.gradients): the same
numbers as autograd on real data, the same fit, and autograd wherever they do not apply."""

from __future__ import annotations

import pytest
import torch

import hourglass as hg
from hourglass.models.conv import ConvAutoencoder, ConvConfig
from hourglass.models.dense import DenseAutoencoder, DenseConfig
from hourglass.training.gradients import written_out_step


def _grads(model, x, target, loss, trim, seed=None):
    """(loss, gradients) from the model's hand-written step, then from autograd (each run after
    ``torch.manual_seed(seed)`` if given: the same dropout masks)."""
    step = written_out_step(model, loss=loss, trim=trim)
    assert step is not None
    results = []
    for run in (lambda: step(x, target), lambda: model.training_loss(x, target, loss=loss).trimmed_mean(trim)):
        model.zero_grad(set_to_none=True)
        if seed is not None:
            torch.manual_seed(seed)
        value = run()
        if value.requires_grad:
            value.backward()
        results.append((value.detach(), [p.grad.clone() for p in model.parameters()]))
    return results


@pytest.mark.parametrize("loss", ["mse", "mae", "bce"])
@pytest.mark.parametrize("trim", [0.0, 0.2])
def test_the_tutorial_model_gets_autograds_gradients_bit_for_bit(fashion_small, loss, trim):
    x = torch.from_numpy(fashion_small[0][:45])  # an odd batch, as an epoch's last one
    target = (x > 0.5).float() if loss == "bce" else x
    model = hg.create_model("dense", input_shape=(1, 28, 28), seed=0)
    (value, grads), (ref_value, ref_grads) = _grads(model, x, target, loss, trim)
    assert torch.equal(value, ref_value)
    assert all(torch.equal(g, r) for g, r in zip(grads, ref_grads))


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "leaky_relu", "tanh", "elu", "none"])
@pytest.mark.parametrize("output_activation", ["sigmoid", "none"])
def test_every_covered_activation_matches_autograd(ecg, activation, output_activation):
    x = torch.from_numpy(ecg.x_train[:64])
    model = hg.create_model(
        "stacked",
        input_shape=(140,),
        seed=1,
        activation=activation,
        latent_activation="tanh",
        output_activation=output_activation,
    )
    (value, grads), (ref_value, ref_grads) = _grads(model, x, x, "mse", 0.1)
    assert torch.equal(value, ref_value)
    # ReLU, sigmoid, leaky ReLU, identity: autograd's rounding exactly; tanh's backward is a fused
    # multiply-add (matched with addcmul, asserted to rounding so another CPU cannot fail it); ELU's
    # derivative comes from its output (y + alpha instead of alpha * exp(x))
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-7)


def test_a_fit_with_them_is_the_autograd_fit(fashion_small):
    x, x_val = fashion_small
    opts = dict(epochs=2, batch_size=32, seed=0, trim=0.05, validation=x_val[:200], progress=False)
    fast = hg.create_model("dense", input_shape=(1, 28, 28), seed=0)
    h_fast = hg.fit(fast, x, **opts)
    slow = hg.create_model("dense", input_shape=(1, 28, 28), seed=0)
    h_slow = hg.fit(slow, x, gradients="autograd", **opts)
    assert h_fast.settings["gradients"] == "manual" and h_slow.settings["gradients"] == "autograd"
    assert h_fast.train_loss == h_slow.train_loss and h_fast.val_loss == h_slow.val_loss
    assert all(torch.equal(p, q) for p, q in zip(fast.state_dict().values(), slow.state_dict().values()))
    assert h_fast.val_loss[-1] < 0.05  # and it learns: the tutorial model's MSE after two epochs


class _OwnEncoder(DenseAutoencoder):
    name = "own-encoder-test"  # not registered: a user's subclass with its own forward pass

    def encode(self, x):
        return super().encode(x) * 2


def _hook(module):
    module.encoder[0].register_forward_hook(lambda m, i, o: None)
    return module


def _frozen(module):
    module.encoder[0].weight.requires_grad_(False)
    return module


@pytest.mark.parametrize(
    "make",
    [
        lambda: hg.create_model("stacked", input_shape=(140,), activation="gelu"),
        lambda: _OwnEncoder(DenseConfig(input_shape=(140,))),
        lambda: _hook(hg.create_model("stacked", input_shape=(140,))),
        lambda: _frozen(hg.create_model("stacked", input_shape=(140,))),
    ],
    ids=["gelu", "subclass", "hook", "frozen"],
)
def test_what_they_cannot_differentiate_stays_on_autograd(ecg, make):
    model = make()
    assert written_out_step(model, loss="mse", trim=0.0) is None
    history = hg.fit(model, ecg.x_train[:300], epochs=3, batch_size=64, seed=0, progress=False)
    assert history.settings["gradients"] == "autograd" and history.train_loss[-1] < history.train_loss[0]


def test_bf16_and_other_model_families_use_autograd(ecg):
    x = ecg.x_train[:256]
    stacked = hg.create_model("stacked", input_shape=(140,), seed=0)
    assert hg.fit(stacked, x, epochs=1, progress=False).settings["gradients"] == "manual"
    assert hg.fit(stacked, x, epochs=1, precision="bf16", progress=False).settings["gradients"] == "autograd"
    conv_bn = hg.create_model("conv-bn", input_shape=(1, 28, 28), seed=0)
    assert written_out_step(conv_bn, loss="mse", trim=0.0) is None  # batch norm
    vae = hg.create_model("vae", input_shape=(140,), seed=0)
    assert written_out_step(vae, loss="elbo", trim=0.0) is None
    # the conv1d model's written-out step saved 6-7 % of a step: under the 10 % bar, so it trains on
    # autograd (docs/decisions/gradient-paths.md)
    conv1d = hg.create_model("conv1d", input_shape=(140,), seed=0)
    assert written_out_step(conv1d, loss="mse", trim=0.0) is None
    history = hg.fit(conv1d, x, epochs=3, batch_size=64, progress=False)
    assert history.settings["gradients"] == "autograd" and history.train_loss[-1] < history.train_loss[0]


def test_a_float64_model_gets_float64_gradients(ecg):
    """The trimmed mean's row weight (1 / keep / features) is rounded in the model's own dtype."""
    x = torch.from_numpy(ecg.x_train[:50]).double()
    model = hg.create_model("stacked", input_shape=(140,), seed=2).double()
    (value, grads), (ref_value, ref_grads) = _grads(model, x, x, "mse", 0.2)
    assert value.dtype == torch.float64 and torch.equal(value, ref_value)
    assert all(g.dtype == torch.float64 and torch.equal(g, r) for g, r in zip(grads, ref_grads))


def _as_trained(model, *arrays):
    """The model and arrays in the memory format hg.fit trains convolutions in on a CPU."""
    cl = torch.channels_last
    return model.to(memory_format=cl), [a.contiguous(memory_format=cl) for a in arrays]


@pytest.mark.parametrize(
    ("overrides", "loss", "trim", "channels_last"),
    [
        ({}, "mse", 0.0, True),
        ({}, "bce", 0.2, True),
        ({}, "mae", 0.1, False),
        ({"latent_dim": 16, "activation": "tanh"}, "mse", 0.1, True),
        ({"activation": "leaky_relu"}, "mse", 0.0, True),
        ({"input_shape": (3, 32, 32), "channels": (8, 4, 4), "kernel_size": 5}, "mse", 0.0, True),
    ],
    ids=["tutorial", "bce-trimmed", "contiguous-mae", "bottleneck-tanh", "leaky-relu", "rgb-three-stages"],
)
def test_the_conv_model_gets_autograds_gradients(fashion_small, overrides, loss, trim, channels_last):
    shape = overrides.get("input_shape", (1, 28, 28))
    images = torch.from_numpy(fashion_small[0][:45])  # an odd batch, as an epoch's last one
    x = images if shape == (1, 28, 28) else torch.nn.functional.interpolate(images, size=shape[1:]).repeat(1, 3, 1, 1)
    target = (x > 0.5).float() if loss == "bce" else x
    model = hg.create_model("conv", **{"input_shape": shape, "seed": 0, **overrides})
    if channels_last:
        model, (x, target) = _as_trained(model, x, target)
    (value, grads), (ref_value, ref_grads) = _grads(model, x, target, loss, trim)
    assert torch.equal(value, ref_value)
    for (name, p), g, r in zip(model.named_parameters(), grads, ref_grads):
        # in the parameter's own strides, as autograd's: Adam's fused kernel reads both as one buffer
        assert g.shape == r.shape and g.stride() == p.stride(), name
        # torch.nn.grad's calls and plain sums for the biases, where autograd takes one oneDNN call
        # per layer: the same gradients, rounded differently
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-4 * float(r.abs().max()), msg=name)


def test_a_conv_fit_with_them_is_the_autograd_fit(fashion_small):
    x, x_val = fashion_small
    opts = dict(
        epochs=2,
        batch_size=32,
        seed=0,
        corruption=hg.GaussianNoise(0.2, clip=(0, 1)),
        validation=x_val[:200],
        progress=False,
    )
    fast = hg.create_model("conv", input_shape=(1, 28, 28), seed=0)
    h_fast = hg.fit(fast, x[:1000], **opts)
    slow = hg.create_model("conv", input_shape=(1, 28, 28), seed=0)
    h_slow = hg.fit(slow, x[:1000], gradients="autograd", **opts)
    assert h_fast.settings["gradients"] == "manual" and h_slow.settings["gradients"] == "autograd"
    # the gradients round differently (above), so the two runs drift apart by rounding only
    torch.testing.assert_close(h_fast.train_loss, h_slow.train_loss, rtol=1e-3, atol=0)
    torch.testing.assert_close(h_fast.val_loss, h_slow.val_loss, rtol=1e-3, atol=0)
    assert h_fast.val_loss[-1] < 0.06 < 0.1 < h_fast.train_loss[0]  # and it learns


def _conv_hook(module):
    module.decoder[0].register_forward_hook(lambda m, i, o: None)
    return module


def _conv_frozen(module):
    module.decoder[-1].bias.requires_grad_(False)
    return module


class _OwnDecoder(ConvAutoencoder):
    name = "own-decoder-test"  # not registered: a user's subclass with its own forward pass

    def decode_logits(self, z):
        return super().decode_logits(z) - 1


@pytest.mark.parametrize(
    "make",
    [
        lambda: _conv_hook(hg.create_model("conv", input_shape=(1, 28, 28))),
        lambda: _conv_frozen(hg.create_model("conv", input_shape=(1, 28, 28))),
        lambda: _OwnDecoder(ConvConfig(input_shape=(1, 28, 28))),
        lambda: hg.create_model("conv", input_shape=(1, 28, 28), activation="gelu"),
    ],
    ids=["hook", "frozen-bias", "subclass", "gelu"],
)
def test_conv_models_they_cannot_differentiate_stay_on_autograd(fashion_small, make):
    model = make()
    assert written_out_step(model, loss="mse", trim=0.0) is None
    history = hg.fit(model, fashion_small[0][:256], epochs=2, batch_size=64, seed=0, progress=False)
    assert history.settings["gradients"] == "autograd" and history.train_loss[-1] < history.train_loss[0]


@pytest.mark.parametrize("dims", [1, 2])
def test_any_chain_of_covered_layers_gets_autograds_gradients(ecg, dims):
    """``chain_gradients`` beyond the registered models: 1-d and 2-d convolutions with groups,
    dilation and output padding, reshapes, a linear layer, trimmed MAE."""
    from torch import nn

    from hourglass.training.gradients import autograd_loss, chain_gradients

    conv, up = (nn.Conv1d, nn.ConvTranspose1d) if dims == 1 else (nn.Conv2d, nn.ConvTranspose2d)
    x = torch.from_numpy(ecg.x_train[:24, :128]).reshape(24, 2, 64)
    if dims == 2:
        x = x.reshape(24, 2, 8, 8)
    torch.manual_seed(0)
    layers = nn.Sequential(
        conv(2, 4, 3, stride=2, padding=2, dilation=2),
        nn.Tanh(),
        conv(4, 4, 3, padding=1, groups=2),
        nn.LeakyReLU(0.2),
        up(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(6 * 64, x[0].numel()),
        nn.Unflatten(1, x.shape[1:]),
    )

    def trimmed_mae(out, target):  # any loss: only it is differentiated by autograd
        return torch.topk((out - target).abs().flatten(1).mean(1), 18, largest=False).values.mean()

    step = chain_gradients(list(layers), autograd_loss(trimmed_mae))
    value = step(x, x)
    grads = [p.grad.clone() for p in layers.parameters()]
    for p in layers.parameters():
        p.grad = None
    per = (layers(x) - x).abs().flatten(1).mean(1)
    ref = torch.topk(per, 18, largest=False).values.mean()
    ref.backward()
    torch.testing.assert_close(value, ref.detach())
    for g, p in zip(grads, layers.parameters()):
        torch.testing.assert_close(g, p.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("trim", [0.0, 0.2])
def test_a_dense_model_with_dropout_gets_autograds_gradients_bit_for_bit(ecg, trim):
    """The written-out step draws the dropout masks the layers' own forward pass draws."""
    model = hg.create_model("stacked", input_shape=(140,), hidden=(64, 32), dropout=0.2, seed=0).train()
    x = torch.from_numpy(ecg.x_train[:45])
    (value, grads), (ref_value, ref_grads) = _grads(model, x, x, "mae", trim, seed=3)
    assert torch.equal(value, ref_value)
    assert all(torch.equal(g, r) for g, r in zip(grads, ref_grads))
    assert hg.fit(model, ecg.x_train[:256], epochs=1, progress=False).settings["gradients"] == "manual"
