"""``hourglass score``: a saved detector's scores of a file, written chunk by chunk."""

from __future__ import annotations

from pathlib import Path

import click

from hourglass.cli import main
from hourglass.cli.common import (
    anomaly_labels,
    echo_metrics,
    echo_series_metrics,
    fail_clearly,
    label_name,
    model_folder,
)


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
@fail_clearly
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

    label_column = label_name(data, label_column)
    loaded = hg.load(model_folder(run))
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
    is_anomaly = anomaly_labels(np.concatenate(labels), normal_label, label_column) if labels else None
    if is_anomaly is not None:
        from hourglass.detection.metrics import detection_metrics

        echo_metrics(detection_metrics(is_anomaly, scores, det.threshold_))


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
        echo_series_metrics(
            hg.detection.range_metrics.recording_metrics(
                anomaly_labels(np.concatenate(labels), normal_label, label_column), scores, sd.threshold_, sd.window_
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
