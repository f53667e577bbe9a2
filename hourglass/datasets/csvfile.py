"""CSV (and TSV) tables of numbers, read fast and streamed when large.

The layout (delimiter, header, which column is the label, which are features) comes from the
file's first rows; the body is parsed by the fastest engine installed: pyarrow's CSV reader,
else pandas', else NumPy's ``loadtxt`` (``engine="python"``: Python's ``csv`` module).
Whatever the engine, a bad file is reported the same way: when a fast engine meets a cell it
cannot read (or an empty one), the file is scanned again with Python's reader up to that cell,
so the error names its line and column.
:func:`iter_csv` yields the rows in chunks, so a file larger than memory can be scored.
"""

from __future__ import annotations

import csv
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hourglass.errors import DataFileError, InvalidInputError

ENGINES = ("pyarrow", "pandas", "numpy", "python")
HEAD_BYTES = 65536  # what the delimiter and the header are read from


@dataclass
class Layout:
    """What the first rows say: ``names`` of every column, ``feature_idx`` / ``label_idx``
    (positions), ``skip`` physical lines before the data (the header and blank lines above it)."""

    path: Path
    delimiter: str
    has_header: bool
    names: list[str]
    feature_idx: list[int]
    label_idx: int | None
    skip: int
    row_bytes: float = 64.0  # the head's bytes per line: sizes pyarrow's blocks for a chunk of rows

    @property
    def n_cols(self) -> int:
        return len(self.names)

    @property
    def feature_names(self) -> list[str]:
        return [self.names[i] for i in self.feature_idx]

    @property
    def label_name(self) -> str | None:
        return None if self.label_idx is None else self.names[self.label_idx]


def engine_name(engine: str = "auto") -> str:
    """The engine ``engine="auto"`` picks: pyarrow, else pandas when installed, else numpy (the
    environment variable ``HOURGLASS_CSV_ENGINE`` overrides it)."""
    engine = os.environ.get("HOURGLASS_CSV_ENGINE", engine) if engine == "auto" else engine
    if engine not in ("auto", *ENGINES):
        raise InvalidInputError(f"engine must be 'auto' or one of {ENGINES}, got {engine!r}")
    if engine != "auto":
        return engine
    import importlib.util

    return next((e for e in ENGINES[:2] if importlib.util.find_spec(e) is not None), "numpy")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _head(path: Path) -> str:
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    try:
        with open(path, "rb") as f:
            raw = f.read(HEAD_BYTES)
    except OSError as exc:
        raise DataFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:  # a multi-byte character may be cut at the end of the head
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(raw) - 3:
            raise DataFileError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
        return raw[: exc.start].decode("utf-8-sig")


def layout(path, *, label_column=None, header="infer", delimiter=None, columns=None) -> Layout:
    """Read the layout of the CSV at ``path`` from its first rows (see :func:`read_csv`)."""
    path = Path(path)
    head = _head(path)
    if not head.strip():
        raise DataFileError(f"{path}: the file is empty")
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    lines = head.splitlines()
    if len(head) == HEAD_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line of the head may be cut
    rows = ((i + 1, r) for i, r in enumerate(csv.reader(lines, delimiter=delimiter)) if any(c.strip() for c in r))
    first_line, first = next(rows, (0, []))
    first = [c.strip() for c in first]
    if not any(first):
        raise DataFileError(f"{path}: no rows")
    if header == "infer":
        has_header = not all(_is_number(c) for c in first)
    elif isinstance(header, bool):
        has_header = header
    else:
        raise InvalidInputError(f"header must be 'infer', True or False, got {header!r}")
    n_cols = len(first)
    names = first if has_header else [f"x{i}" for i in range(n_cols)]
    label_idx = _label_index(path, label_column, names, has_header)
    names, feature_idx = _features(path, columns, names, has_header, label_idx)
    if not feature_idx:
        raise DataFileError(f"{path}: no feature columns")
    skip = first_line if has_header else first_line - 1
    row_bytes = len(head.encode("utf-8")) / max(len(lines), 1)
    return Layout(path, delimiter, has_header, names, feature_idx, label_idx, skip, row_bytes)


