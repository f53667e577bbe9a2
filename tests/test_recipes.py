"""Recipes: the built-in ones run end to end; bad ones are refused, naming the key, before training."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import hourglass as hg
from hourglass.cli import main
from hourglass.recipes import RecipeError, list_recipes, load_recipe

QUICK = {"training.epochs": 1, "training.steps_per_epoch": 3, "data.max_train": 384, "data.max_test": 240}


def test_builtin_recipes_cover_the_examples_and_every_model():
    names = list_recipes()
    assert {"fashion-basic", "fashion-denoise", "ecg-anomaly", "mnist-one-class"} <= set(names)
    models = {load_recipe(n).model["name"] for n in names}
    assert models == set(hg.list_models())
    for name in names:
        assert load_recipe(name).description


@pytest.mark.parametrize("name", list_recipes())
def test_every_builtin_recipe_runs_end_to_end(name, tmp_path, data_dir):
    result = hg.run_recipe(name, tmp_path / name, overrides=QUICK, data_dir=data_dir, progress=False)
    out = result.out
    page = (out / "report.html").read_text()
    assert page.count("<img ") >= 3 and "data:image/png;base64," in page
    summary = json.loads((out / "metrics.json").read_text())
    recipe = json.loads((out / "recipe.json").read_text())
    assert summary["recipe"] == name and recipe["overrides"]["training.epochs"] == 1
    assert summary["epochs"] == 1 and np.isfinite(summary["final_train_loss"])
    loaded = hg.load(out / "model")
    if result.detector is not None:
        assert {"auroc", "threshold", "flagged"} <= set(summary["metrics"])
        assert loaded.threshold_ == result.detector.threshold_
        assert "ROC curve" in page
    else:
        assert isinstance(loaded, hg.Autoencoder) and summary["metrics"]["test_mse"] > 0
    if result.recipe.transforms["corruption"] == {"type": "Downsample", "factor": 2, "mode": "max"}:
        assert isinstance(loaded.input_transform, hg.Downsample)  # a super-resolution detector scores as it learnt


def test_recipe_on_a_users_csv(tmp_path, data_dir):
    ds = hg.datasets.load("adbench/4_breastw", data_dir=data_dir, download=False)
    header = ",".join([f"f{i}" for i in range(ds.x_train.shape[1])] + ["label"])
    rows = [",".join(f"{v:.6g}" for v in x) + f",{int(y)}" for x, y in zip(ds.x_train, ds.y_train)]
    (tmp_path / "train.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    (tmp_path / "mine.toml").write_text(f'''
description = "my table"
[data]
path = "{tmp_path / "train.csv"}"
label_column = "label"
[transforms]
scaler = "standard"
[model]
name = "stacked"
hidden = [16]
latent_dim = 4
[training]
epochs = 30
batch_size = 64
[detection]
score = "l2"
threshold = {{ type = "Contamination", rate = 0.1 }}
''')
    result = CliRunner().invoke(main, ["run", str(tmp_path / "mine.toml"), "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]
    assert metrics["auroc"] > 0.85  # scored on the (labelled) file itself
    det = hg.load(tmp_path / "run" / "model")
    assert isinstance(det.scaler, hg.StandardScaler)


@pytest.mark.parametrize(
    "override, message",
    [
        ({"training.epoch": 2}, r"unknown key 'training.epoch' in \[training\]; did you mean 'epochs'"),
        ({"training.epochs": "ten"}, r"training.epochs must be an integer, got 'ten' \(str\)"),
        ({"training.lr": True}, r"training.lr must be a number"),
        ({"data.normal": ["one"]}, r"data.normal must be a list of integers"),
        (
            {"model.latent_dims": 4},
            r"unknown key 'model.latent_dims' in the 'stacked' model's options; did you mean "
            r"'latent_dim'",
        ),
        ({"transforms.scaler": "quantile"}, r"transforms.scaler must be one of \['none', 'minmax'"),
        (
            {"transforms.corruption": {"type": "GaussianNoise", "sigma": 0.1}},
            r"unknown key 'transforms.corruption.sigma' .*valid keys: clip, std, type",
        ),
        ({"detection.threshold": {"type": "Median"}}, r"detection.threshold.type must be one of"),
        ({"detection.threshold": {"type": "MeanStd", "q": 3}}, r"unknown key 'detection.threshold.q'"),
        ({"reports.title": "x"}, r"unknown key 'reports' in recipe ecg-anomaly; did you mean 'report'"),
        ({"model.name": "transformer"}, r"model.name must be one of"),
        ({"data.path": "x.csv"}, r"exactly one of dataset .* or path"),
        ({"detection.worst_fraction": 2.0}, r"detection.worst_fraction must be a number in \(0, 1\]"),
        ({"detection.error_blur": 0.0}, r"detection.error_blur must be a positive number"),
        ({"detection.score": "elbo", "detection.error_blur": 1.0}, r"detection.error_blur is for reconstruction"),
        ({"detection.error_blur": 500.0}, r"detection.error_blur=500.0 is wider than the input \(140 elements"),
        ({"detection.ensemble": 0}, r"detection.ensemble must be >= 1"),
        ({"detection.n_neighbors": 0}, r"detection.n_neighbors must be an integer >= 1, got 0"),
        ({"detection.memory_size": 3}, r"detection.memory_size \(3\) must be larger than n_neighbors \(5\)"),
    ],
)
def test_bad_recipes_are_refused_naming_the_key(override, message, tmp_path):
    with pytest.raises(RecipeError, match=message):
        hg.run_recipe("ecg-anomaly", tmp_path / "run", overrides=override, progress=False)
    assert not (tmp_path / "run").exists()  # refused before anything was trained or written


def test_bad_values_found_when_building_are_refused_before_training(tmp_path):
    with pytest.raises(RecipeError, match=r"transforms.corruption: GaussianNoise std"):
        hg.run_recipe(
            "ecg-anomaly", tmp_path / "a", overrides={"transforms.corruption": {"type": "GaussianNoise", "std": -1.0}}
        )
    with pytest.raises(RecipeError, match=r"\[model\] stacked: latent_dim"):
        hg.run_recipe("ecg-anomaly", tmp_path / "b", overrides={"model.latent_dim": 0}, progress=False)
    with pytest.raises(RecipeError, match=r"conditional 'cvae' model"):
        load_recipe("mnist-cvae", {"detection.score": "mae"})
    assert not list(tmp_path.iterdir())


def test_unreadable_recipes(tmp_path):
    (tmp_path / "broken.toml").write_text("[training\nepochs = 2")
    with pytest.raises(RecipeError, match="not valid TOML"):
        load_recipe(tmp_path / "broken.toml")
    with pytest.raises(RecipeError, match="no recipe 'nope'.*ecg-anomaly"):
        load_recipe("nope")
    result = CliRunner().invoke(main, ["run", "ecg-anomaly", "--out", str(tmp_path / "x"), "--set", "training.epoch=1"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "RecipeError: unknown key 'training.epoch'" in result.output


def test_cli_run_list_export_and_quiet(tmp_path):
    runner = CliRunner()
    listing = runner.invoke(main, ["list", "recipes"]).output
    assert all(name in listing for name in list_recipes()) and "Keras tutorial" in listing

    def cli(*args, **env):
        env = {**os.environ, **env}
        return subprocess.run([sys.executable, "-m", "hourglass.cli", *args], capture_output=True, text=True, env=env)

    # into a pipe nobody watches: no bars, unless HOURGLASS_PROGRESS asks for them
    piped = cli("run", "ecg-anomaly", "--out", str(tmp_path / "piped"), "--set", "training.epochs=1")
    assert piped.returncode == 0 and "fit stacked" not in piped.stderr, piped.stderr
    loud = cli(
        "run", "ecg-anomaly", "--out", str(tmp_path / "run"), "--set", "training.epochs=3", HOURGLASS_PROGRESS="on"
    )
    assert loud.returncode == 0, loud.stderr
    assert "fit stacked" in loud.stderr and "report" in loud.stderr  # the progress bars
    assert "auroc" in loud.stdout and (tmp_path / "run" / "report.html").is_file()
    quiet = cli("export", str(tmp_path / "run"), str(tmp_path / "det.onnx"), "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    assert "scorer" in quiet.stdout
    ort = pytest.importorskip("onnxruntime")
    det = hg.load(tmp_path / "run" / "model")
    x = hg.datasets.load("ecg5000").x_test[:50]
    session = ort.InferenceSession(str(tmp_path / "det.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(["score"], {"x": x})[0], det.score_samples(x), rtol=1e-5, atol=1e-5)


def test_every_command_has_help_with_an_example():
    runner = CliRunner()
    for name in main.commands:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0 and "Example" in result.output, name
    for name, command in main.commands.items():
        if name != "list":  # `list` is instant
            assert any(p.name == "quiet" for p in command.params), name
