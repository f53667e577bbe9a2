"""Parquet tables of numbers, read with pyarrow, whole or in row batches (for files larger than
memory). Column names come from the file's schema; feature columns must hold numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hourglass.datasets.csvfile import column_index
from hourglass.errors import DataFileError, InvalidInputError, MissingDependencyError


def _parquet_file(path: Path):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError('reading Parquet needs pyarrow: pip install "hourglass-ae[tables]"') from None
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    try:
        return pq.ParquetFile(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise DataFileError(f"{path}: not a readable Parquet file ({exc})") from None


def _select(path: Path, schema, label_column, columns) -> tuple[list[str], str | None]:
    """(feature column names, label column name) checked against the file's schema."""
    import pyarrow.types as pat

    names = list(schema.names)
    label = None
    if label_column is not None:
        index = column_index(label_column, names, path)
        if index is None:
            raise InvalidInputError(f"{path}: no column named {label_column!r}; columns: {names}")
        label = names[index]
    if columns is not None:
        missing = [c for c in columns if c not in names]
        if missing:
            raise InvalidInputError(f"{path}: missing column(s) {missing}; the file has {names}")
        features = [str(c) for c in columns]
    else:
        features = [n for n in names if n != label]
    if not features:
        raise DataFileError(f"{path}: no feature columns")
    types = {f.name: f.type for f in schema}
    text = [
        n for n in features if not (pat.is_integer(types[n]) or pat.is_floating(types[n]) or pat.is_boolean(types[n]))
    ]
    if text:
        raise DataFileError(
            f"{path}: feature column(s) {text} hold {', '.join(str(types[n]) for n in text)}, not numbers; "
            "choose the numeric columns with columns=[...]"
        )
    return features, label


def _table(path: Path, batch, features, label, start: int):
    from hourglass.datasets.tabular import Table

    cols = []
    for name in features:
        col = batch.column(name)
        if col.null_count:
            row = start + int(np.flatnonzero(np.asarray(col.is_null()))[0])
            raise DataFileError(f"{path}: row {row}, column {name!r}: a missing value")
        cols.append(col.to_numpy(zero_copy_only=False).astype(np.float32, copy=False))
    y = None
    if label is not None:
        values = batch.column(label).to_pylist()
        y = np.asarray(values)
        if y.dtype.kind not in "biuf":
            y = np.asarray(["" if v is None else str(v) for v in values])
    return Table(x=np.column_stack(cols), y=y, feature_names=features, label_name=label, source=str(path))


def read_parquet(path, *, label_column=None, columns=None):
    """Read a Parquet file into a :class:`~hourglass.datasets.Table`: ``columns`` (by name) or
    every column but ``label_column`` as features. A missing value is an error naming its row
    (0-based) and column; so is a non-numeric feature column."""
    tables = list(iter_parquet(path, chunk_rows=None, label_column=label_column, columns=columns))
    if not tables:
        raise DataFileError(f"{path}: no rows")
    if len(tables) == 1:
        return tables[0]
    first = tables[0]
    y = None if first.y is None else np.concatenate([t.y for t in tables])
    return type(first)(np.concatenate([t.x for t in tables]), y, first.feature_names, first.label_name, first.source)


def iter_parquet(path, *, chunk_rows: int | None = 65536, label_column=None, columns=None):
    """The rows of a Parquet file in batches of at most ``chunk_rows`` (None: one row group at a
    time), each a :class:`~hourglass.datasets.Table`."""
    path = Path(path)
    pf = _parquet_file(path)
    features, label = _select(path, pf.schema_arrow, label_column, columns)
    wanted = features + ([label] if label is not None and label not in features else [])
    start = 0
    try:
        batches = (
            (pf.read_row_group(i, columns=wanted) for i in range(pf.num_row_groups))
            if chunk_rows is None
            else pf.iter_batches(batch_size=chunk_rows, columns=wanted)
        )
        for batch in batches:
            if batch.num_rows:
                yield _table(path, batch, features, label, start)
                start += batch.num_rows
    except (OSError, ValueError) as exc:
        raise DataFileError(f"{path}: corrupt or truncated Parquet file ({exc})") from None
