"""Helpers shared by the benchmark scripts: environment facts and JSON output."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"


def environment() -> dict:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def run_times(fn, repeats: int) -> list[float]:
    """Seconds of ``repeats`` calls of ``fn``, one after another."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def earlier_rows(name: str, out: str | None = None) -> list[dict]:
    """The ``rows`` an earlier run wrote to the same output file (``--resume``: a long benchmark
    goes on where it stopped, in another session or after an interruption)."""
    path = Path(out) if out else RESULTS / f"{name}.json"
    return json.loads(path.read_text())["rows"] if path.exists() else []


def write_json(name: str, payload: dict, out: str | None = None) -> Path:
    path = Path(out) if out else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"environment": environment(), **payload}, indent=2))
    tmp.replace(path)
    print(f"wrote {path}")
    return path