def column_index(label_column, names, path) -> int | None:
    """Which of ``names`` ``label_column`` is: a name, else a 0-based index (an int, or a string of
    digits that names no column, as a command line passes it), negative from the end."""
    if label_column is None:
        return None
    n_cols = len(names)
    if str(label_column) in names and not isinstance(label_column, int | np.integer):
        return names.index(str(label_column))
    index = label_column
    if isinstance(label_column, str) and label_column.strip().lstrip("-").isdigit():
        index = int(label_column)
    if isinstance(index, int | np.integer) and not isinstance(index, bool):
        if not -n_cols <= index < n_cols:
            raise InvalidInputError(f"{path}: label column {label_column} is out of range ({n_cols} columns)")
        return int(index) % n_cols
    return None


def _label_index(path, label_column, names, has_header) -> int | None:
    index = column_index(label_column, names, path)
    if index is not None or label_column is None:
        return index
    if not has_header:
        raise InvalidInputError(
            f"{path}: no header row, so the label column {label_column!r} cannot be found by name; "
            "pass its 0-based index"
        )
    raise InvalidInputError(f"{path}: no column named {label_column!r}; columns: {names}")


def _features(path, columns, names, has_header, label_idx) -> tuple[list[str], list[int]]:
    n_cols = len(names)
    if columns is not None and not has_header:
        # no names to match: the file's own feature columns are taken in order, if their count fits
        n_features = n_cols - (label_idx is not None)
        if n_features != len(columns):
            raise InvalidInputError(
                f"{path}: no header row, so columns cannot be chosen by name, and its "
                f"{n_features} feature columns are not the {len(columns)} expected"
            )
        names = [str(c) for c in columns]
        if label_idx is not None:
            names.insert(label_idx, f"x{label_idx}")
        return names, [i for i in range(n_cols) if i != label_idx]
    if columns is not None:
        missing = [c for c in columns if c not in names]
        if missing:
            raise InvalidInputError(f"{path}: missing column(s) {missing}; the file has {names}")
        return names, [names.index(c) for c in columns]
    return names, [i for i in range(n_cols) if i != label_idx]


# -- the Python engine: slow, exact about every error ------------------------------------------------
def _python_rows(lay: Layout) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of every non-blank data row."""
    try:
        with open(lay.path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, delimiter=lay.delimiter)
            for row in reader:
                if reader.line_num <= lay.skip or not row or not any(c.strip() for c in row):
                    continue
                yield reader.line_num, row
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{lay.path}: not a UTF-8 text file ({exc.reason})") from None
    except csv.Error as exc:
        raise DataFileError(f"{lay.path}: not a valid CSV file ({exc})") from None


def _parse_rows(lay: Layout, rows) -> tuple[np.ndarray, list[str]]:
    x = np.empty((len(rows), len(lay.feature_idx)), dtype=np.float64)
    labels = []
    for r, (line, cells) in enumerate(rows):
        if len(cells) != lay.n_cols:
            raise DataFileError(
                f"{lay.path}: line {line} has {len(cells)} cells but the "
                f"{'header' if lay.has_header else 'first row'} has {lay.n_cols}"
            )
        for j, i in enumerate(lay.feature_idx):
            cell = cells[i].strip()
            try:
                x[r, j] = float(cell)
            except ValueError:
                what = "an empty cell" if not cell else f"{cell[:40]!r} is not a number"
                raise DataFileError(f"{lay.path}: line {line}, column {lay.names[i]!r}: {what}") from None
        if lay.label_idx is not None:
            labels.append(cells[lay.label_idx].strip())
    return x, labels


def _python_chunks(lay: Layout, chunk_rows: int):
    rows = []
    for row in _python_rows(lay):
        rows.append(row)
        if len(rows) == chunk_rows:
            yield _parse_rows(lay, rows)
            rows = []
    if rows:
        yield _parse_rows(lay, rows)


def _rows_after(chunks, done: int):
    """``chunks`` without their first ``done`` rows."""
    for x, labels in chunks:
        if done >= len(x):
            done -= len(x)
            continue
        yield x[done:], None if labels is None else labels[done:]
        done = 0


# -- fast engines ------------------------------------------------------------------------------------
def _columns(lay: Layout) -> tuple[list[str], list[str], str | None]:
    keys = [f"c{i}" for i in range(lay.n_cols)]  # the header's names may repeat; these do not
    label = None if lay.label_idx is None else keys[lay.label_idx]
    return keys, [keys[i] for i in lay.feature_idx], label


class _Bad(Exception):
    """A fast engine's result that the Python engine must explain (an empty cell)."""


