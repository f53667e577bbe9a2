"""Shared fixtures. Tests read the real data sets from HOURGLASS_DATA_DIR (default: ../shared/data
beside the repository) and train real models for a few steps on small slices."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# Resolved once, against the directory the command was given in: the guides', notebooks' and CLI
# tests run subprocesses in other working directories, where a relative ../shared/data would point
# elsewhere, so they inherit the absolute path.
_GIVEN = os.environ.get("HOURGLASS_DATA_DIR") or REPO.parent / "shared" / "data"
DATA_DIR = Path(os.path.abspath(os.path.expanduser(_GIVEN)))
os.environ["HOURGLASS_DATA_DIR"] = str(DATA_DIR)
# One thread per test process (pytest-xdist runs one process per core): the automatic policy would
# pick counts from the other worker's load, and a convolution's last bits depend on the count, so
# the tests that compare two fits bit for bit would depend on what ran beside them.
# tests/test_threads.py lifts this to test the policy itself.
os.environ.setdefault("HOURGLASS_THREADS", "1")


def pytest_report_header(config):
    return f"HOURGLASS_DATA_DIR={DATA_DIR}"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "fashion-mnist").is_dir():
        pytest.fail(f"the shared data sets are not at {DATA_DIR}; set HOURGLASS_DATA_DIR")
    return DATA_DIR


@pytest.fixture(scope="session")
def fashion(data_dir):
    import hourglass as hg

    return hg.datasets.load("fashion-mnist", data_dir=data_dir, download=False)


@pytest.fixture(scope="session")
def fashion_small(fashion):
    """2,000 training and 500 test images."""
    return fashion.x_train[:2000], fashion.x_test[:500]


@pytest.fixture(scope="session")
def ecg():
    import hourglass as hg

    return hg.datasets.load("ecg5000", split="tutorial")


@pytest.fixture(scope="session")
def ecg_detector(ecg):
    """The tutorial's ECG detector, fully trained (20 epochs of 5 steps: about a second)."""
    import hourglass as hg

    normal = ecg.x_train[ecg.y_train == 1]
    model = hg.create_model("stacked", input_shape=(140,), hidden=(32, 16), latent_dim=8, seed=0)
    history = hg.fit(
        model, normal, epochs=20, batch_size=512, loss="mae", validation=ecg.x_test, seed=0, progress=False
    )
    det = hg.Detector(model, score="mae", threshold=hg.MeanStd(k=1.0)).fit(normal)
    return det, history


@pytest.fixture
def rng():
    return np.random.default_rng(0)
