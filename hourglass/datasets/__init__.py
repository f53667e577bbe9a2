"""Data sets: one small module each, sharing one find / download / verify / cache path.

>>> import hourglass as hg
>>> ds = hg.datasets.load("ecg5000")
>>> ds.x_train.shape
(500, 140)
"""

from __future__ import annotations

import difflib

from hourglass.datasets import adbench, ecg5000, fashion_mnist, mnist, recordings  # noqa: F401  (registers the loaders)
from hourglass.datasets.base import DATASETS, Dataset, register_dataset
from hourglass.datasets.csvfile import iter_csv
from hourglass.datasets.files import Resource, cache_dir, fetch
from hourglass.datasets.images import ImageFolder, read_image_folder
from hourglass.datasets.parquet import iter_parquet, read_parquet
from hourglass.datasets.recordings import Recording, read_recording
from hourglass.datasets.splits import one_vs_rest
from hourglass.datasets.tabular import Table, iter_table, read_csv, read_idx_table, read_npy, read_npz, read_table
from hourglass.errors import DatasetNotFoundError


def list_datasets(data_dir=None) -> list[str]:
    """Names accepted by :func:`load`: the registered sets, then ``adbench/<name>``, then the
    recordings ``tsb-uad/<name>`` and ``tsb-ad/<name>`` (the known files and any found in the data
    folders)."""
    return DATASETS.names() + [f"adbench/{n}" for n in adbench.available(data_dir)] + recordings.available(data_dir)


def load(
    name: str, *, data_dir=None, download: bool = True, cache_dir=None, base_url=None, progress: bool = False, **options
) -> Dataset:
    """Load a data set by name.

    Parameters
    ----------
    name : str
        ``"fashion-mnist"``, ``"mnist"``, ``"ecg5000"``, ``"adbench/<name>"``, or a long recording
        ``"tsb-uad/<name>"`` / ``"tsb-ad/<name>"`` (a :class:`Recording`; see :func:`list_datasets`).
    data_dir : path, optional
        Folder searched first (then ``HOURGLASS_DATA_DIR``, then the cache).
    download : bool, default True
        Download missing files from their official address, verified by sha256.
    cache_dir : path, optional
        Where downloads go (default: ``HOURGLASS_CACHE_DIR`` or the OS cache folder).
    base_url : str, optional
        A mirror to download from instead of the official address.
    **options
        Passed to the data set's loader: ``split="tutorial"`` for ECG5000, ``test_size`` and
        ``seed`` for ADBench, ``train_end`` for a recording.
    """
    fetch_kw = dict(data_dir=data_dir, download=download, cache=cache_dir, base_url=base_url, progress=progress)
    key = str(name).lower()
    if key.startswith("adbench/"):
        return adbench.load(name.split("/", 1)[1], **fetch_kw, **options)
    if key.startswith(("tsb-uad/", "tsb-ad/")):
        return recordings.load(key.split("/", 1)[0] + "/" + str(name).split("/", 1)[1], **fetch_kw, **options)
    if key not in DATASETS.names():
        raise DatasetNotFoundError(_unknown(name, data_dir))
    return DATASETS[key](**fetch_kw, **options)


def _unknown(name, data_dir) -> str:
    """What to say of a name no loader knows: the close names, then every family of names."""
    every = list_datasets(data_dir)
    close = difflib.get_close_matches(str(name).lower(), every, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    families = [*DATASETS.names(), f"adbench/<name> ({len(adbench.available(data_dir))} sets)"]
    families += ["tsb-uad/<name>", "tsb-ad/<name>"]
    return (
        f"unknown data set {name!r}{hint} (available: {', '.join(families)}; "
        "hg.datasets.list_datasets() lists every name)"
    )


__all__ = [
    "DATASETS",
    "Dataset",
    "register_dataset",
    "ImageFolder",
    "Resource",
    "Table",
    "cache_dir",
    "fetch",
    "list_datasets",
    "load",
    "one_vs_rest",
    "read_csv",
    "read_image_folder",
    "read_idx_table",
    "read_npy",
    "read_npz",
    "read_table",
    "iter_table",
    "iter_csv",
    "iter_parquet",
    "read_parquet",
    "Recording",
    "read_recording",
]
