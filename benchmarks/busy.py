"""Fit times where users are: alone, and beside other work on the same CPUs.

Each fit runs in a fresh process and times the fit alone (imports and data loading are left
out). Models and methods:

- ``tabular``: the default ``hg.AutoencoderDetector(random_state=0)`` on ADBench's thyroid
  (3,772 x 6; cardio, 1,831 x 21, as the second data set), with scikit-learn's
  ``IsolationForest`` and PyOD's ``AutoEncoder`` (``pip install -e ".[bench]"``) on the same rows;
- ``series``: ``hg.SeriesDetector(random_state=0)`` on the first 1,000 steps of TSB-AD's NAB
  traffic file (the NAB web-service file as the second);
- ``conv``: the conv denoiser, ``hg.fit`` with ``GaussianNoise(0.2)``, 2 epochs of 3,200
  Fashion-MNIST images at batch 32 (the next 3,200 as the second);
- ``dense``: the 784-64-784 tutorial model, ``hg.fit``, 2 epochs of 25,600 Fashion-MNIST images
  at batch 256 (the next 25,600 as the second), work large enough for the policy to take two
  threads on an idle machine.

Each hourglass fit runs twice: with the thread policy (``threads="auto"``, the default) and
with torch's default thread count fixed (``threads=N``, N = ``torch.get_num_threads()`` at start:
what hourglass did before the policy). The conditions:

- ``alone``: nothing else runs;
- ``pair``: two such fits at once, each in its own process;
- ``busy``: beside one busy process (a Python loop) per CPU;
- ``torch-job``: beside a torch job of two threads (matrix products in a loop), such as a second
  notebook's training;
- ``dask``: two fits on a 2-worker Dask ``LocalCluster`` (processes, one thread each), one per worker;
- ``joblib``: ``joblib.Parallel(n_jobs=2)`` over the two data sets.

Every process warms up first (a short fit of the same kind: lazy imports, first-call costs), as
a Dask or joblib worker that fits twice would, so that the conditions compare like with like.

The figure is each fit's seconds over the same fit's seconds alone (the median of
``--repeats``); a fit that outlasts ``--timeout`` counts as that long.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/busy.py          # about 15 minutes on 2 cores

Writes benchmarks/results/busy.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
MODELS = {
    "tabular": ["hourglass", "hourglass-torch-threads", "isolation-forest", "pyod-autoencoder"],
    "series": ["hourglass", "hourglass-torch-threads"],
    "conv": ["hourglass", "hourglass-torch-threads"],
    "dense": ["hourglass", "hourglass-torch-threads"],
}
CONDITIONS = ["alone", "pair", "busy", "torch-job", "dask", "joblib"]
TABLES = ["38_thyroid", "6_cardio"]
SERIES = ["009_NAB_id_9_Traffic_tr_500_1st_438.csv", "002_NAB_id_2_WebService_tr_1500_1st_4106.csv"]


def fit_once(model: str, method: str, k: int, threads: int) -> dict:
    """One fit in this process; ``threads`` is torch's default count in a fresh process."""
    import numpy as np
    import torch

    import hourglass as hg

    data = Path(os.environ.get("HOURGLASS_DATA_DIR", HERE.parents[2] / "shared" / "data"))
    option = "auto" if method == "hourglass" else threads
    if model == "tabular":
        x = np.load(data / "adbench" / f"{TABLES[k]}.npz")["X"].astype(np.float32)
        if method == "isolation-forest":
            from sklearn.ensemble import IsolationForest

            est = IsolationForest(random_state=0)
        elif method == "pyod-autoencoder":
            from pyod.models.auto_encoder import AutoEncoder

            est = AutoEncoder(random_state=0, verbose=0, device="cpu")
        else:
            est = hg.AutoencoderDetector(random_state=0, threads=option)
        fit = lambda: est.fit(x)  # noqa: E731
        warm_up = lambda: type(est)(**est.get_params()).fit(x[:300])  # noqa: E731
    elif model == "series":
        import pandas as pd

        x = pd.read_csv(data / "tsb-ad" / SERIES[k]).iloc[:1000, 0].to_numpy(np.float32)
        fit = lambda: hg.SeriesDetector(random_state=0, threads=option).fit(x)  # noqa: E731
        warm_up = lambda: hg.SeriesDetector(random_state=0, threads=option, epochs=1).fit(x)  # noqa: E731
    elif model == "dense":
        fm = hg.datasets.load("fashion-mnist", data_dir=data, download=False)
        x = fm.x_train[25600 * k : 25600 * (k + 1)]
        net = hg.create_model("dense", input_shape=(1, 28, 28), seed=0)
        fit = lambda: hg.fit(net, x, epochs=2, batch_size=256, progress=False, threads=option)  # noqa: E731
        warm = hg.create_model("dense", input_shape=(1, 28, 28), seed=0)
        warm_up = lambda: hg.fit(warm, x[:2560], epochs=1, batch_size=256, progress=False, threads=option)  # noqa: E731
    else:
        fm = hg.datasets.load("fashion-mnist", data_dir=data, download=False)
        x = fm.x_train[3200 * k : 3200 * (k + 1)]
        net = hg.create_model("conv", input_shape=(1, 28, 28), seed=0)
        noise = hg.GaussianNoise(0.2, clip=(0, 1))
        fit = lambda: hg.fit(net, x, corruption=noise, epochs=2, batch_size=32, progress=False, threads=option)  # noqa: E731
        warm = hg.create_model("conv", input_shape=(1, 28, 28), seed=0)
        warm_up = lambda: hg.fit(warm, x[:320], corruption=noise, epochs=1, progress=False, threads=option)  # noqa: E731
    warm_up()  # lazy imports and first-call costs, which a worker that fits twice pays once
    start = time.perf_counter()
    fit()
    return {"seconds": time.perf_counter() - start, "torch_threads": torch.get_num_threads(), "pid": os.getpid()}


