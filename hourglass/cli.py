"""The ``hourglass`` command line: it parses arguments and calls the library, nothing more.

Exit codes: 0 done; 1 the library refused the input or failed (a bad data file, a missing or
corrupt model folder, training that diverged: one line naming the problem, no traceback);
2 a usage error (an unknown command or option, a missing argument, a value of the wrong type).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from hourglass.atomic import write_json_atomic
from hourglass.detection.scores import ESTIMATOR_ERRORS
from hourglass.errors import HourglassError
from hourglass.prepare import scaler_names
from hourglass.version import DISTRIBUTION, __version__


def _fail_clearly(fn):
    """Report the library's own errors as one line and exit 1, without a traceback (2 is left to
    click's usage errors)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except HourglassError as exc:
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from None

    return wrapper


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
@_fail_clearly
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
        "ecg-anomaly", out, overrides={"training.epochs": epochs, "training.seed": seed}, progress=_progress(quiet)
    )
    metrics, y_test = result.metrics, result.data.y_test
    # The Keras tutorial reports precision and recall with *normal* as the positive class.
    tn, fn, fp = metrics["tn"], metrics["fn"], metrics["fp"]
    normal_positive = {"precision": tn / max(tn + fn, 1), "recall": tn / max(tn + fp, 1)}
    click.echo(
        f"ECG5000 anomaly detection ({len(result.data.x_train)} normal training beats, "
        f"{len(y_test)} test beats, {int(y_test.sum())} anomalous)"
    )
    _echo_metrics(metrics)
    click.echo(f"  threshold {metrics['threshold']:.4f} (mean + 1 std of training errors)")
    click.echo(
        f"  with normal as the positive class, as the Keras tutorial reports: precision "
        f"{normal_positive['precision']:.4f}, recall {normal_positive['recall']:.4f}"
    )
    click.echo(
        f"done in {result.seconds:.1f} s; wrote {out}/report.html, metrics.json, the plots (PNG) and "
        f"the detector in {out}/model"
    )


def _echo_metrics(metrics: dict) -> None:
    for key in ("accuracy", "precision", "recall", "f1", "auroc", "auprc"):
        if key in metrics:
            click.echo(f"  {key:9s} {metrics[key]:.4f}")


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
@_fail_clearly
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
    result = hg.run_recipe(recipe, out, overrides=parsed, data_dir=data_dir, progress=_progress(quiet))
    click.echo(
        f"{result.recipe.name}: {result.data.description}; {result.model.name} trained for "
        f"{result.history.epochs} epochs in {result.seconds:.1f} s"
    )
    _echo_metrics(result.metrics)
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
@_fail_clearly
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

    loaded = hg.load(_model_folder(run_dir))
    if part == "auto":
        part = "full" if isinstance(loaded, hg.Autoencoder) else "scorer"
    with tqdm(total=1, desc=f"export {part}", disable=quiet, unit="graph") as bar:
        path = hg.export_onnx(loaded, out, part=part)
        bar.update()
    click.echo(f"wrote {path} ({part}, {path.stat().st_size / 1e6:.2f} MB)")


def _read_data(path: Path, *, label_column=None, columns=None, image_size=None, color="grayscale"):
    """Anything ``hg.datasets.read_table`` reads (CSV, Parquet, .npy, .npz, a TSB-UAD .out, an
    IDX file) or a folder of images -> (x, labels or None, feature names or None, image shape:
    a folder's, or that of a file's (n, channels, height, width) array)."""
    import hourglass as hg
    from hourglass.datasets.tabular import CSV_SUFFIXES, PARQUET_SUFFIXES

    if path.is_dir():
        folder = hg.datasets.read_image_folder(path, size=image_size, color=color)
        return folder.x.reshape(len(folder.x), -1), None, None, folder.x.shape[1:]
    if not path.exists():
        raise hg.DataFileError(f"{path}: no such file or folder")
    table = hg.datasets.read_table(path, label_column=label_column, columns=columns)
    names = table.feature_names if path.suffix.lower() in CSV_SUFFIXES + PARQUET_SUFFIXES else None
    shape = table.x.shape[1:] if table.x.ndim == 4 else None
    return table.x.reshape(len(table.x), -1), table.y, names, shape


