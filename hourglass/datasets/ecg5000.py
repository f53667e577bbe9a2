"""ECG5000 (UCR archive): 5,000 heartbeats of 140 samples, classes 1-5, class 1 normal.

The data ships inside the package (``_data/ecg5000.npz``, built by ``scripts/build_ecg5000.py``
from the UCR 2018 archive's TSV files), so the demo works offline.
"""

from __future__ import annotations

import zipfile
from importlib import resources

import numpy as np

from hourglass.datasets.base import Dataset, register_dataset
from hourglass.errors import DataFileError, InvalidInputError

NAME = "ecg5000"
CLASSES = {1: "Normal", 2: "R-on-T PVC", 3: "PVC", 4: "SP or EB", 5: "Unclassified beat"}  # labels are 1-5
NORMAL_LABELS = (1,)


def _read_bundled() -> dict[str, np.ndarray]:
    ref = resources.files("hourglass.datasets") / "_data" / "ecg5000.npz"
    try:
        with ref.open("rb") as f, np.load(f, allow_pickle=False) as z:
            return {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise DataFileError(f"the bundled ECG5000 file {ref} is damaged ({exc}); reinstall hourglass-ae") from None


@register_dataset(NAME)
def load(split: str = "ucr", *, data_dir=None, download=True, cache=None, base_url=None, progress=False) -> Dataset:
    """Load ECG5000.

    Parameters
    ----------
    split : {"ucr", "tutorial"}
        ``"ucr"``: the archive's own split, 500 train + 4,500 test rows, values as published.
        ``"tutorial"``: the classic Keras anomaly-detection tutorial's protocol: all 5,000 rows,
        ``train_test_split(test_size=0.2, random_state=21)``, min-max scaled to [0, 1] with the
        global min and max of the training split (the fitted scaler's description is in
        ``info["scaler"]``: ``hg.transforms.scaler_from_dict(info["scaler"])`` rebuilds it).
    data_dir, download, cache, base_url, progress
        Accepted so that every loader takes the same arguments; unused, the data ships with
        the package.

    Examples
    --------
    >>> ds = load("tutorial")
    >>> ds.x_train.shape, ds.x_test.shape
    ((4000, 140), (1000, 140))
    """
    arrays = _read_bundled()
    y_train = arrays["y_train"].astype(np.int64)
    y_test = arrays["y_test"].astype(np.int64)
    info = {"source": "UCR 2018 archive, ECG5000 (bundled)", "split": split}
    if split == "ucr":
        return Dataset(
            NAME,
            arrays["x_train"],
            y_train,
            arrays["x_test"],
            y_test,
            normal_labels=NORMAL_LABELS,
            class_names=CLASSES,
            info=info,
        )
    if split != "tutorial":
        raise InvalidInputError(f"ecg5000 split must be 'ucr' or 'tutorial', got {split!r}")

    from sklearn.model_selection import train_test_split

    x = np.concatenate([arrays["x_train"], arrays["x_test"]])
    y = np.concatenate([y_train, y_test])
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=21)
    # hg.MinMaxScaler(per_feature=False) written out: a data set does not depend on transforms
    low, high = np.float32(x_train.min()), np.float32(x_train.max())
    span = high - low
    info.update(
        protocol="train_test_split(test_size=0.2, random_state=21); global min-max of train",
        scaler={"type": "MinMaxScaler", "per_feature": False, "min": float(low), "max": float(high)},
    )
    return Dataset(
        NAME,
        ((x_train - low) / span).astype(np.float32),
        y_train,
        ((x_test - low) / span).astype(np.float32),
        y_test,
        normal_labels=NORMAL_LABELS,
        class_names=CLASSES,
        info=info,
    )
