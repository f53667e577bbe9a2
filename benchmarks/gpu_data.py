"""Fill benchmarks/gpu_data (ignored by git) with what benchmarks/gpu_check.sh needs on a GPU machine
that has no network and no copy of the data: Fashion-MNIST (speed.py) and two ADBench sets
(ensemble.py, adbench.py), the two long recordings (the series detector's tests on the GPU), about
33 MB, each file checked against its pinned sha256.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/gpu_data.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

import hourglass as hg
from hourglass.datasets import adbench, fashion_mnist, recordings
from hourglass.datasets.files import fetch

TARGET = Path(__file__).parent / "gpu_data"
SETS = ["6_cardio", "38_thyroid"]


def main():
    for resource in fashion_mnist.RESOURCES.values():
        _copy(fetch(fashion_mnist.NAME, resource, download=False), fashion_mnist.NAME)
    for name in SETS:
        _copy(fetch(adbench.FOLDER, adbench.RESOURCES[name], download=False), adbench.FOLDER)
    for folder, resource in recordings.KNOWN.values():
        _copy(fetch(folder, resource, download=False), folder)
    hg.datasets.load("fashion-mnist", data_dir=TARGET, download=False)  # loads from the copy alone
    print(f"filled {TARGET}: {sum(p.stat().st_size for p in TARGET.rglob('*') if p.is_file()) / 1e6:.1f} MB")


def _copy(path: Path, folder: str) -> None:
    dest = TARGET / folder / path.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, dest)


if __name__ == "__main__":
    main()
