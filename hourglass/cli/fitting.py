"""``hourglass fit``: a detector trained on a table, images or a recording."""

from __future__ import annotations

import time
from pathlib import Path

import click

from hourglass.atomic import write_json_atomic
from hourglass.cli import main
from hourglass.cli.common import (
    anomaly_labels,
    echo_series_metrics,
    fail_clearly,
    label_name,
    progress_option,
    read_data,
)
from hourglass.detection.scores import ESTIMATOR_ERRORS
from hourglass.prepare import scaler_names


@main.command()
@click.argument("data", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder: the saved detector (model/) and metrics.json.",
)
@click.option(
    "--label-column",
    default=None,
    help="Column holding labels, by name or 0-based index (left out of the features; used to report "
    "metrics). A TSB-UAD .out file's last column is its label without it.",
)
@click.option("--normal-label", default=None, help="The label value of normal rows, when labels are not 0/1.")
@click.option(
    "--train-on",
    type=click.Choice(["all", "normal"]),
    default="all",
    show_default=True,
    help="'normal' trains on the rows labelled normal only (needs --label-column).",
)
@click.option(
    "--model",
    default="auto",
    show_default=True,
    help="A registered model ('auto' sizes a stacked model from the features; images: conv).",
)
@click.option(
    "--epochs",
    default=None,
    type=click.IntRange(min=1),
    help="At most this many epochs; training stops early on a validation split (default: "
    "hg.AutoencoderDetector's for tables, 20 epochs or 200 steps whichever is more; 100 epochs "
    "for images).",
)
@click.option(
    "--contamination",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0, 0.5, min_open=True),
    help="Fraction of the training rows flagged as anomalies.",
)
@click.option(
    "--fpr",
    default=None,
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Instead: a split-conformal threshold with this false-positive rate on new normal rows.",
)
@click.option(
    "--score",
    type=click.Choice(ESTIMATOR_ERRORS),
    default=None,
    help="Per-row error (default: mse for tables, as hg.AutoencoderDetector, mae for images; elbo, nll: a VAE's).",
)
@click.option(
    "--scaler",
    type=click.Choice(scaler_names()),
    default=None,
    help="Scaling fitted on the training rows (default: standard for tables, none for images).",
)
@click.option(
    "--image-size",
    nargs=2,
    type=click.IntRange(min=1),
    default=None,
    help="Images: resize to HEIGHT WIDTH (default: the first image's size).",
)
@click.option("--color", type=click.Choice(["grayscale", "rgb"]), default="grayscale", show_default=True)
@click.option(
    "--models",
    "n_models",
    default=None,
    type=click.IntRange(min=1),
    help="Autoencoders in the ensemble (default: 6 for tables, 1 for images).",
)
@click.option(
    "--steps",
    is_flag=True,
    help="DATA is a recording (rows are time steps): train a SeriesDetector over windows of its period.",
)
@click.option(
    "--train-steps",
    default=None,
    type=click.IntRange(min=2),
    help="With --steps: train on the first N steps (default: all of them).",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@fail_clearly
def fit(
    data: Path,
    out: Path,
    label_column,
    normal_label,
    train_on,
    model,
    epochs,
    contamination,
    fpr,
    score,
    scaler,
    image_size,
    color,
    n_models,
    steps,
    train_steps,
    seed,
    quiet,
):
    """Train an anomaly detector on DATA: a CSV, Parquet, .npy or .npz table, a TSB-UAD .out
    recording, an IDX file (MNIST's) or a folder of images.

    Rows are scaled, autoencoders sized from the data (for tables, hg.AutoencoderDetector's
    default: six trained together with a trimmed loss) learn to reconstruct them, and rows they reconstruct badly are
    anomalies. Writes the detector to OUT/model and metrics.json (with labels: AUROC, AUPRC,
    precision, recall on the data itself).

    \b
    Examples:
      hourglass fit data.csv --label-column y --out runs/x
      hourglass fit data.csv --label-column class --normal-label ok --train-on normal --fpr 0.01 --out runs/y
      hourglass fit images/ --image-size 28 28 --out runs/img
      hourglass fit recording.csv --steps --train-steps 5000 --label-column Label --out runs/rec
    """
    import hourglass as hg

    label_column = label_name(data, label_column)
    if steps:
        return _fit_series(data, out, label_column, normal_label, train_steps, epochs, fpr, seed, quiet)
    if train_steps is not None:
        raise hg.InvalidInputError("--train-steps goes with --steps (a recording)")
    started = time.perf_counter()
    x, y, names, image_shape = read_data(data, label_column=label_column, image_size=image_size, color=color)
    is_anomaly = anomaly_labels(y, normal_label, label_column)
    if train_on == "normal":
        if is_anomaly is None:
            raise hg.InvalidInputError("--train-on normal needs --label-column")
        x_train = x[is_anomaly == 0]
    else:
        x_train = x
    common = {k: v for k, v in {"epochs": epochs, "error": score, "n_models": n_models}.items() if v is not None}
    common.update(
        contamination=contamination,
        threshold=hg.FixedFPR(fpr) if fpr is not None else None,
        random_state=seed,
        progress=progress_option(quiet),
    )
    if image_shape is not None:  # the library's policy for images (hg.AutoencoderDetector.for_images)
        scaler = None if scaler in (None, "none") else scaler
        est = hg.AutoencoderDetector.for_images(image_shape, model=model, scaler=scaler, **common)
    else:
        given = {} if scaler is None else {"scaler": None if scaler == "none" else scaler}  # else the estimator's
        est = hg.AutoencoderDetector(model=model, **given, **common)
    est.fit(x_train)
    if names is not None:
        est.detector_.feature_names = names
    _write_fit(est, data, out, x, x_train, is_anomaly, time.perf_counter() - started)


def _write_fit(est, data: Path, out: Path, x, x_train, is_anomaly, seconds: float) -> None:
    """`hourglass fit`'s run folder (the detector, metrics.json) and its summary lines."""
    import hourglass as hg

    out.mkdir(parents=True, exist_ok=True)
    hg.save(est, out / "model")
    report = {
        "data": str(data),
        "rows": int(len(x)),
        "train_rows": int(len(x_train)),
        "features": int(x.shape[1]),
        "model": est.model_.name,
        "config": est.model_.config.to_dict(),
        "epochs_run": est.history_.epochs,
        "threshold": est.threshold_,
        "threshold_rule": repr(est.detector_.threshold),
        "seconds": seconds,
    }
    flagged = est.predict(x) == -1
    report["flagged"] = int(flagged.sum())
    click.echo(
        f"trained {est.model_.name} on {len(x_train)} rows x {x.shape[1]} features in {seconds:.1f} s "
        f"({est.history_.epochs} epochs); {int(flagged.sum())} of {len(x)} rows flagged"
    )
    if is_anomaly is not None:
        metrics = est.detector_.evaluate(x, is_anomaly)
        report["metrics"] = metrics
        for key in ("auroc", "auprc", "precision", "recall", "f1", "accuracy"):
            click.echo(f"  {key:9s} {metrics[key]:.4f}")
    write_json_atomic(out / "metrics.json", report)
    click.echo(f"wrote {out}/model and {out}/metrics.json")


def _fit_series(data: Path, out: Path, label_column, normal_label, train_steps, epochs, fpr, seed, quiet) -> None:
    """`hourglass fit --steps`: a SeriesDetector on the first TRAIN_STEPS rows of a recording."""
    import hourglass as hg

    started = time.perf_counter()
    x, y, names, image_shape = read_data(data, label_column=label_column)
    if image_shape is not None:
        raise hg.InvalidInputError("--steps takes a recording (a table whose rows are time steps), not images")
    train_steps = len(x) if train_steps is None else train_steps
    if train_steps > len(x):
        raise hg.InvalidInputError(f"--train-steps {train_steps}: the recording has {len(x)} steps")
    kwargs = {"epochs": epochs} if epochs is not None else {}
    sd = hg.SeriesDetector(
        threshold=hg.FixedFPR(fpr) if fpr is not None else None,
        random_state=seed,
        progress=progress_option(quiet),
        **kwargs,
    )
    sd.channel_names = names
    sd.fit(x[:train_steps])
    seconds = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    hg.save(sd, out / "model")
    report = {
        "data": str(data),
        "steps": int(len(x)),
        "train_steps": int(train_steps),
        "channels": int(x.shape[1]),
        "window": sd.window_,
        "threshold": sd.threshold_,
        "threshold_rule": repr(sd.threshold),
        "seconds": seconds,
    }
    click.echo(
        f"trained a series detector on {train_steps} steps x {x.shape[1]} channel(s) in {seconds:.1f} s "
        f"(window {sd.window_} steps)"
    )
    is_anomaly = anomaly_labels(y, normal_label, label_column)
    if is_anomaly is not None:
        report["metrics"] = sd.evaluate(x, is_anomaly)
        echo_series_metrics(report["metrics"])
    write_json_atomic(out / "metrics.json", report)
    click.echo(f"wrote {out}/model and {out}/metrics.json")
