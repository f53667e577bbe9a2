"""ADBench's classical tabular anomaly-detection sets: ``.npz`` files with ``X`` and ``y`` (1 = anomaly).

ADBench has no fixed split; :func:`load` follows its protocol: a stratified 70 / 30 split.
Any ADBench-style file placed in ``<data_dir>/adbench/`` loads by its stem
(``load("adbench/29_Pima")``); the twenty below can also be downloaded, verified by sha256.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hourglass.datasets import tabular
from hourglass.datasets.base import Dataset
from hourglass.datasets.files import Resource, fetch, search_dirs
from hourglass.errors import DataFileError, DatasetNotFoundError

FOLDER = "adbench"
_COMMIT = "3dac8221081e190f157d78e93bfa8867f90d0965"
URL = f"https://raw.githubusercontent.com/Minqi824/ADBench/{_COMMIT}/adbench/datasets/Classical/"
_SHA256 = {
    "2_annthyroid": "e738f7c58a8740d2c4aac4c71ff49ce5e1d1aa16f44178135fc9c09df05fad1b",
    "4_breastw": "4f37ce07dbc25ddad8178fdc6d664ab46d2d0000ee28c2787c3c7ff3c03ef9f6",
    "14_glass": "aa7a8db1d475ba01a10488af454bc15220a3d5951b010b03b7020567d8152cdc",
    "18_Ionosphere": "bca46cb0cfd1bf9ddef6cde5ad2215d54fb0189508d0d4c4eb98e788cad69001",
    "23_mammography": "a0308ac9712d78321073b1c2dc98dc37665c0f35c1cc33019416fe8f8d7de7ea",
    "29_Pima": "215454bb263a2f040945c9ea7bd7f06f1e89a61a3143bdb6f196e3887e801a7d",
    "38_thyroid": "8de161b3f235b7647bb0b39a836d983ff61d67bf234edac461da2d71e889cb87",
    "40_vowels": "4bfc4244d1c882773bbbc50d4a5db5e52276e53506e46b2d45e02d074cfcb1b6",
    "43_WDBC": "78d4606a1ab516f5b60b00c196497f3bbd6bd5e4548fd04cf5f2475209b34b85",
    "45_wine": "d5ad8965d92cc57122fe1e6572bb301adbaf795b3e166d187ae00a704d8f6e20",
    "6_cardio": "bc5009bde6930b4d298b594f31b34485a9a17210cff0e8fb00a8c3068b885a2d",
    "12_fault": "ec27301f9a4cf7c5d8b22c360cf37ddb043b7fb062465723dfd8b34e2771e5dd",
    "20_letter": "f986d3da80cf1fa2aea83a5ebe73b7d4800e0d4c01fdd1ae074b58d20f10d039",
    "26_optdigits": "60de17a375a278ba220a7849727d998aa02b5e2f9fd17732a004bba28de4656e",
    "30_satellite": "1f048f5686f1b8c16a227fdfa3c81a62cd9a92715714a6b24c69b1c5ad96b46e",
    "31_satimage-2": "1b056e357f801b8b20c3f380a30224a3c4088d7ed764ec5a24828dc9b1918d6f",
    "35_SpamBase": "d0c46c7928e43f6496bcd06e09de0b70f6bc8143792dfa0a43f450263d254e9b",
    "42_WBC": "650f9dcb129248f67a291be0974f533ef259fcbde50fce5c8ad2a1cb2652d03b",
    "44_Wilt": "c70b72aa611ec87b20efb400943ef3ce4f8bf7aa58fcef825fbd28cc5cee3cc9",
    "47_yeast": "bbb15c873d78a4f6a589f46d0f75814595e2282d2ae7ce7779c750f276c3770d",
}
RESOURCES = {name: Resource(f"{name}.npz", URL + f"{name}.npz", sha) for name, sha in _SHA256.items()}


def available(data_dir=None) -> list[str]:
    """Names of the known sets plus any ``.npz`` found in the search folders' ``adbench/``."""
    names = set(RESOURCES)
    for d in search_dirs(data_dir):
        names.update(p.stem for p in (d / FOLDER).glob("*.npz"))
    return sorted(names, key=lambda n: (int(n.split("_")[0]) if n.split("_")[0].isdigit() else 1 << 30, n))


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an ADBench ``.npz`` (``X``: (n, d) numbers, ``y``: 0 / 1, finite) without unpickling."""
    table = tabular.read_npz(path, x_key="X", y_key="y")
    x, y = table.x, table.y
    if x.ndim != 2:
        raise DataFileError(f"{path}: X must be a 2-D numeric array, got shape {x.shape}")
    if not np.isin(y, (0, 1)).all():
        raise DataFileError(f"{path}: y must hold 0 (normal) and 1 (anomaly) only")
    if not np.isfinite(x).all():
        raise DataFileError(f"{path}: X contains NaN or inf")
    return x, y.astype(np.int64)


def load(name: str, *, test_size: float = 0.3, seed: int = 0, **fetch_kw) -> Dataset:
    """Load one ADBench set with a stratified split (ADBench's protocol: 70 / 30)."""
    from sklearn.model_selection import train_test_split

    resource = RESOURCES.get(name)
    if resource is None:
        for d in search_dirs(fetch_kw.get("data_dir")):
            if (d / FOLDER / f"{name}.npz").is_file():
                resource = Resource(f"{name}.npz", "", "")
                break
        else:
            raise DatasetNotFoundError(
                f"unknown ADBench set {name!r}: not one of {sorted(RESOURCES)} and no "
                f"{FOLDER}/{name}.npz in the data folders"
            )
    path = fetch(FOLDER, resource, **fetch_kw)
    x, y = read_npz(path)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, stratify=y, random_state=seed)
    return Dataset(
        f"{FOLDER}/{name}",
        x_train,
        y_train,
        x_test,
        y_test,
        normal_labels=(0,),
        class_names=("normal", "anomaly"),
        info={"file": str(path), "protocol": f"stratified split, test_size={test_size}, seed={seed}"},
    )
