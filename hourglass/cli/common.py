"""What the commands share: their clear failures, progress and the data files they read."""

from __future__ import annotations

from pathlib import Path

import click

from hourglass.errors import HourglassError


def fail_clearly(fn):
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


def read_data(path: Path, *, label_column=None, columns=None, image_size=None, color="grayscale"):
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


def progress_option(quiet: bool):
    """Bars where a person is watching (a terminal), none in logs and pipes; --quiet: none."""
    return False if quiet else "auto"


def label_name(path: Path, label_column):
    """The label column asked for, or the one the file's format defines (a TSB-UAD .out's)."""
    from hourglass.datasets.tabular import default_label_column

    return label_column if label_column is not None else default_label_column(path)


def anomaly_labels(y, normal_label, column):
    """Labels from a file -> 1 anomaly / 0 normal: 0 / 1 as they are, else via --normal-label."""
    from hourglass.prepare import is_anomaly

    return is_anomaly(y, normal_label, name=f"label column {column!r}", how="name the normal value with --normal-label")


def model_folder(run: Path) -> Path:
    for candidate in (run, run / "model"):
        if (candidate / "hourglass.json").is_file():
            return candidate
    return run


def echo_metrics(metrics: dict) -> None:
    for key in ("accuracy", "precision", "recall", "f1", "auroc", "auprc"):
        if key in metrics:
            click.echo(f"  {key:9s} {metrics[key]:.4f}")


def echo_series_metrics(metrics: dict) -> None:
    for key in ("auroc", "auprc", "vus_roc", "vus_pr", "event_precision", "event_recall", "precision", "recall"):
        click.echo(f"  {key:15s} {metrics[key]:.4f}")