def _pyarrow_chunks(lay: Layout, chunk_rows: int | None):
    import pyarrow as pa
    from pyarrow import csv as pcsv

    keys, features, label = _columns(lay)
    # pyarrow's streaming reader holds about 35 times its block in memory (measured: peaks of
    # 156 MB, 290 MB and 1.2 GB for 1, 4 and 32 MB blocks of a 20-column file), and reads no
    # faster with larger ones: blocks of at most 1 MB (and at least 16 rows), joined into chunks
    # of chunk_rows rows
    if chunk_rows is None:  # the whole file: pyarrow's default blocks, read on every core
        block = 1 << 24
    else:
        block = max(int(min(max(chunk_rows, 16) * lay.row_bytes, 1 << 20)), 1 << 12)
    read = pcsv.ReadOptions(column_names=keys, skip_rows=lay.skip, block_size=block)
    parse = pcsv.ParseOptions(delimiter=lay.delimiter, ignore_empty_lines=True)
    convert = pcsv.ConvertOptions(
        include_columns=features + ([label] if label else []),
        column_types={**{k: pa.float64() for k in features}, **({label: pa.string()} if label else {})},
        strings_can_be_null=False,
    )
    if chunk_rows is None:  # the whole file at once, on every core
        batches = [pcsv.read_csv(lay.path, read_options=read, parse_options=parse, convert_options=convert)]
    else:
        batches = pcsv.open_csv(lay.path, read_options=read, parse_options=parse, convert_options=convert)
    xs, ys, rows = [], [], 0
    for batch in batches:
        if any(batch.column(k).null_count for k in features):
            raise _Bad("an empty cell")
        xs.append(np.column_stack([batch.column(k).to_numpy(zero_copy_only=False) for k in features]))
        ys.append(None if label is None else _arrow_labels(batch.column(label)))
        rows += batch.num_rows
        if chunk_rows is not None and rows >= chunk_rows:
            yield np.concatenate(xs), None if label is None else np.concatenate(ys)
            xs, ys, rows = [], [], 0
    if xs:
        yield np.concatenate(xs), None if label is None else np.concatenate(ys)


def _pandas_chunks(lay: Layout, chunk_rows: int | None):
    import pandas as pd

    keys, features, label = _columns(lay)
    try:
        reader = pd.read_csv(
            lay.path,
            sep=lay.delimiter,
            header=None,
            names=keys,  # every column named: a row with more cells is an error, not an index
            skiprows=lay.skip,
            dtype={**dict.fromkeys(features, "float64"), **({label: str} if label else {})},
            keep_default_na=False,
            na_values=dict.fromkeys(features, [""]),
            skip_blank_lines=True,
            encoding="utf-8-sig",
            chunksize=chunk_rows,
        )
    except pd.errors.EmptyDataError:  # nothing after the header
        return
    for frame in [reader] if chunk_rows is None else reader:
        x = frame[features].to_numpy(np.float64)
        if np.isnan(x).any():  # an empty cell or a short row (or a "nan" cell): the Python reader decides
            raise _Bad("a missing value")
        yield x, (None if label is None else _labels(frame[label].str.strip().to_numpy(dtype=str)))


def _numpy_chunks(lay: Layout, chunk_rows: int | None):
    """NumPy's C parser over the file's lines, ``chunk_rows`` at a time: every cell as text, so
    that a row of another length or an empty cell is an error (then named by the Python scan)."""
    step = chunk_rows or 1 << 62
    with open(lay.path, encoding="utf-8-sig", newline="") as f:
        for _ in range(lay.skip):
            f.readline()
        rows = (line for line in f if line.strip())  # blank lines skipped, as by the other engines
        while True:
            lines = list(itertools.islice(rows, step))
            if not lines:
                return
            cells = np.loadtxt(lines, delimiter=lay.delimiter, dtype=str, quotechar='"', ndmin=2, comments=None)
            if cells.shape[1] != lay.n_cols:
                raise _Bad("a row of another length")
            x = cells[:, lay.feature_idx].astype(np.float64)  # raises on "", "abc": the Python scan names it
            yield x, (None if lay.label_idx is None else _labels(np.char.strip(cells[:, lay.label_idx])))


