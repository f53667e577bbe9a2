"""Long labelled recordings in the TSB benchmarks' formats: one row per time step.

- TSB-UAD (``.out``): no header, comma-separated, the value(s) then the label (1 = anomaly).
  Protocol: semi-supervised methods train on the first 10 % of the recording.
- TSB-AD (``.csv``): a header (one or more data columns, then ``Label``); the file name gives the
  protocol, ``..._tr_<train>_1st_<first anomaly>.csv``: train on the first ``train`` steps.

``load("tsb-uad/MBA_ECG805")`` and ``load("tsb-ad/001_NAB_id_1_Facility")`` find the files in
``<data_dir>/tsb-uad/`` and ``<data_dir>/tsb-ad/`` (or download them, verified by sha256); any other
file of the benchmarks placed there loads by its name, and :func:`read_recording` reads one from
anywhere.

>>> import numpy as np, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "001_X_tr_4_1st_5.csv")
>>> _ = open(path, "w").write("Data,Label\\n" + "".join(f"{v},{int(v > 8)}\\n" for v in range(10)))
>>> rec = read_recording(path)
>>> rec.values.shape, rec.train_end, rec.first_anomaly, int(rec.labels.sum())
((10, 1), 4, 5, 1)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hourglass.datasets import csvfile
from hourglass.datasets.base import Dataset
from hourglass.datasets.files import Resource, fetch, search_dirs
from hourglass.datasets.tabular import read_table
from hourglass.errors import DataFileError, DatasetNotFoundError

_TSB_AD_NAME = re.compile(r"_tr_(\d+)_1st_(\d+)$")
TSB_UAD_TRAIN_SHARE = 0.1

_UAD_URL = "https://raw.githubusercontent.com/TheDatumOrg/TSB-UAD/main/data/benchmark/ECG/"
_AD_URL = "https://raw.githubusercontent.com/TheDatumOrg/TSB-AD/main/Datasets/TSB-AD-U/"
# name -> (folder, file, sha256); SOURCES.md in the data folder says where each comes from
KNOWN = {
    "tsb-uad/MBA_ECG805": (
        "tsb-uad",
        Resource(
            "MBA_ECG805_data.out",
            _UAD_URL + "MBA_ECG805_data.out",
            "b920416d9627f1a1f2bbbe6ea7c5dd9388c14a96a9511836df46f83cb204495e",
        ),
    ),
    "tsb-ad/001_NAB_id_1_Facility": (
        "tsb-ad",
        Resource(
            "001_NAB_id_1_Facility_tr_1007_1st_2014.csv",
            _AD_URL + "001_NAB_id_1_Facility_tr_1007_1st_2014.csv",
            "e3e67660bbaa840ef24e70b38f0b384d41c7e2bce71bf0edbab65565a40a7584",
        ),
    ),
}
FOLDERS = {"tsb-uad": (".out",), "tsb-ad": (".csv",)}


@dataclass(repr=False)  # Dataset's short repr, not every array
class Recording(Dataset):
    """A long recording as a :class:`Dataset`: ``x_train`` / ``y_train`` are its training part (the
    benchmark's protocol), ``x_test`` / ``y_test`` the whole recording (every step is scored).
    ``values`` (time, channels) float32 and ``labels`` (time,) 0 / 1 are the whole recording;
    ``train_end`` the training part's length; ``first_anomaly`` the step of the first anomaly the
    file name gives (TSB-AD), else the first labelled one."""

    train_end: int = 0
    first_anomaly: int | None = None

    @property
    def values(self) -> np.ndarray:
        return self.x_test

    @property
    def labels(self) -> np.ndarray:
        return self.y_test


def _label_column(path: Path, labels: np.ndarray) -> np.ndarray:
    if labels.dtype.kind not in "biuf" or not np.isin(labels, (0, 1)).all():
        raise DataFileError(f"{path}: the label column must hold 0 (normal) and 1 (anomaly) only")
    return labels.astype(np.int64)


def read_recording(path, *, train_end: int | None = None, name: str | None = None) -> Recording:
    """Read a TSB-UAD ``.out`` or TSB-AD ``.csv`` recording (the format from the suffix and the
    header). The training part: ``train_end`` steps when given, else what the benchmark's
    protocol says (TSB-AD: the file name's ``tr_<n>``; TSB-UAD: the first 10 %)."""
    path = Path(path)
    if path.suffix.lower() == ".out":  # TSB-UAD: no header, label last
        table = read_table(path)  # the format's one reader: no header, the label last
    else:
        table = csvfile.read_csv(path, label_column="Label")
    values, labels = table.x, _label_column(path, table.y)
    if values.ndim != 2 or len(values) < 2:
        raise DataFileError(f"{path}: expected a recording of at least 2 time steps, got shape {values.shape}")
    match = _TSB_AD_NAME.search(path.stem)
    first = int(match.group(2)) if match else (int(np.argmax(labels)) if labels.any() else None)
    if train_end is None:
        train_end = int(match.group(1)) if match else max(1, int(len(values) * TSB_UAD_TRAIN_SHARE))
    if not 0 < train_end <= len(values):
        raise DataFileError(f"{path}: a training part of {train_end} steps for a recording of {len(values)}")
    protocol = "train on the steps the file name gives" if match else "train on the first 10 %"
    return Recording(
        name or path.stem,
        values[:train_end],
        labels[:train_end],
        values,
        labels,
        normal_labels=(0,),
        class_names=("normal", "anomaly"),
        info={
            "file": str(path),
            "protocol": f"{protocol} ({train_end} steps); score every step",
            "channels": table.feature_names,
        },
        train_end=train_end,
        first_anomaly=first,
    )


def _find(folder: str, stem: str, data_dir) -> Resource | None:
    """A file in ``<search dir>/<folder>/`` named ``stem`` plus the folder's suffix, or (TSB-AD)
    ``stem`` followed by the protocol part of its name."""
    for d in search_dirs(data_dir):
        for suffix in FOLDERS[folder]:
            for candidate in sorted((d / folder).glob(f"{stem}*{suffix}")):
                rest = candidate.stem[len(stem) :]
                if rest in ("", "_data") or _TSB_AD_NAME.fullmatch(rest):
                    return Resource(candidate.name, "", "")
    return None


def available(data_dir=None) -> list[str]:
    """The known recordings and any found in the search folders' ``tsb-uad/`` and ``tsb-ad/``."""
    names = set(KNOWN)
    for d in search_dirs(data_dir):
        for folder, suffixes in FOLDERS.items():
            for suffix in suffixes:
                for p in (d / folder).glob(f"*{suffix}"):
                    stem = _TSB_AD_NAME.sub("", p.stem).removesuffix("_data")
                    names.add(f"{folder}/{stem}")
    return sorted(names)


def load(name: str, *, train_end: int | None = None, **fetch_kw) -> Recording:
    """``load("tsb-uad/<name>")`` or ``load("tsb-ad/<name>")``: a :class:`Recording`."""
    folder, _, stem = name.partition("/")
    if folder not in FOLDERS or not stem:
        raise DatasetNotFoundError(f"a recording is named 'tsb-uad/<name>' or 'tsb-ad/<name>', got {name!r}")
    known = KNOWN.get(name)
    resource = known[1] if known else _find(folder, stem, fetch_kw.get("data_dir"))
    if resource is None:
        raise DatasetNotFoundError(
            f"unknown recording {name!r}: not one of {sorted(KNOWN)} and no {folder}/{stem}"
            f"{'_data.out' if folder == 'tsb-uad' else '[_tr_<n>_1st_<m>].csv'} in the data folders"
        )
    path = fetch(folder, resource, **fetch_kw)
    return read_recording(path, train_end=train_end, name=name)
