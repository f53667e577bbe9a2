"""This checkout's fit times against an earlier commit's, paired, in one run: no worse by more than noise.

    git worktree add ../before 57cd8ab          # the commit to compare against
    HOURGLASS_DATA_DIR=../shared/data python benchmarks/release_speed.py --before ../before

Each workload runs in a fresh process with ``PYTHONPATH`` on one checkout, the two checkouts in
turn (the order flipped every round, so that both meet the same machine conditions); the figure is
the median over rounds of the paired ratio, this checkout's seconds over the earlier one's:

- ``dense``: ``hg.fit`` of the Fashion-MNIST tutorial's 784-64-784 model, 2 epochs at batch 32 on
  20,000 images (``benchmarks/speed.py``'s model; the seconds of ``history.epoch_seconds``);
- ``conv``: the conv denoiser (noise 0.2), 1 epoch at batch 32 on 10,000 images;
- ``detector-<set>``: ``hg.AutoencoderDetector(random_state=0).fit`` on an ADBench set's training
  split (``benchmarks/adbench.py``'s protocol, seed 0), the whole call.

Writes benchmarks/results/release_speed.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import write_json

ROOT = Path(__file__).resolve().parent.parent

FIT = """
import time, hourglass as hg
fm = hg.datasets.load("fashion-mnist")
model = hg.create_model("{model}", input_shape=(1, 28, 28), seed=0)
noise = hg.GaussianNoise(0.2, clip=(0, 1)) if "{model}" == "conv" else None
h = hg.fit(model, fm.x_train[:{rows}], epochs={epochs}, batch_size=32, corruption=noise, progress=False)
print(sum(h.epoch_seconds))
"""

DETECTOR = """
import time, hourglass as hg
ds = hg.datasets.load("adbench/{name}", seed=0)
start = time.perf_counter()
hg.AutoencoderDetector(random_state=0, progress=False).fit(ds.x_train)
print(time.perf_counter() - start)
"""

WORKLOADS = {
    "dense": FIT.format(model="dense", rows=20000, epochs=2),
    "conv": FIT.format(model="conv", rows=10000, epochs=1),
    **{f"detector-{n}": DETECTOR.format(name=n) for n in ("38_thyroid", "6_cardio", "2_annthyroid")},
}


def seconds(checkout: Path, code: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    if "HOURGLASS_DATA_DIR" in env:  # relative to where the command was given, not the temp folder
        env["HOURGLASS_DATA_DIR"] = str(Path(env["HOURGLASS_DATA_DIR"]).resolve())
    with tempfile.TemporaryDirectory() as cwd:  # so that neither checkout shadows the other
        out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{checkout}: {out.stderr[-2000:]}")
    return float(out.stdout.split()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, type=Path, help="a checkout of the earlier commit")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workloads", nargs="+", default=list(WORKLOADS))
    ap.add_argument("--out")
    args = ap.parse_args()
    checkouts = {"before": args.before.resolve(), "after": ROOT}
    rows = []
    for name in args.workloads:
        times = {"before": [], "after": []}
        for r in range(args.rounds):
            for side in ("before", "after") if r % 2 == 0 else ("after", "before"):
                times[side].append(seconds(checkouts[side], WORKLOADS[name]))
        ratios = [a / b for a, b in zip(times["after"], times["before"])]
        row = {
            "workload": name,
            "before_seconds": times["before"],
            "after_seconds": times["after"],
            "after_over_before_median": statistics.median(ratios),
            "after_over_before_min": min(ratios),
            "after_over_before_max": max(ratios),
        }
        rows.append(row)
        print(
            f"{name:22s} before {statistics.median(times['before']):6.2f} s  after "
            f"{statistics.median(times['after']):6.2f} s  after / before {row['after_over_before_median']:.3f} "
            f"(paired {min(ratios):.2f}-{max(ratios):.2f})",
            flush=True,
        )

    def commit(path):
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True).stdout.strip()

    payload = {"benchmark": "release_speed", "before": commit(args.before), "after": commit(ROOT)}
    payload.update(rounds=args.rounds, results=rows)
    write_json("release_speed", payload, args.out)


if __name__ == "__main__":
    main()
