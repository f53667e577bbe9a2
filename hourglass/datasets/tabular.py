"""The user's own tables: CSV files (with or without a header) and NumPy ``.npy`` / ``.npz``.

>>> import numpy as np, tempfile, os
>>> from hourglass.datasets import read_table
>>> path = os.path.join(tempfile.mkdtemp(), "rows.csv")
>>> _ = open(path, "w").write("a,b,label\\n1,2,0\\n3,4.5,1\\n")
>>> t = read_table(path, label_column="label")
>>> t.x.tolist(), t.y.tolist(), t.feature_names
([[1.0, 2.0], [3.0, 4.5]], [0.0, 1.0], ['a', 'b'])
"""

from __future__ import annotations

import csv
import io
import tokenize
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hourglass.errors import DataFileError, InvalidInputError

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
ARRAY_SUFFIXES = (".npy", ".npz")


@dataclass
class Table:
    """Rows read from a file: ``x`` float32 ``(n, d)``; ``y`` the label column (or ``None``);
    ``feature_names`` one per column of ``x``; ``label_name``; ``source`` the file."""

    x: np.ndarray
    y: np.ndarray | None
    feature_names: list[str]
    label_name: str | None
    source: str


def read_table(
    path, *, label_column=None, header="infer", delimiter=None, columns=None, x_key=None, y_key=None
) -> Table:
    """Read a CSV / TSV, ``.npy`` or ``.npz`` file into a :class:`Table` (dispatch on the suffix).

    ``label_column`` (CSV: a column name or 0-based index) and ``x_key`` / ``y_key`` (``.npz``)
    are passed on to :func:`read_csv` and :func:`read_npz`.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return read_csv(path, label_column=label_column, header=header, delimiter=delimiter, columns=columns)
    if suffix == ".npy":
        if label_column is not None:
            raise InvalidInputError(
                f"{path}: a .npy file holds one array; its label column cannot be chosen by "
                "name (save X and y in an .npz instead)"
            )
        return read_npy(path)
    if suffix == ".npz":
        return read_npz(path, x_key=x_key, y_key=y_key)
    raise InvalidInputError(
        f"{path}: unsupported file type {suffix!r}; expected one of "
        f"{CSV_SUFFIXES + ARRAY_SUFFIXES} (or a folder of images)"
    )


def _open_text(path: Path) -> str:
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DataFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def read_csv(path, *, label_column=None, header="infer", delimiter=None, columns=None) -> Table:
    """Read a table of numbers from a CSV (or TSV) file.

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

    Every feature cell must be a number: the first one that is not (an empty cell, ``"abc"``)
    is reported with its line number and column name; so are rows of the wrong length.
    ``nan`` / ``inf`` cells are reported by the model's input checks.
    """
    path = Path(path)
    text = _open_text(path)
    if not text.strip():
        raise DataFileError(f"{path}: the file is empty")
    if delimiter is None:
        sample = text[:65536]
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        rows = [
            (i + 1, r)
            for i, r in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter))
            if r and any(c.strip() for c in r)
        ]
    except csv.Error as exc:
        raise DataFileError(f"{path}: not a valid CSV file ({exc})") from None
    if not rows:
        raise DataFileError(f"{path}: no rows")
    first = [c.strip() for c in rows[0][1]]
    if header == "infer":
        has_header = not all(_is_number(c) for c in first)
    elif isinstance(header, bool):
        has_header = header
    else:
        raise InvalidInputError(f"header must be 'infer', True or False, got {header!r}")
    n_cols = len(first)
    names = first if has_header else [f"x{i}" for i in range(n_cols)]
    body = rows[1:] if has_header else rows
    if not body:
        raise DataFileError(f"{path}: a header but no data rows")

    label_idx = None
    if label_column is not None:
        if isinstance(label_column, (int, np.integer)) and not isinstance(label_column, bool):
            if not -n_cols <= label_column < n_cols:
                raise InvalidInputError(f"{path}: label column {label_column} is out of range ({n_cols} columns)")
            label_idx = int(label_column) % n_cols
        elif str(label_column) in names:
            label_idx = names.index(str(label_column))
        elif not has_header:
            raise InvalidInputError(
                f"{path}: no header row, so the label column {label_column!r} cannot be found "
                "by name; pass its 0-based index"
            )
        else:
            raise InvalidInputError(f"{path}: no column named {label_column!r}; columns: {names}")
    if columns is not None and not has_header:
        # No names to match: the file's own feature columns are taken in order, if their count fits.
        n_features = n_cols - (label_idx is not None)
        if n_features != len(columns):
            raise InvalidInputError(
                f"{path}: no header row, so columns cannot be chosen by name, and its "
                f"{n_features} feature columns are not the {len(columns)} expected"
            )
        names = list(columns)
        if label_idx is not None:
            names.insert(label_idx, f"x{label_idx}")
        feature_idx = [i for i in range(n_cols) if i != label_idx]
    elif columns is not None:
        missing = [c for c in columns if c not in names]
        if missing:
            raise InvalidInputError(f"{path}: missing column(s) {missing}; the file has {names}")
        feature_idx = [names.index(c) for c in columns]
    else:
        feature_idx = [i for i in range(n_cols) if i != label_idx]
    if not feature_idx:
        raise DataFileError(f"{path}: no feature columns")

    x = np.empty((len(body), len(feature_idx)), dtype=np.float64)
    labels = []
    for r, (line, cells) in enumerate(body):
        if len(cells) != n_cols:
            raise DataFileError(
                f"{path}: line {line} has {len(cells)} cells but the "
                f"{'header' if has_header else 'first row'} has {n_cols}"
            )
        for j, i in enumerate(feature_idx):
            cell = cells[i].strip()
            try:
                x[r, j] = float(cell)
            except ValueError:
                what = "an empty cell" if not cell else f"{cell[:40]!r} is not a number"
                raise DataFileError(f"{path}: line {line}, column {names[i]!r}: {what}") from None
        if label_idx is not None:
            labels.append(cells[label_idx].strip())
    y = None
    if label_idx is not None:
        y = np.asarray(labels)
        if all(_is_number(v) for v in labels):
            y = y.astype(np.float64)
    return Table(
        x=x.astype(np.float32),
        y=y,
        feature_names=[names[i] for i in feature_idx],
        label_name=None if label_idx is None else names[label_idx],
        source=str(path),
    )


# What np.load raises on a malformed file: its header is parsed as a Python literal (SyntaxError,
# tokenize.TokenError), its sizes may overflow or ask for absurd memory, and the zip layer has its
# own errors. Found by the fuzz tests (tests/test_fuzz.py).
NUMPY_READ_ERRORS = (
    ValueError,
    OSError,
    EOFError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    SyntaxError,
    tokenize.TokenError,
    MemoryError,
    OverflowError,
    TypeError,
    KeyError,
    IndexError,
    NotImplementedError,
    RecursionError,
)


def _load_numpy(path: Path):
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    try:
        return np.load(path, allow_pickle=False)
    except NUMPY_READ_ERRORS as exc:
        raise _numpy_error(path, exc) from None


def _numpy_error(path: Path, exc: Exception) -> DataFileError:
    if "pickle" in str(exc).lower():
        return DataFileError(
            f"{path}: holds pickled Python objects, which hourglass never loads "
            "(they can run code); save plain numeric arrays"
        )
    return DataFileError(f"{path}: corrupt or truncated NumPy file ({type(exc).__name__}: {exc})")


def _as_rows(arr, path: Path, what: str) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise DataFileError(f"{path}: {what} has dtype {arr.dtype}; expected numbers")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim < 2 or len(arr) == 0:
        raise DataFileError(f"{path}: {what} has shape {arr.shape}; expected (rows, features)")
    return arr


def read_npy(path) -> Table:
    """Read a ``.npy`` array of shape ``(n, d)`` (or ``(n, ...)``, kept as is) without unpickling."""
    path = Path(path)
    try:
        arr = _load_numpy(path)
        if not isinstance(arr, np.ndarray):
            raise DataFileError(f"{path}: an .npz archive with a .npy suffix; rename it to .npz")
        x = _as_rows(arr, path, "the array").astype(np.float32)
    except NUMPY_READ_ERRORS as exc:  # e.g. a truncated payload found while reading the data
        raise _numpy_error(path, exc) from None
    d = int(np.prod(x.shape[1:]))
    return Table(x=x, y=None, feature_names=[f"x{i}" for i in range(d)], label_name=None, source=str(path))


def read_npz(path, *, x_key=None, y_key=None) -> Table:
    """Read ``X`` (and ``y`` when present) from an ``.npz`` archive, ADBench's layout.

    Keys default to ``X`` / ``x`` / the only array, and ``y`` / ``Y`` / ``labels``.
    """
    path = Path(path)
    archive = _load_numpy(path)
    if isinstance(archive, np.ndarray):
        raise DataFileError(f"{path}: a .npy array with an .npz suffix; rename it to .npy")
    with archive:
        keys = list(archive.files)
        if x_key is None:
            x_key = next((k for k in ("X", "x", "data") if k in keys), keys[0] if len(keys) == 1 else None)
        if x_key not in keys:
            raise DataFileError(f"{path}: no array {x_key!r}; the archive holds {keys} (choose with x_key=)")
        if y_key is None:
            y_key = next((k for k in ("y", "Y", "labels", "label") if k in keys), None)
        elif y_key not in keys:
            raise DataFileError(f"{path}: no array {y_key!r}; the archive holds {keys}")
        try:
            x = _as_rows(archive[x_key], path, f"array {x_key!r}").astype(np.float32)
            y = None if y_key is None else np.asarray(archive[y_key]).ravel()
        except NUMPY_READ_ERRORS as exc:
            raise _numpy_error(path, exc) from None
    if y is not None and len(y) != len(x):
        raise DataFileError(f"{path}: {len(x)} rows in {x_key!r} but {len(y)} labels in {y_key!r}")
    d = int(np.prod(x.shape[1:]))
    return Table(x=x, y=y, feature_names=[f"x{i}" for i in range(d)], label_name=y_key, source=str(path))