def worker(model: str, method: str, k: int, timeout: float) -> subprocess.Popen:
    cmd = [sys.executable, str(HERE), "--worker", model, method, str(k)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def collect(procs, timeout: float) -> list[float]:
    out, deadline = [], time.monotonic() + timeout
    for p in procs:
        try:
            stdout, _ = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            out.append(json.loads(stdout.strip().splitlines()[-1])["seconds"])
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            out.append(timeout)
    return out


def background(kind: str, cpus: int) -> list[subprocess.Popen]:
    if kind == "busy":
        code = "while True: pass"
        return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(cpus)]
    code = "import torch\ntorch.set_num_threads(2)\na = torch.randn(512, 512)\nwhile True:\n    b = torch.relu(a @ a)\n"
    return [subprocess.Popen([sys.executable, "-c", code])]


def run_condition(condition: str, model: str, method: str, timeout: float) -> list[float]:
    """Seconds of each fit of one model under one condition."""
    if condition == "alone":
        return collect([worker(model, method, 0, timeout)], timeout)
    if condition == "pair":
        return collect([worker(model, method, 0, timeout) for _ in range(2)], timeout)
    if condition in ("busy", "torch-job"):
        from hourglass.threads import cpu_limit

        others = background(condition, cpu_limit())
        time.sleep(1.0)  # let them get going
        try:
            return collect([worker(model, method, 0, timeout)], timeout)
        finally:
            for p in others:
                p.kill()
                p.wait()
    if condition == "dask":
        # a cluster of its own for this condition only: an idle LocalCluster kept alive through
        # the run (scheduler and workers' heartbeats) slowed the "alone" fits of the tabular
        # default by 1.6x (1.22 s against 0.77 s), so no other condition runs beside one
        from distributed import Client, LocalCluster

        environ = dict(os.environ)  # LocalCluster writes its workers' settings into ours
        with (
            contextlib.ExitStack() as undo,
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc,
        ):
            undo.callback(lambda: (os.environ.clear(), os.environ.update(environ)))
            with Client(lc) as client:
                futures = [client.submit(remote_fit, model, method, 0, pure=False) for _ in range(2)]
                return [f.result(timeout=timeout * 2)["seconds"] for f in futures]
    from joblib import Parallel, delayed

    done = Parallel(n_jobs=2)(delayed(remote_fit)(model, method, k) for k in (0, 1))
    return [d["seconds"] for d in done]


def remote_fit(model: str, method: str, k: int) -> dict:
    """A fit in a Dask or joblib worker: the thread count its own process starts with."""
    import torch

    sys.path.insert(0, str(HERE.parent))
    return fit_once(model, method, k, torch.get_num_threads())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--conditions", nargs="+", default=CONDITIONS, choices=CONDITIONS)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--worker", nargs=3, metavar=("MODEL", "METHOD", "K"), help=argparse.SUPPRESS)
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.worker:
        import torch

        model, method, k = args.worker
        print(json.dumps(fit_once(model, method, int(k), torch.get_num_threads())))
        return
    sys.path.insert(0, str(HERE.parent))
    from common import write_json

    rows = []
    for model in args.models:
        for method in MODELS[model]:
            alone_k1 = None
            for condition in args.conditions:
                runs = [run_condition(condition, model, method, args.timeout) for _ in range(args.repeats)]
                seconds = [statistics.median(r[i] for r in runs) for i in range(len(runs[0]))]
                row = {"model": model, "method": method, "condition": condition, "seconds": seconds}
                rows.append(row)
                figures = " ".join(f"{s:7.2f}s" for s in seconds)
                print(f"{model:8s} {method:24s} {condition:10s} {figures}", flush=True)
            if "joblib" in args.conditions:  # its second fit is of the second data set
                alone_k1 = statistics.median(collect([worker(model, method, 1, args.timeout)], args.timeout)[0]
                                             for _ in range(args.repeats))  # fmt: skip
                rows.append({"model": model, "method": method, "condition": "alone-second", "seconds": [alone_k1]})
    payload = {"timeout": args.timeout, "repeats": args.repeats, "rows": rows, "summary": summary(rows)}
    write_json("busy", payload, args.out)


def summary(rows: list[dict]) -> list[dict]:
    """Each fit's slowdown: its seconds over the same fit's seconds alone (the worst of its fits)."""
    alone = {(r["model"], r["method"]): r["seconds"][0] for r in rows if r["condition"] == "alone"}
    second = {(r["model"], r["method"]): r["seconds"][0] for r in rows if r["condition"] == "alone-second"}
    out = []
    for r in rows:
        key = (r["model"], r["method"])
        if r["condition"] in ("alone", "alone-second") or key not in alone:
            continue
        bases = [alone[key], second.get(key, alone[key])] if r["condition"] == "joblib" else [alone[key]] * 2
        slow = max(s / b for s, b in zip(r["seconds"], bases))
        out.append({**r, "slowdown": slow})
    return out


if __name__ == "__main__":
    main()
