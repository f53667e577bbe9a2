"""Build the ECG5000 file that ships inside the package.

The source is the UCR 2018 archive's ECG5000 (tab separated: class label, then 140 values),
as stored in ``$HOURGLASS_DATA_DIR/ecg5000/``. The output keeps the UCR split and labels
unchanged, stored as float32 values and int8 labels in a compressed ``.npz``:

    python scripts/build_ecg5000.py ../shared/data hourglass/datasets/_data/ecg5000.npz
"""

import hashlib
import sys
from pathlib import Path

import numpy as np


def read_ucr(path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(path, delimiter="\t", dtype=np.float64)
    return table[:, 1:].astype(np.float32), table[:, 0].astype(np.int8)


def main(data_dir: str, out: str) -> None:
    src = Path(data_dir) / "ecg5000"
    x_train, y_train = read_ucr(src / "ECG5000_TRAIN.tsv")
    x_test, y_test = read_ucr(src / "ECG5000_TEST.tsv")
    assert x_train.shape == (500, 140) and x_test.shape == (4500, 140)
    np.savez_compressed(out, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    digest = hashlib.sha256(Path(out).read_bytes()).hexdigest()
    print(f"wrote {out} ({Path(out).stat().st_size} bytes, sha256 {digest})")


if __name__ == "__main__":
    main(*sys.argv[1:3])
