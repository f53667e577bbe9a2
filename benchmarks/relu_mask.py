"""The ReLU backward of the conv denoiser's hand-written step: ways of applying a ReLU's mask to a
gradient, on the four activations of hg.fit's conv model at batch 32 (channels-last, as hg.fit
trains it), each the median of repeated calls, in rounds.

- ``masked_fill_``: ``g.masked_fill_(y <= 0, 0)`` (the first written-out step's form);
- ``where``: ``torch.where(y > 0, g, 0)``;
- ``sign multiply`` (hourglass, ``models/gradients.py``): ``g.mul_(y.sign())``;
- ``threshold_backward``: the private ``aten.threshold_backward`` autograd's ReLU backward runs.

All four give the same values (checked). Each call gets a fresh copy of the gradient, timed apart
from the copy.

    python benchmarks/relu_mask.py

Prints the microseconds per call; writes benchmarks/results/relu_mask.json.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import write_json

CL = torch.channels_last
# the conv model's four ReLU outputs at batch 32: (channels, height, width)
SHAPES = {"encoder 1": (16, 14, 14), "encoder 2": (8, 7, 7), "decoder 1": (8, 14, 14), "decoder 2": (16, 28, 28)}
FORMS = {
    "masked_fill_": lambda g, y: g.masked_fill_(y <= 0, 0.0),
    "where": lambda g, y: torch.where(y > 0, g, 0.0),
    "sign multiply (hourglass)": lambda g, y: g.mul_(y.sign()),
    "threshold_backward": lambda g, y: torch.ops.aten.threshold_backward(g, y, 0),
}


def time_form(form, g, y, calls: int) -> float:
    """Median microseconds of one call over ``calls`` calls, each on a fresh copy of ``g``."""
    copies = [g.clone() for _ in range(calls)]
    times = []
    for c in copies:
        start = time.perf_counter()
        form(c, y)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.manual_seed(0)
    rows = []
    for name, shape in SHAPES.items():
        y = torch.randn(32, *shape).relu_().contiguous(memory_format=CL)
        g = torch.randn(32, *shape).contiguous(memory_format=CL)
        want = FORMS["threshold_backward"](g, y)
        assert all(torch.equal(form(g.clone(), y), want) for form in FORMS.values())
        us = {form: [] for form in FORMS}
        for _ in range(args.rounds):
            for form, fn in FORMS.items():
                us[form].append(time_form(fn, g, y, args.calls))
        row = {"activation": name, "shape": [32, *shape], "us": {f: statistics.median(v) for f, v in us.items()}}
        rows.append(row)
        print(f"{name} {row['shape']}: " + ", ".join(f"{f} {v:.1f} us" for f, v in row["us"].items()), flush=True)
    write_json(
        "relu_mask", {"benchmark": "relu_mask", "rounds": args.rounds, "calls": args.calls, "rows": rows}, args.out
    )


if __name__ == "__main__":
    main()