def _chunks(lay: Layout, engine: str, chunk_rows: int | None):
    engine = engine_name(engine)
    every = chunk_rows or 1 << 62
    if engine == "python":
        yield from _python_chunks(lay, every)
        return
    fast = {"pyarrow": _pyarrow_chunks, "pandas": _pandas_chunks, "numpy": _numpy_chunks}[engine]
    done = 0
    try:
        for x, labels in fast(lay, chunk_rows):
            yield x, labels
            done += len(x)
    except (ValueError, TypeError, _Bad, OSError):  # pyarrow's ArrowInvalid is a ValueError
        # Python's reader takes over where the fast engine stopped: it names the bad cell or row,
        # or, when there is none (a layout the fast parser refuses, such as a line break inside
        # quotes), reads the rest of the file
        yield from _rows_after(_python_chunks(lay, every), done)


def _no_rows(lay: Layout):
    raise DataFileError(f"{lay.path}: a header but no data rows" if lay.has_header else f"{lay.path}: no rows")


def _labels(labels) -> np.ndarray:
    """Labels as numbers when every one is a number, else as (stripped) strings."""
    y = np.asarray(labels)
    if y.dtype.kind in "biuf":
        return y.astype(np.float64)
    try:
        return y.astype(np.float64)  # NumPy's parser: fast, and as strict as float()
    except ValueError:
        return y


def _arrow_labels(column) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    column = pc.utf8_trim_whitespace(column)
    try:
        return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=str)


def read_csv(path, *, label_column=None, header="infer", delimiter=None, columns=None, engine="auto"):
    """Read a table of numbers from a CSV (or TSV) file into a :class:`~hourglass.datasets.Table`.

    Parameters
    ----------
    path : path
    label_column : str or int, optional
        The column holding labels, by header name or 0-based index; it is returned as ``y``
        (numbers when every label is numeric, else strings) and left out of ``x``.
    header : "infer", True or False
        "infer": the first row is a header when any of its cells is not a number.
    delimiter : str, optional
        Sniffed from the file when not given (comma, semicolon, tab, ...).
    columns : list of str, optional
        Read only these feature columns, in this order, matched by header name; other columns
        are ignored, so they may hold text. A file without a header must then hold exactly
        these features, in this order (plus the label column). By default every column but the
        label is a feature.
    engine : {"auto", "pyarrow", "pandas", "numpy", "python"}
        The parser; "auto" takes the fastest installed. All give the same table and the same errors.

    Notes
    -----
    Every feature cell must be a number: the first one that is not (an empty cell, ``"abc"``)
    is reported with its line number and column name; so are rows of the wrong length.
    ``nan`` / ``inf`` cells are reported by the model's input checks.
    """
    from hourglass.datasets.tabular import Table

    lay = layout(path, label_column=label_column, header=header, delimiter=delimiter, columns=columns)
    parts = list(_chunks(lay, engine, None))
    if not parts or sum(len(x) for x, _ in parts) == 0:
        _no_rows(lay)
    x = np.concatenate([x for x, _ in parts]).astype(np.float32)
    y = None if lay.label_idx is None else _labels(np.concatenate([np.asarray(labels) for _, labels in parts]))
    return Table(x=x, y=y, feature_names=lay.feature_names, label_name=lay.label_name, source=str(lay.path))


def iter_csv(
    path, *, chunk_rows: int = 65536, label_column=None, header="infer", delimiter=None, columns=None, engine="auto"
):
    """The rows of a CSV file in chunks of about ``chunk_rows`` rows (pyarrow reads blocks of
    bytes sized from the first lines' length, at least 4 kB), each a
    :class:`~hourglass.datasets.Table`, so that memory stays bounded whatever the file's size.
    Same arguments and errors as :func:`read_csv`."""
    from hourglass.datasets.tabular import Table

    lay = layout(path, label_column=label_column, header=header, delimiter=delimiter, columns=columns)
    rows = 0
    for x, labels in _chunks(lay, engine, chunk_rows):
        rows += len(x)
        if len(x):
            y = None if lay.label_idx is None else _labels(labels)
            yield Table(
                x=x.astype(np.float32),
                y=y,
                feature_names=lay.feature_names,
                label_name=lay.label_name,
                source=str(lay.path),
            )
    if rows == 0:
        _no_rows(lay)


__all__ = ["ENGINES", "Layout", "engine_name", "iter_csv", "layout", "read_csv"]
