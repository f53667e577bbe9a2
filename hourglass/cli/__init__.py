"""The ``hourglass`` command line: it parses arguments and calls the library, nothing more.

Exit codes: 0 done; 1 the library refused the input or failed (a bad data file, a missing or
corrupt model folder, training that diverged: one line naming the problem, no traceback);
2 a usage error (an unknown command or option, a missing argument, a value of the wrong type).
"""

from __future__ import annotations

from pathlib import Path

import click

from hourglass.cli.common import echo_metrics, fail_clearly, model_folder, progress_option
from hourglass.version import DISTRIBUTION, __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hourglass", message=f"%(prog)s %(version)s (installed as {DISTRIBUTION})")
def main():
    """hourglass: autoencoders for compression, denoising and anomaly detection.

    \b
    Examples:
      hourglass demo --out runs/demo
      hourglass run fashion-denoise --out runs/denoise
      hourglass fit data.csv --label-column y --out runs/x
      hourglass score runs/x new.csv --out scores.csv
      hourglass export runs/x model.onnx
      hourglass list recipes

    \b
    Exit codes: 0 done, 1 the input or the run failed (one line says why),
    2 a usage error (unknown option, missing argument, bad value).
    """


@main.command()
@click.option(
    "--out",
    "out",
    default="runs/demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for report.html, metrics.json, the plots and the saved detector.",
)
@click.option("--epochs", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--quiet", is_flag=True, help="No progress bars.")
@fail_clearly
def demo(out: str, epochs: int, seed: int, quiet: bool):
    """Train the ECG5000 anomaly detector on the bundled data and report how it does.

    Runs the built-in recipe ecg-anomaly, the classic tutorial's protocol: 80/20 split, min-max
    scaling, a stacked dense autoencoder (140-32-16-8) trained on normal beats only with MAE loss,
    threshold = mean + 1 std of the training errors. Writes report.html, metrics.json, PNG plots
    and the saved detector to --out.

    \b
    Example:
      hourglass demo --out runs/demo
    """
    import hourglass as hg

    result = hg.run_recipe(
        "ecg-anomaly",
        out,
        overrides={"training.epochs": epochs, "training.seed": seed},
        progress=progress_option(quiet),
    )
    metrics, y_test = result.metrics, result.data.y_test
    # The Keras tutorial reports precision and recall with *normal* as the positive class.
    tn, fn, fp = metrics["tn"], metrics["fn"], metrics["fp"]
    normal_positive = {"precision": tn / max(tn + fn, 1), "recall": tn / max(tn + fp, 1)}
    click.echo(
        f"ECG5000 anomaly detection ({len(result.data.x_train)} normal training beats, "
        f"{len(y_test)} test beats, {int(y_test.sum())} anomalous)"
    )
    echo_metrics(metrics)
    click.echo(f"  threshold {metrics['threshold']:.4f} (mean + 1 std of training errors)")
    click.echo(
        f"  with normal as the positive class, as the Keras tutorial reports: precision "
        f"{normal_positive['precision']:.4f}, recall {normal_positive['recall']:.4f}"
    )
    click.echo(
        f"done in {result.seconds:.1f} s; wrote {out}/report.html, metrics.json, the plots (PNG) and "
        f"the detector in {out}/model"
    )


@main.command()
@click.argument("recipe")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Run folder: report.html, metrics.json, recipe.json, the plots and the saved model.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Change one recipe value, e.g. --set training.epochs=2 (repeatable; values are TOML).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the data sets are (else HOURGLASS_DATA_DIR, the cache, or a download).",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
@fail_clearly
def run(recipe: str, out: str, overrides, data_dir, quiet: bool):
    """Run RECIPE end to end: a built-in recipe's name or a TOML file.

    The recipe names one choice per stage (data, transforms, model, training, detection,
    report); every key is checked before anything loads or trains. See `hourglass list recipes`.

    \b
    Examples:
      hourglass run ecg-anomaly --out runs/ecg
      hourglass run fashion-denoise --out runs/denoise --set training.epochs=2
      hourglass run my_recipe.toml --out runs/mine --data-dir ../shared/data
    """
    import hourglass as hg

    parsed = dict(hg.recipes.parse_override(item) for item in overrides)
    result = hg.run_recipe(recipe, out, overrides=parsed, data_dir=data_dir, progress=progress_option(quiet))
    click.echo(
        f"{result.recipe.name}: {result.data.description}; {result.model.name} trained for "
        f"{result.history.epochs} epochs in {result.seconds:.1f} s"
    )
    echo_metrics(result.metrics)
    for key in ("test_mse", "test_mae"):
        if key in result.metrics:
            click.echo(f"  {key:9s} {result.metrics[key]:.5f}")
    click.echo(
        f"wrote {out}/report.html, metrics.json and the saved {'detector' if result.detector else 'model'} "
        f"in {out}/model"
    )


@main.command()
@click.argument("run_dir", metavar="RUN", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--part",
    type=click.Choice(["auto", "full", "encoder", "decoder", "scorer"]),
    default="auto",
    show_default=True,
    help="auto: the scorer for a saved detector, else the full model.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@fail_clearly
def export(run_dir: Path, out: Path, part: str, quiet: bool):
    """Export the model or detector saved in RUN to the ONNX file OUT (dynamic batch axis).

    The scorer takes raw rows and gives the reconstruction, the anomaly score and the flag, with
    the saved scaler and threshold inside the graph; check it with onnxruntime.

    \b
    Examples:
      hourglass export runs/demo model.onnx
      hourglass export runs/demo encoder.onnx --part encoder
    """
    from tqdm.auto import tqdm

    import hourglass as hg

    loaded = hg.load(model_folder(run_dir))
    if part == "auto":
        part = "full" if isinstance(loaded, hg.Autoencoder) else "scorer"
    with tqdm(total=1, desc=f"export {part}", disable=quiet, unit="graph") as bar:
        path = hg.export_onnx(loaded, out, part=part)
        bar.update()
    click.echo(f"wrote {path} ({part}, {path.stat().st_size / 1e6:.2f} MB)")


@main.command(name="list")
@click.argument("what", type=click.Choice(["models", "datasets", "recipes"]))
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Also list ADBench files found here.")
def list_(what: str, data_dir: str | None):
    """List registered models, known data sets, or the built-in recipes (with what each does).

    \b
    Examples:
      hourglass list models
      hourglass list recipes
      hourglass list datasets --data-dir ../shared/data
    """
    import hourglass as hg

    if what == "recipes":
        described = hg.recipes.describe_recipes()
        width = max(map(len, described))
        for name, text in described.items():
            click.echo(f"{name:{width}s}  {text}")
        return
    names = hg.list_models() if what == "models" else hg.datasets.list_datasets(data_dir)
    for name in names:
        click.echo(name)


# the commands that train and score register themselves on the group
from hourglass.cli import fitting, scoring  # noqa: E402, F401
