"""The user's own tables: CSV files (with or without a header; :mod:`.csvfile`), Parquet files
(:mod:`.parquet`) and NumPy ``.npy`` / ``.npz``; :func:`iter_table` streams the large ones.

>>> import numpy as np, tempfile, os
>>> from hourglass.datasets import read_table
>>> path = os.path.join(tempfile.mkdtemp(), "rows.csv")
>>> _ = open(path, "w").write("a,b,label\\n1,2,0\\n3,4.5,1\\n")
>>> t = read_table(path, label_column="label")
>>> t.x.tolist(), t.y.tolist(), t.feature_names
([[1.0, 2.0], [3.0, 4.5]], [0.0, 1.0], ['a', 'b'])
"""

from __future__ import annotations

import tokenize
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hourglass.datasets import csvfile, parquet
from hourglass.errors import DataFileError, InvalidInputError

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
ARRAY_SUFFIXES = (".npy", ".npz")
# TSB-UAD's recordings: comma-separated, no header, the label in the last column
RECORDING_SUFFIXES = (".out",)
# MNIST's and Fashion-MNIST's IDX files: "train-images-idx3-ubyte", gzipped or not
IDX_ENDINGS = ("-ubyte", "-ubyte.gz", ".idx", ".idx.gz")


def default_label_column(path) -> str | None:
    """The label column a format defines for itself: TSB-UAD's ``.out`` files' last column,
    ``"label"``; None for the others (the user names it)."""
    return "label" if Path(path).suffix.lower() in RECORDING_SUFFIXES else None


def _recording_label(path: Path, label_column):
    # "label" names a .out file's own label column (its last); anything else is an index
    return -1 if label_column is None or label_column == "label" else label_column


def _is_idx(path: Path) -> bool:
    return path.name.lower().endswith(IDX_ENDINGS)


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
    path, *, label_column=None, header="infer", delimiter=None, columns=None, x_key=None, y_key=None, engine="auto"
) -> Table:
    """Read a CSV / TSV, Parquet, ``.npy`` or ``.npz`` file, a TSB-UAD recording (``.out``: its
    last column is the label, ``y``) or an IDX file (``*-ubyte[.gz]``, MNIST's images) into a
    :class:`Table` (dispatch on the suffix).

    ``label_column`` (CSV, Parquet, ``.out``: a column name or 0-based index; a string of digits
    that names no column is an index, as on the command line), ``columns`` (CSV, Parquet:
    the feature columns, by name) and ``x_key`` / ``y_key`` (``.npz``) are passed on to
    :func:`~hourglass.datasets.csvfile.read_csv`, :func:`~hourglass.datasets.parquet.read_parquet`
    and :func:`read_npz`.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return csvfile.read_csv(
            path, label_column=label_column, header=header, delimiter=delimiter, columns=columns, engine=engine
        )
    if suffix in PARQUET_SUFFIXES:
        return parquet.read_parquet(path, label_column=label_column, columns=columns)
    if suffix == ".npy":
        if label_column is not None:
            raise InvalidInputError(
                f"{path}: a .npy file holds one array; its label column cannot be chosen by "
                "name (save X and y in an .npz instead)"
            )
        return read_npy(path)
    if suffix == ".npz":
        return read_npz(path, x_key=x_key, y_key=y_key)
    if suffix in RECORDING_SUFFIXES:
        table = csvfile.read_csv(
            path, label_column=_recording_label(path, label_column), header=False, delimiter=",", engine=engine
        )
        return _named_label(table, label_column)
    if _is_idx(path):
        return read_idx_table(path)
    raise InvalidInputError(
        f"{path}: unsupported file type {suffix!r}; expected one of "
        f"{CSV_SUFFIXES + PARQUET_SUFFIXES + ARRAY_SUFFIXES + RECORDING_SUFFIXES}, an IDX file "
        "(*-ubyte, *-ubyte.gz) or a folder of images"
    )


def _named_label(table: Table, label_column) -> Table:
    if table.y is not None and (label_column is None or label_column == "label"):
        table.label_name = "label"
    return table


def read_idx_table(path) -> Table:
    """An IDX file (MNIST's format) as a :class:`Table`: images ``(n, h, w)`` as float32
    ``(n, 1, h, w)`` in [0, 1], as ``hg.datasets.load("mnist")`` gives them; a labels file
    ``(n,)`` as one column."""
    from hourglass.datasets.idx import read_idx

    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    arr = read_idx(path)
    x = (
        arr[:, None].astype(np.float32) / 255.0
        if arr.ndim == 3
        else _as_rows(arr, path, "the array").astype(np.float32)
    )
    d = int(np.prod(x.shape[1:]))
    return Table(x=x, y=None, feature_names=[f"x{i}" for i in range(d)], label_name=None, source=str(path))


def iter_table(path, *, chunk_rows: int = 65536, label_column=None, columns=None, engine="auto"):
    """The rows of a table file in chunks (each a :class:`Table`) so that memory stays bounded
    whatever the file's size: CSV and Parquet are read piece by piece; ``.npy`` is memory-mapped
    and sliced; ``.npz`` is read whole (its arrays are compressed or zipped)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        yield from csvfile.iter_csv(
            path, chunk_rows=chunk_rows, label_column=label_column, columns=columns, engine=engine
        )
    elif suffix in PARQUET_SUFFIXES:
        yield from parquet.iter_parquet(path, chunk_rows=chunk_rows, label_column=label_column, columns=columns)
    elif suffix in RECORDING_SUFFIXES:
        for table in csvfile.iter_csv(
            path,
            chunk_rows=chunk_rows,
            label_column=_recording_label(path, label_column),
            header=False,
            delimiter=",",
            engine=engine,
        ):
            yield _named_label(table, label_column)
    elif suffix == ".npy" and label_column is None:
        arr = _load_numpy_mapped(path)
        names = [f"x{i}" for i in range(int(np.prod(arr.shape[1:])))]
        for start in range(0, len(arr), chunk_rows):
            x = np.asarray(arr[start : start + chunk_rows], dtype=np.float32)
            yield Table(x=x, y=None, feature_names=names, label_name=None, source=str(path))
    else:
        yield read_table(path, label_column=label_column, columns=columns, engine=engine)


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


def _load_numpy_mapped(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except NUMPY_READ_ERRORS as exc:
        raise _numpy_error(path, exc) from None
    return _as_rows(arr, path, "the array")


def _numpy_error(path: Path, exc: Exception) -> DataFileError:
    with open(path, "rb") as f:
        head = f.read(6)
    if not head.startswith((b"\x93NUMPY", b"PK")):  # np.load tries pickle on anything else
        return DataFileError(
            f"{path}: not a valid .npy or .npz file (it does not begin as NumPy's files do); "
            "write it with numpy.save or numpy.savez"
        )
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


read_csv = csvfile.read_csv  # where 0.1.0 had it
