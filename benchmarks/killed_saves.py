"""What killed saves leave behind, and what the next save removes (issue 42, item 7).

A writer process saves a large model (about 90 MB) in a loop and is SIGKILLed while a save's
temporary folder exists, ``--kills`` times; then one ordinary ``hg.save`` to the same target.
Prints and writes the bytes of ``.NAME.tmp-*`` / ``.NAME.old-*`` folders before and after it.

    python benchmarks/killed_saves.py          # about a minute

Writes benchmarks/results/killed_saves.json.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WRITER = (
    "import hourglass as hg, sys\n"
    "m = hg.create_model('dense', input_shape=(1, 28, 28), hidden=(4096,), latent_dim=2048, seed=0)\n"
    "while True: hg.save(m, sys.argv[1])\n"
)


def leftovers(folder: Path) -> tuple[int, int]:
    found = [p for p in folder.iterdir() if p.name.startswith(".big.")]
    return len(found), sum(f.stat().st_size for p in found for f in p.rglob("*") if f.is_file())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=6)
    ap.add_argument("--out")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from common import write_json

    import hourglass as hg

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        target, kills = folder / "big", 0
        while kills < args.kills:
            writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target)])
            while not list(folder.glob(".big.tmp-*")) and writer.poll() is None:
                time.sleep(0.001)
            time.sleep(0.02)  # into the write
            writer.send_signal(signal.SIGKILL)
            writer.wait()
            kills += 1
        before = leftovers(folder)
        start = time.perf_counter()
        hg.save(hg.create_model("stacked", seed=0), target)
        seconds = time.perf_counter() - start
        after = leftovers(folder)
    print(f"{kills} kills: {before[0]} leftover folders, {before[1] / 1e6:.0f} MB; after the next save: "
          f"{after[0]} folders, {after[1] / 1e6:.0f} MB (that save took {seconds:.2f} s)")  # fmt: skip
    payload = {"kills": kills, "before": {"folders": before[0], "bytes": before[1]},
               "after": {"folders": after[0], "bytes": after[1]}, "next_save_seconds": seconds}  # fmt: skip
    write_json("killed_saves", payload, args.out)


if __name__ == "__main__":
    main()
