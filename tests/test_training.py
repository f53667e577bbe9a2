"""hg.fit: real training on real data slices, determinism, corruptions, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hourglass as hg


def test_dense_autoencoder_learns_fashion_mnist(fashion_small):
    x_train, x_val = fashion_small
    model = hg.create_model("dense", input_shape=(1, 28, 28), latent_dim=64, seed=0)
    before = float(np.mean((hg.reconstruct(model, x_val) - x_val) ** 2))
    history = hg.fit(model, x_train, epochs=3, batch_size=32, validation=x_val, seed=0, progress=False)
    assert len(history.train_loss) == len(history.val_loss) == len(history.epoch_seconds) == 3
    assert history.val_loss[-1] < history.val_loss[0] < before
    after = float(np.mean((hg.reconstruct(model, x_val) - x_val) ** 2))
    assert after == pytest.approx(history.val_loss[-1], rel=1e-4)
    assert after < 0.04


def test_same_seed_same_result_on_cpu(fashion_small):
    x = fashion_small[0][:600]
    runs = []
    for seed in (1, 1, 2):
        model = hg.create_model("conv", seed=0)
        hist = hg.fit(
            model,
            x,
            corruption=hg.GaussianNoise(0.2, clip=(0, 1)),
            epochs=1,
            batch_size=64,
            seed=seed,
            progress=False,
            device="cpu",
        )
        runs.append((hist.train_loss[0], model.state_dict()))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])
    assert runs[0][0] != runs[2][0]


def test_fit_is_torch_adam_on_the_batches_in_order_and_takes_another_optimizer():
    torch.manual_seed(0)
    x = torch.rand(256, 20)
    a = hg.create_model("stacked", input_shape=(20,), hidden=(16,), latent_dim=4, seed=0)
    b = hg.create_model("stacked", input_shape=(20,), hidden=(16,), latent_dim=4, seed=0)
    hg.fit(a, x.numpy(), epochs=2, batch_size=32, shuffle=False, lr=1e-2, progress=False)
    ref = torch.optim.Adam(b.parameters(), lr=1e-2)  # torch's own loop, unfused
    for i in range(16):
        xb = x[(i % 8) * 32 : (i % 8 + 1) * 32]
        ref.zero_grad()
        b.loss(xb, xb, "mse").backward()
        ref.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)
    sgd = hg.create_model("stacked", input_shape=(20,), hidden=(16,), latent_dim=4, seed=0)
    history = hg.fit(
        sgd,
        x.numpy(),
        epochs=3,
        batch_size=32,
        lr=0.5,
        progress=False,
        optimizer=lambda params, lr, weight_decay: torch.optim.SGD(params, lr=lr),
    )
    assert history.train_loss[-1] < history.train_loss[0]
    assert not all(torch.equal(p, q) for p, q in zip(sgd.parameters(), a.parameters()))


def test_functional_adam_is_torch_adam_fused_bit_for_bit_and_checkpoints_through_its_state_dict():
    from hourglass.training.optim import FunctionalAdam, load_optimizer_state, optimizer_state

    torch.manual_seed(0)
    x = torch.rand(128, 20)
    models = [hg.create_model("stacked", input_shape=(20,), hidden=(16,), latent_dim=4, seed=0) for _ in range(3)]
    ours = FunctionalAdam(list(models[0].parameters()), lr=1e-2, weight_decay=1e-4)
    ref = torch.optim.Adam(models[1].parameters(), lr=1e-2, weight_decay=1e-4, fused=True)
    for i in range(12):
        for model, opt in ((models[0], ours), (models[1], ref)):
            xb = x[(i % 4) * 32 : (i % 4 + 1) * 32]
            model.loss(xb, xb, "mse").backward()
            opt.step()
            opt.zero_grad()
        if i == 5:  # a resumed optimizer continues exactly
            tensors, meta = optimizer_state(ours)
            resumed = FunctionalAdam(list(models[2].parameters()), lr=1e-2, weight_decay=1e-4)
            models[2].load_state_dict(models[0].state_dict())
            load_optimizer_state(resumed, tensors, meta)
        elif i > 5:
            xb = x[(i % 4) * 32 : (i % 4 + 1) * 32]
            models[2].loss(xb, xb, "mse").backward()
            resumed.step()
            resumed.zero_grad()
    for a, b, c in zip(*(m.parameters() for m in models)):
        assert torch.equal(a, b) and torch.equal(a, c)


def test_denoising_and_masking_train_on_clean_targets(fashion, fashion_small):
    x_train, x_val = fashion.x_train[:4000], fashion_small[1]
    noisy_val = np.clip(x_val + 0.2 * np.random.default_rng(0).standard_normal(x_val.shape), 0, 1).astype(np.float32)
    model = hg.create_model("conv", seed=0)
    history = hg.fit(
        model,
        x_train,
        corruption=hg.GaussianNoise(0.2, clip=(0, 1)),
        epochs=3,
        batch_size=32,
        validation=(noisy_val, x_val),
        seed=0,
        progress=False,
    )
    denoised = hg.reconstruct(model, noisy_val)
    # The denoiser's output is closer to the clean images than its noisy input was.
    assert np.mean((denoised - x_val) ** 2) < 0.8 * np.mean((noisy_val - x_val) ** 2)
    assert history.val_loss[-1] < history.val_loss[0]
    masked = hg.create_model("dense", seed=0)
    h2 = hg.fit(
        masked, x_train[:2000], corruption=hg.MaskingNoise(0.3), epochs=2, validation=x_val, seed=0, progress=False
    )
    assert h2.val_loss[-1] < h2.val_loss[0]


def test_corruptions_do_what_they_say():
    g = torch.Generator().manual_seed(0)
    x = torch.full((1000, 10), 0.5)
    noisy = hg.GaussianNoise(0.2, clip=(0, 1))(x, g)
    assert 0.18 < float((noisy - x).std()) < 0.22 and noisy.min() >= 0 and noisy.max() <= 1
    masked = hg.MaskingNoise(0.3)(x, g)
    assert 0.27 < float((masked == 0).float().mean()) < 0.33
    with pytest.raises(hg.InvalidInputError, match="rate"):
        hg.MaskingNoise(1.5)


def test_gaussian_noise_draws_the_numbers_earlier_releases_drew():
    # x + std * randn from the same generator, bit for bit, whichever memory the result goes in;
    # a channels-last input (an RGB batch as hg.fit gathers it) stays channels-last
    for x in (torch.rand(5, 1, 6, 6), torch.rand(5, 3, 6, 6).contiguous(memory_format=torch.channels_last)):
        noisy = hg.GaussianNoise(0.2, clip=(0, 1))(x, torch.Generator().manual_seed(3))
        want = (x + 0.2 * torch.randn(x.shape, generator=torch.Generator().manual_seed(3))).clamp_(0, 1)
        assert torch.equal(noisy, want) and noisy.stride() == want.stride()


@pytest.mark.parametrize("loss", ["mse", "mae", "bce"])
def test_losses_train(ecg, loss):
    normal = ecg.x_train[ecg.y_train == 1][:1000]
    model = hg.create_model("stacked", input_shape=(140,), seed=0)
    history = hg.fit(model, normal, epochs=4, batch_size=64, loss=loss, seed=0, progress=False)
    assert history.train_loss[-1] < history.train_loss[0]


def test_bf16_autocast_trains(fashion_small):
    x_train, x_val = fashion_small
    model = hg.create_model("conv", seed=0)
    history = hg.fit(model, x_train[:1000], epochs=2, validation=x_val, precision="bf16", progress=False)
    assert history.val_loss[-1] < history.val_loss[0]
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with pytest.raises(hg.InvalidInputError, match="precision"):
        hg.fit(model, x_train[:10], precision="fp8", progress=False)


def test_callbacks_see_every_epoch_and_can_stop(ecg):
    seen = []

    def stop_after_two(epoch, history, model):
        seen.append((epoch, len(history.train_loss)))
        return epoch == 2

    history = hg.fit(
        hg.create_model("stacked", seed=0), ecg.x_train[:256], epochs=5, callbacks=[stop_after_two], progress=False
    )
    assert seen == [(1, 1), (2, 2)] and history.epochs == 2


def test_early_stopping_restores_best(ecg):
    normal = ecg.x_train[ecg.y_train == 1][:500]
    model = hg.create_model("stacked", input_shape=(140,), seed=0)
    history = hg.fit(
        model,
        normal,
        epochs=50,
        batch_size=500,
        lr=1e-9,
        validation=normal,
        early_stopping=2,
        min_delta=1e-3,
        progress=False,
    )
    assert history.stopped_early and history.epochs == 3 and history.best_epoch == 1


def test_progress_bar_can_be_shown_and_hidden(ecg, capsys):
    x = ecg.x_train[:256]
    hg.fit(hg.create_model("stacked", seed=0), x, epochs=2, batch_size=64, progress=True)
    assert "fit stacked" in capsys.readouterr().err
    hg.fit(hg.create_model("stacked", seed=0), x, epochs=2, batch_size=64, progress=False)
    assert capsys.readouterr().err == ""


def test_device_auto_falls_back_to_cpu():
    from hourglass.training import resolve_device

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(hg.InvalidInputError, match="no CUDA GPU"):
            resolve_device("cuda")


def _x(n=64):
    return np.random.default_rng(0).random((n, 140), dtype=np.float32)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.full((8, 140), np.nan, dtype=np.float32), "NaN"),
        (np.where(np.eye(140)[:8] > 0, np.inf, 0.5), "inf"),
        (np.zeros((0, 140), dtype=np.float32), "empty"),
        (np.array([["a"] * 140] * 4), "strings"),
        (np.array([[object()] * 140] * 4), "objects"),
        (np.zeros((8, 141), dtype=np.float32), r"samples of shape \(141,\).*expects samples of shape \(140,\)"),
        (np.zeros((8, 2, 70, 3), dtype=np.float32), "model expects"),
        ([[1, 2], [3]], "could not be read"),
    ],
)
def test_bad_training_data_is_named(bad, match):
    model = hg.create_model("stacked", input_shape=(140,), seed=0)
    with pytest.raises(hg.InvalidInputError, match=match):
        hg.fit(model, bad, epochs=1, progress=False)


def test_nan_in_one_sample_is_located():
    x = _x()
    x[17, 3] = np.nan
    with pytest.raises(hg.InvalidInputError, match="first at sample 17"):
        hg.fit(hg.create_model("stacked", seed=0), x, progress=False)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"epochs": 0}, "epochs"),
        ({"loss": "hinge"}, "loss"),
        ({"lr": -1.0}, "lr"),
        ({"target": np.zeros((3, 140), dtype=np.float32)}, "target has 3"),
        ({"corruption": 0.2}, "callable"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_bad_training_arguments_are_named(kwargs, match):
    with pytest.raises(hg.InvalidInputError, match=match):
        hg.fit(hg.create_model("stacked", seed=0), _x(), progress=False, **kwargs)


def test_diverging_loss_is_a_clear_error():
    huge = np.full((64, 140), 1e30, dtype=np.float32)  # finite input whose squared error overflows
    model = hg.create_model("stacked", output_activation="none", seed=0)
    with pytest.raises(hg.TrainingError, match="epoch 1.*learning rate"):
        hg.fit(model, huge, epochs=3, progress=False)


def test_bce_needs_data_in_unit_range():
    with pytest.raises(hg.InvalidInputError, match=r"\[0, 1\]"):
        hg.fit(hg.create_model("stacked", seed=0), _x() * 3 - 1, loss="bce", progress=False)


def test_flat_images_are_reshaped_and_inference_is_batched(fashion_small):
    x = fashion_small[1][:300]
    model = hg.create_model("conv", seed=0)
    flat = x.reshape(300, 784)
    np.testing.assert_array_equal(hg.reconstruct(model, flat, batch_size=7), hg.reconstruct(model, x))
    z = hg.encode(model, x, batch_size=64)
    assert z.shape == (300, 8, 7, 7)
    assert hg.decode(model, z).shape == x.shape
    with pytest.raises(hg.InvalidInputError, match="z has samples"):
        hg.decode(model, np.zeros((2, 5), dtype=np.float32))


def test_trimmed_loss_resists_anomalies_in_the_training_data(ecg):
    """Trained on all beats (41 % anomalous) with trim=0.45, the model learns the normal beats and
    ranks the test anomalies better than the same model trained with the plain mean."""
    from sklearn.metrics import roc_auc_score

    y = ecg.is_anomaly(ecg.y_test)
    aurocs = {}
    for trim in (0.0, 0.45):
        model = hg.create_model("stacked", input_shape=(140,), seed=0)
        history = hg.fit(model, ecg.x_train, epochs=20, batch_size=256, loss="mae", trim=trim, seed=0, progress=False)
        assert history.settings["trim"] == trim
        aurocs[trim] = roc_auc_score(y, hg.Detector(model).fit(ecg.x_train).score_samples(ecg.x_test))
    assert aurocs[0.45] > aurocs[0.0] + 0.02, aurocs
    with pytest.raises(hg.InvalidInputError, match="trim"):
        hg.fit(hg.create_model("stacked", seed=0), ecg.x_train[:10], trim=0.5, progress=False)


def test_downsample_and_salt_and_pepper_corruptions():
    torch = pytest.importorskip("torch")
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6) / 72
    coarse = hg.Downsample(2)(x)
    assert coarse.shape == x.shape
    # every 2 x 2 block holds its maximum
    np.testing.assert_allclose(coarse[0, 0, :2, :2].numpy(), x[0, 0, :2, :2].max().item())
    avg = hg.Downsample(4, mode="avg")(x)  # 6 is not a multiple of 4: a partial last block
    assert avg.shape == x.shape
    np.testing.assert_allclose(avg[0, 0, 0, 0].item(), x[0, 0, :4, :4].mean().item(), rtol=1e-6)
    np.testing.assert_allclose(avg[0, 0, 5, 5].item(), x[0, 0, 4:, 4:].mean().item(), rtol=1e-6)
    series = torch.rand(3, 140)
    assert hg.Downsample(4)(series).shape == (3, 140)
    assert hg.Downsample(4)(series.unsqueeze(1)).shape == (3, 1, 140)
    for bad in (dict(factor=1), dict(factor=2.0), dict(factor=2, mode="median")):
        with pytest.raises(hg.InvalidInputError, match="Downsample"):
            hg.Downsample(**bad)
    with pytest.raises(hg.InvalidInputError, match="Downsample takes"):
        hg.Downsample(2)(torch.rand(2, 1, 2, 4, 4))
    gen = torch.Generator().manual_seed(0)
    noisy = hg.SaltAndPepper(0.2)(torch.full((200, 100), 0.5), gen)
    salt, pepper = (noisy == 1).float().mean().item(), (noisy == 0).float().mean().item()
    assert abs(salt - 0.1) < 0.01 and abs(pepper - 0.1) < 0.01
    with pytest.raises(hg.InvalidInputError, match="rate"):
        hg.SaltAndPepper(1.0)


def test_super_resolution_training_restores_detail(fashion_small, tmp_path):
    """hg.fit with Downsample: the model learns to bring a 2x max-pooled image back, and does so
    better than the coarse input itself."""
    x_train, x_test = fashion_small
    model = hg.create_model("conv", seed=0)
    history = hg.fit(
        model, x_train, corruption=hg.Downsample(2), epochs=3, batch_size=64, validation=x_test, seed=0, progress=False
    )
    import torch

    coarse = hg.Downsample(2)(torch.from_numpy(x_test)).numpy()
    coarse_mse = float(((coarse - x_test) ** 2).mean())
    assert history.val_loss[-1] < coarse_mse, (history.val_loss[-1], coarse_mse)
    # a Detector scores it the way it was trained: coarse input, error against the full image
    det = hg.Detector(model, score="mse", input_transform=hg.Downsample(2)).fit(x_train[:500])
    scores = det.score_samples(x_test)
    restored = hg.reconstruct(model, coarse)
    np.testing.assert_allclose(
        scores, ((restored - x_test) ** 2).reshape(len(x_test), -1).mean(1), rtol=1e-4, atol=1e-7
    )
    assert scores.mean() == pytest.approx(history.val_loss[-1], rel=1e-3)
    np.testing.assert_allclose(det.score_map(x_test[:3]), (restored[:3] - x_test[:3]) ** 2, rtol=1e-4, atol=1e-7)
    hg.save(det, tmp_path / "sr")
    again = hg.load(tmp_path / "sr")
    assert again.input_transform == hg.Downsample(2)
    np.testing.assert_array_equal(again.score_samples(x_test), scores)
    with pytest.raises(hg.InvalidInputError, match="deterministic"):
        hg.Detector(model, input_transform=hg.GaussianNoise(0.1)).fit(x_train[:100])


def test_windows_cut_a_long_recording_and_scores_map_back(ecg, ecg_detector):
    """A recording of ECG beats with two anomalous ones in the middle: windowed, scored, and
    mapped back to one score per time step, the anomalous stretch stands out."""
    det, _ = ecg_detector
    normal = ecg.x_test[ecg.y_test == 1][:12]
    odd = ecg.x_test[ecg.y_test != 1][:2]
    recording = np.concatenate([*normal[:6], *odd, *normal[6:]])  # 14 beats of 140 steps
    w = hg.windows(recording, length=140, stride=140)
    assert w.shape == (14, 140)
    np.testing.assert_array_equal(w[6], odd[0])
    per_step = hg.scores_to_steps(det.score_samples(w), len(recording), 140, 140)
    assert per_step.shape == (len(recording),)
    inside = per_step[6 * 140 : 8 * 140]
    assert inside.min() > np.median(np.r_[per_step[: 6 * 140], per_step[8 * 140 :]])
    # overlapping windows: a step's score is the mean of the windows covering it
    w2 = hg.windows(recording, length=140, stride=70)
    maps = det.score_map(w2)
    steps = hg.scores_to_steps(maps, len(recording), 140, 70)
    np.testing.assert_allclose(steps[70:140], (maps[0, 70:] + maps[1, :70]) / 2)
    with pytest.raises(hg.InvalidInputError, match="fewer than the window length"):
        hg.windows(recording[:100], length=140)
    broken = recording.copy()
    broken[321] = np.nan
    with pytest.raises(hg.InvalidInputError, match="time step 321"):
        hg.windows(broken, length=140)
    with pytest.raises(hg.InvalidInputError, match="windows"):
        hg.scores_to_steps(np.zeros(5), len(recording), 140, 140)


def test_steps_per_epoch_streams_batches_across_passes(ecg):
    x = ecg.x_train[:60]

    def run(**kw):
        model = hg.create_model("stacked", input_shape=(140,), seed=0)
        history = hg.fit(model, x, batch_size=20, seed=0, progress=False, **kw)
        return history, torch.cat([p.detach().flatten() for p in model.parameters()])

    # one epoch of 6 steps is two shuffled passes of 3 steps: the same batches, the same weights
    h_two, w_two = run(epochs=2)
    h_one, w_one = run(epochs=1, steps_per_epoch=6)
    torch.testing.assert_close(w_one, w_two, rtol=0, atol=0)
    assert h_one.settings["steps_per_epoch"] == 6 and len(h_one.train_loss) == 1
    assert h_one.train_loss[0] == pytest.approx(np.mean(h_two.train_loss), rel=1e-5)
    # epochs shorter than a pass carry on where the last one stopped
    _, w_short = run(epochs=3, steps_per_epoch=2)
    torch.testing.assert_close(w_short, w_two, rtol=0, atol=0)
    with pytest.raises(hg.InvalidInputError, match="steps_per_epoch"):
        run(epochs=1, steps_per_epoch=0)


@pytest.mark.parametrize("name", ["stacked", "dense-ensemble"])
def test_compiled_training_matches_eager(ecg, name):
    """compile=True (torch.compile; CUDA graphs on a GPU, where this test then runs) gives the eager
    result, for a single model and for members trained together (with their trimmed losses)."""
    from hourglass.training import resolve_device

    device = resolve_device("auto")
    tol = 1e-5 if device.type == "cpu" else 1e-4  # a GPU's kernels may sum in another order
    normal = ecg.x_train[ecg.y_train == 1][:1000]
    extra = {} if name == "stacked" else {"n_members": 3}
    runs = []
    for compile_ in (False, True):
        model = hg.create_model(name, input_shape=(140,), hidden=(32, 16), latent_dim=8, seed=0, **extra)
        history = hg.fit(
            model,
            normal,
            epochs=2,
            batch_size=128,
            loss="mae",
            seed=0,
            progress=False,
            compile=compile_,
            device=device,
            trim=0.0 if name == "stacked" else 0.2,
        )
        runs.append((model, history))
    (eager, h_eager), (compiled, h_compiled) = runs
    np.testing.assert_allclose(h_compiled.train_loss, h_eager.train_loss, rtol=tol)
    for a, b in zip(eager.state_dict().values(), compiled.state_dict().values()):
        assert float((a - b).abs().max()) < tol


def test_compiled_outputs_are_copied_out_of_cuda_graph_memory():
    """Under CUDA graphs a step's outputs live in memory the next replay overwrites; the epoch keeps
    every step's loss, so compiled() hands back copies (that still carry the graph for backward)."""
    from hourglass.training.compiled import _copied

    w = torch.ones(3, requires_grad=True)
    loss, parts = (w * 2).sum(), {"kl": w.detach().mean()}
    out_loss, out_parts = _copied((loss, parts))
    assert out_loss.data_ptr() != loss.data_ptr() and out_parts["kl"].data_ptr() != parts["kl"].data_ptr()
    out_loss.backward()
    assert torch.equal(w.grad, torch.full((3,), 2.0))