def _progress(quiet: bool):
    """Bars where a person is watching (a terminal), none in logs and pipes; --quiet: none."""
    return False if quiet else "auto"


def _label_name(path: Path, label_column):
    """The label column asked for, or the one the file's format defines (a TSB-UAD .out's)."""
    from hourglass.datasets.tabular import default_label_column

    return label_column if label_column is not None else default_label_column(path)


def _anomaly_labels(y, normal_label, column):
    """Labels from a file -> 1 anomaly / 0 normal: 0 / 1 as they are, else via --normal-label."""
    from hourglass.prepare import is_anomaly

    return is_anomaly(y, normal_label, name=f"label column {column!r}", how="name the normal value with --normal-label")


def _model_folder(run: Path) -> Path:
    for candidate in (run, run / "model"):
        if (candidate / "hourglass.json").is_file():
            return candidate
    return run


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
@_fail_clearly
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

    label_column = _label_name(data, label_column)
    if steps:
        return _fit_series(data, out, label_column, normal_label, train_steps, epochs, fpr, seed, quiet)
    if train_steps is not None:
        raise hg.InvalidInputError("--train-steps goes with --steps (a recording)")
    started = time.perf_counter()
    x, y, names, image_shape = _read_data(data, label_column=label_column, image_size=image_size, color=color)
    is_anomaly = _anomaly_labels(y, normal_label, label_column)
    if train_on == "normal":
        if is_anomaly is None:
            raise hg.InvalidInputError("--train-on normal needs --label-column")
        x_train = x[is_anomaly == 0]
    else:
        x_train = x
    common = {k: v for k, v in {"epochs": epochs, "error": score, "n_models": n_models}.items() if v is not None}
    if epochs is not None:  # epochs asked for: that many at most, no step budget on top
        common["min_steps"] = None
    common.update(
        contamination=contamination,
        threshold=hg.FixedFPR(fpr) if fpr is not None else None,
        random_state=seed,
        progress=_progress(quiet),
    )
    if image_shape is not None:  # the library's policy for images (hg.AutoencoderDetector.for_images)
        scaler = None if scaler in (None, "none") else scaler
        est = hg.AutoencoderDetector.for_images(image_shape, model=model, scaler=scaler, **common)
    else:
        scaler = None if scaler == "none" else scaler or "standard"
        est = hg.AutoencoderDetector(model=model, scaler=scaler, **common)
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
    x, y, names, image_shape = _read_data(data, label_column=label_column)
    if image_shape is not None:
        raise hg.InvalidInputError("--steps takes a recording (a table whose rows are time steps), not images")
    train_steps = len(x) if train_steps is None else train_steps
    if train_steps > len(x):
        raise hg.InvalidInputError(f"--train-steps {train_steps}: the recording has {len(x)} steps")
    kwargs = {"epochs": epochs} if epochs is not None else {}
    sd = hg.SeriesDetector(
        threshold=hg.FixedFPR(fpr) if fpr is not None else None, random_state=seed, progress=_progress(quiet), **kwargs
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
    is_anomaly = _anomaly_labels(y, normal_label, label_column)
    if is_anomaly is not None:
        report["metrics"] = sd.evaluate(x, is_anomaly)
        _echo_series_metrics(report["metrics"])
    write_json_atomic(out / "metrics.json", report)
    click.echo(f"wrote {out}/model and {out}/metrics.json")


def _echo_series_metrics(metrics: dict) -> None:
    for key in ("auroc", "auprc", "vus_roc", "vus_pr", "event_precision", "event_recall", "precision", "recall"):
        click.echo(f"  {key:15s} {metrics[key]:.4f}")


@main.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("data", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV to write: row, score, is_anomaly, p_value (and label).",
)
@click.option(
    "--label-column",
    default=None,
    help="Column holding labels, by name or 0-based index: copied out and used for metrics (a .out file's last).",
)
@click.option("--normal-label", default=None, help="The label value of normal rows, when labels are not 0/1.")
@click.option(
    "--image-size",
    nargs=2,
    type=click.IntRange(min=1),
    default=None,
    help="Images: resize to HEIGHT WIDTH (default: the model's input size).",
)
@click.option("--color", type=click.Choice(["grayscale", "rgb"]), default=None)
@click.option(
    "--chunk-rows",
    default=65536,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows read and scored at a time from a CSV, Parquet or .npy file (bounds the memory used).",
)
@click.option(
    "--steps",
    is_flag=True,
    help="DATA is a recording: one score per time step (the run must hold a SeriesDetector; implied when it does).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_fail_clearly
def score(run: Path, data: Path, out: Path, label_column, normal_label, image_size, color, chunk_rows, steps, quiet):
    """Score DATA with the detector saved in RUN (by `hourglass fit` or `hourglass demo`).

    Writes one line per row: its anomaly score (reconstruction error, higher = more anomalous),
    is_anomaly (1 above the saved threshold), and a conformal p-value against the rows the
    threshold was calibrated on (small = anomalous). A CSV or Parquet table is matched to the
    training columns by name, so extra columns are ignored; it is read and scored in chunks, so
    a file larger than memory can be scored (the output is written as it goes, and appears
    complete or not at all).

    \b
    Examples:
      hourglass score runs/x new.csv --out scores.csv
      hourglass score runs/x big.parquet --out scores.csv
      hourglass score runs/img new_images/ --out scores.csv
      hourglass score runs/rec recording.csv --steps --label-column Label --out steps.csv
    """
    import numpy as np
    from tqdm.auto import tqdm

    import hourglass as hg
    from hourglass.atomic import atomic_open

    label_column = _label_name(data, label_column)
    loaded = hg.load(_model_folder(run))
    if isinstance(loaded, hg.SeriesDetector):
        return _score_steps(loaded, data, out, label_column, normal_label, chunk_rows, quiet)
    if steps:
        raise hg.InvalidInputError(
            f"--steps needs a run holding a SeriesDetector (`hourglass fit --steps`); {run} does not"
        )
    det = loaded.detector_ if isinstance(loaded, hg.AutoencoderDetector) else loaded
    if not isinstance(det, hg.BaseDetector):
        raise hg.ModelFileError(f"{run} holds a bare model, not a detector; train one with `hourglass fit`")
    chunks = _score_chunks(det, data, label_column, image_size, color, chunk_rows)
    calibrated = len(det.calibration_scores_) > 0
    scores, labels, row = [], [], 0
    with atomic_open(out, "wb") as f, tqdm(desc="score", unit="row", disable=quiet) as bar:
        for x, y, files in chunks:
            s = det.score_samples(x)
            columns = {
                "row": np.arange(row, row + len(s)),
                "score": s,
                "is_anomaly": (s > det.threshold_).astype(np.int64),
                "p_value": det.p_values_of_scores(s) if calibrated else np.full(len(s), np.nan),
            }
            if files is not None:
                columns["file"] = files
            if y is not None:
                columns[label_column] = y
            _write_csv_chunk(f, columns, header=row == 0)
            scores.append(s)
            if y is not None:
                labels.append(y)
            row += len(s)
            bar.update(len(s))
    scores = np.concatenate(scores)
    flagged = int((scores > det.threshold_).sum())
    click.echo(f"scored {row} rows: {flagged} above the threshold {det.threshold_:.6g}; wrote {out}")
    is_anomaly = _anomaly_labels(np.concatenate(labels), normal_label, label_column) if labels else None
    if is_anomaly is not None:
        from hourglass.detection.metrics import detection_metrics

        _echo_metrics(detection_metrics(is_anomaly, scores, det.threshold_))


def _score_steps(sd, data: Path, out: Path, label_column, normal_label, chunk_rows, quiet) -> None:
    """`hourglass score --steps`: the recording read in chunks and scored by the detector's stream
    (bounded memory), one line per time step written as the scores become final."""
    import numpy as np
    from tqdm.auto import tqdm

    import hourglass as hg
    from hourglass.atomic import atomic_open

    stream, written, scores, labels, pending = sd.stream(), 0, [], [], []
    columns_of = sd.channel_names if data.suffix.lower() in (".csv", ".tsv", ".txt", ".parquet", ".pq") else None
    chunks = hg.datasets.iter_table(data, chunk_rows=chunk_rows, label_column=label_column, columns=columns_of)
    with atomic_open(out, "wb") as f, tqdm(desc="score", unit="step", disable=quiet) as bar:

        def write(s):
            nonlocal written
            if not len(s):
                return
            cols = {"step": np.arange(written, written + len(s)), "score": s, "is_anomaly": (s > sd.threshold_) * 1}
            if label_column is not None:  # the labels of the steps scored so far go out with them
                waiting = np.concatenate(pending)
                cols[label_column], pending[:] = waiting[: len(s)], [waiting[len(s) :]]
            _write_csv_chunk(f, cols, header=written == 0)
            written += len(s)
            scores.append(s)
            bar.update(len(s))

        for table in chunks:
            if table.y is not None:
                pending.append(table.y)
                labels.append(table.y)
            write(stream.update(table.x.reshape(len(table.x), -1)))
        write(stream.flush())
    scores = np.concatenate(scores)
    events = sd.events_of_scores(scores)
    click.echo(
        f"scored {written} steps: {int((scores > sd.threshold_).sum())} above the threshold "
        f"{sd.threshold_:.6g}, in {len(events)} events; wrote {out}"
    )
    if labels:
        _echo_series_metrics(
            hg.detection.range_metrics.recording_metrics(
                _anomaly_labels(np.concatenate(labels), normal_label, label_column), scores, sd.threshold_, sd.window_
            )
        )


def _arrow_csv():
    """pyarrow's CSV module when it is installed, else None."""
    try:
        import pyarrow.csv as pcsv
    except ImportError:
        return None
    return pcsv


def _write_csv_chunk(f, columns: dict, header: bool) -> None:
    """Rows of ``columns`` appended to the binary file ``f`` as CSV: with pyarrow's writer when it
    is installed (C++, several times faster for millions of rows), else Python's."""
    import csv
    import io

    if header:  # written here for both writers (pyarrow quotes every header name)
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow(columns)
        f.write(text.getvalue().encode("utf-8"))
    pcsv = _arrow_csv()
    if pcsv is None:
        text = io.StringIO()
        values = [c.tolist() if hasattr(c, "tolist") else list(c) for c in columns.values()]
        csv.writer(text, lineterminator="\n").writerows(zip(*values))
        f.write(text.getvalue().encode("utf-8"))
        return
    import pyarrow as pa

    table = pa.table({k: pa.array(v) for k, v in columns.items()})
    pcsv.write_csv(table, f, write_options=pcsv.WriteOptions(include_header=False, quoting_style="needed"))


def _score_chunks(det, data: Path, label_column, image_size, color, chunk_rows):
    """(x, labels or None, file names or None) chunks of DATA for `hourglass score`: a table file
    streamed in chunks (CSV, Parquet, .npy), an image folder read whole."""
    import hourglass as hg
    from hourglass.datasets.tabular import CSV_SUFFIXES, PARQUET_SUFFIXES

    shape = tuple(det.model.input_shape)
    if data.is_dir():
        if len(shape) != 3:
            raise hg.InvalidInputError(f"the detector was trained on rows of {shape[0]} features, not on images")
        color = color or ("grayscale" if shape[0] == 1 else "rgb")
        folder = hg.datasets.read_image_folder(data, size=image_size or shape[1:], color=color)
        yield folder.x, None, folder.files
        return
    named = data.suffix.lower() in CSV_SUFFIXES + PARQUET_SUFFIXES
    columns = det.feature_names if named else None
    first = True
    for table in hg.datasets.iter_table(data, chunk_rows=chunk_rows, label_column=label_column, columns=columns):
        first = False
        yield table.x, table.y, None
    if first:
        raise hg.DataFileError(f"{data}: no rows")


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


if __name__ == "__main__":
    sys.exit(main())
