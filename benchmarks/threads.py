"""Where two intra-op threads pay on a quiet machine: the measurement behind ``SMALL_OP_MACS``.

For each model and batch size, one ``hg.fit`` step with one thread against the same step with
``cpu_limit()`` threads (``threads=`` fixed, so the policy stays out of the way), on an otherwise
quiet machine; the work per operation is what :func:`hourglass.threads.work_per_op` computes.
Blocks of steps alternate between the two counts (``--rounds`` each), and each figure is the
median block. The ratio ``one thread / all threads`` above 1 means the threads paid. Below
``SMALL_OP_MACS`` the automatic policy runs one thread whatever the load.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/threads.py   # about 2 minutes on 2 cores

Writes benchmarks/results/threads.json.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import hourglass as hg
from hourglass.threads import SMALL_OP_MACS, cpu_limit, work_per_op

try:
    from common import write_json
except ImportError:  # imported as benchmarks.threads
    from benchmarks.common import write_json

# (model, input shape, batch sizes, create_model options)
CASES = [
    ("stacked", (140,), (64, 512), {}),  # the ECG tutorial's model
    ("dense-ensemble", (10,), (128,), {"n_members": 6, "hidden": (8,), "latent_dim": 3}),  # a table's default
    ("dense", (1, 28, 28), (16, 32, 64, 128, 256), {}),  # the 784-64-784 tutorial
    ("conv", (1, 28, 28), (8, 16, 32, 128), {}),  # the denoiser
    ("conv1d", (1, 140), (32, 128), {}),
]


def data_for(shape, rng) -> np.ndarray:
    if shape == (1, 28, 28):
        fm = hg.datasets.load("fashion-mnist", download=False)
        return fm.x_train[:4096]
    if shape == (1, 140):
        return hg.datasets.load("ecg5000").x_train[:, None, :]
    if shape == (140,):
        return hg.datasets.load("ecg5000").x_train
    return rng.standard_normal((4096, *shape)).astype(np.float32)


def step_ms(model, x, batch, threads, steps) -> float:
    start = time.perf_counter()
    hg.fit(model, x, epochs=1, batch_size=batch, steps_per_epoch=steps, progress=False, threads=threads)
    return (time.perf_counter() - start) / steps * 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=30, help="steps per timed block")
    ap.add_argument("--out")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    most = cpu_limit()
    rows = []
    for name, shape, batches, opts in CASES:
        x = data_for(shape, rng)
        for batch in batches:
            model = hg.create_model(name, input_shape=shape, seed=0, **opts)
            step_ms(model, x, batch, 1, 3)  # warm-up: allocations, oneDNN's kernel choice
            times = {1: [], most: []}
            for _ in range(args.rounds):
                for threads in times:
                    times[threads].append(step_ms(model, x, batch, threads, args.steps))
            one, many = statistics.median(times[1]), statistics.median(times[most])
            row = {
                "model": name,
                "batch_size": batch,
                "work_per_op": work_per_op(model, batch),
                "ms_one_thread": one,
                f"ms_{most}_threads": many,
                "one_over_many": one / many,
                "policy_threads_alone": 1 if work_per_op(model, batch) < SMALL_OP_MACS else most,
            }
            rows.append(row)
            print(
                f"{name:15s} batch {batch:4d}  work/op {row['work_per_op']:10.3g}  1 thread {one:7.2f} ms  "
                f"{most} threads {many:7.2f} ms  ratio {one / many:5.2f}",
                flush=True,
            )
    write_json("threads", {"small_op_macs": SMALL_OP_MACS, "cpus": most, "rounds": args.rounds, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
