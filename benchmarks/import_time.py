"""What ``import hourglass`` costs beyond ``import torch`` (the goal: under 0.5 s).

Each measurement is a fresh Python process that imports torch, then hourglass, timing each with
``time.perf_counter``; ``--runs`` processes (default 15), the median reported, and which heavy
optional packages the import pulled in (scikit-learn, matplotlib, pandas, scipy, pyarrow, onnx:
none should be).

    python benchmarks/import_time.py

Writes benchmarks/results/import_time.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from common import write_json

CODE = """
import json, sys, time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
import hourglass
t2 = time.perf_counter()
heavy = [m for m in ("sklearn", "matplotlib", "pandas", "scipy", "pyarrow", "onnx") if m in sys.modules]
print(json.dumps({"torch": t1 - t0, "hourglass": t2 - t1, "heavy": heavy}))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    runs = [json.loads(subprocess.check_output([sys.executable, "-c", CODE], text=True)) for _ in range(args.runs)]
    torch_s = statistics.median(r["torch"] for r in runs)
    hg_s = statistics.median(r["hourglass"] for r in runs)
    heavy = sorted({m for r in runs for m in r["heavy"]})
    print(
        f"import torch: {torch_s:.3f} s; import hourglass after it: {hg_s:.3f} s (median of {args.runs}); "
        f"heavy packages loaded: {heavy or 'none'}"
    )
    write_json(
        "import_time",
        {
            "benchmark": "import_time",
            "runs": args.runs,
            "torch_seconds": torch_s,
            "hourglass_beyond_torch_seconds": hg_s,
            "heavy_packages_loaded": heavy,
            "all": runs,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
