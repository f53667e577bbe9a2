"""The ``hourglass`` command line: it parses arguments and calls the library, nothing more."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from hourglass.errors import HourglassError


def _fail_clearly(fn):
    """Report the library's own errors as one line and exit 2, without a traceback."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except HourglassError as exc:
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from None

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hourglass")
def main():
    """hourglass: autoencoders for compression, denoising and anomaly detection.

    \b
    Examples:
      hourglass demo --out runs/demo
      hourglass list models
    """


@main.command()
@click.option("--out", "out", default="runs/demo", show_default=True, type=click.Path(file_okay=False),
              help="Folder for metrics.json, the plots and the saved detector.")
@click.option("--epochs", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_fail_clearly
def demo(out: str, epochs: int, seed: int, quiet: bool):
    """Train the ECG5000 anomaly detector on the bundled data and report how it does.

    The classic tutorial's protocol: 80/20 split, min-max scaling, a stacked dense autoencoder
    (140-32-16-8) trained on normal beats only with MAE loss, threshold = mean + 1 std of the
    training errors. Writes metrics.json, PNG plots and the saved detector to --out.

    \b
    Example:
      hourglass demo --out runs/demo
    """
    import numpy as np

    import hourglass as hg
    from hourglass.reports import figures

    started = time.perf_counter()
    out_dir = Path(out)
    ds = hg.datasets.load("ecg5000", split="tutorial")
    normal_train = ds.x_train[ds.y_train == 1]
    y_test = ds.is_anomaly(ds.y_test)
    model = hg.create_model("stacked", input_shape=(140,), hidden=(32, 16), latent_dim=8, seed=seed)
    history = hg.fit(model, normal_train, epochs=epochs, batch_size=512, loss="mae", validation=ds.x_test,
                     seed=seed, progress=not quiet)
    detector = hg.Detector(model, score="mae", threshold=hg.MeanStd(k=1.0)).fit(normal_train)
    metrics = detector.evaluate(ds.x_test, y_test)
    seconds = time.perf_counter() - started

    out_dir.mkdir(parents=True, exist_ok=True)
    hg.save(detector, out_dir / "model", history=history)
    scores = detector.score_samples(ds.x_test)
    figures.save_figure(figures.loss_curves(history, "ECG5000: training on normal beats"), out_dir / "loss.png")
    figures.save_figure(figures.error_histogram(scores[y_test == 0], scores[y_test == 1], detector.threshold_,
                                                "ECG5000 test set: reconstruction error (MAE)"),
                        out_dir / "error_histogram.png")
    recon = hg.reconstruct(model, ds.x_test)
    normal_i, anomaly_i = int(np.flatnonzero(y_test == 0)[0]), int(np.flatnonzero(y_test == 1)[0])
    figures.save_figure(figures.series_examples([
        (ds.x_test[normal_i], recon[normal_i], f"normal beat (error {scores[normal_i]:.3f})"),
        (ds.x_test[anomaly_i], recon[anomaly_i], f"anomalous beat (error {scores[anomaly_i]:.3f})"),
    ]), out_dir / "reconstructions.png")
    # The Keras tutorial reports precision and recall with *normal* as the positive class.
    tn, fn, fp = metrics["tn"], metrics["fn"], metrics["fp"]
    normal_positive = {"precision": tn / max(tn + fn, 1), "recall": tn / max(tn + fp, 1)}
    report = {"dataset": "ecg5000 (tutorial split)", "positive_class": "anomaly", "metrics": metrics,
              "normal_as_positive": normal_positive,
              "epochs": history.epochs, "final_train_loss": history.train_loss[-1],
              "final_val_loss": history.val_loss[-1], "seconds": seconds, "seed": seed}
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2))

    click.echo(f"ECG5000 anomaly detection ({len(normal_train)} normal training beats, "
               f"{len(y_test)} test beats, {int(y_test.sum())} anomalous)")
    for key in ("accuracy", "precision", "recall", "f1", "auroc", "auprc"):
        click.echo(f"  {key:9s} {metrics[key]:.4f}")
    click.echo(f"  threshold {metrics['threshold']:.4f} (mean + 1 std of training errors)")
    click.echo(f"  with normal as the positive class, as the Keras tutorial reports: precision "
               f"{normal_positive['precision']:.4f}, recall {normal_positive['recall']:.4f}")
    click.echo(f"done in {seconds:.1f} s; wrote {out_dir}/metrics.json, loss.png, error_histogram.png, "
               f"reconstructions.png and the detector in {out_dir}/model")


@main.command(name="list")
@click.argument("what", type=click.Choice(["models", "datasets"]))
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Also list ADBench files found here.")
def list_(what: str, data_dir: str | None):
    """List registered models or known data sets.

    \b
    Examples:
      hourglass list models
      hourglass list datasets --data-dir ../shared/data
    """
    import hourglass as hg

    names = hg.list_models() if what == "models" else hg.datasets.list_datasets(data_dir)
    for name in names:
        click.echo(name)


if __name__ == "__main__":
    sys.exit(main())
