"""Seconds to write the full HTML report (hg.report) for the ECG demo and a Fashion-MNIST detector.

- ``ecg-demo``: what ``hourglass demo`` writes: the ecg-anomaly recipe's detector (stacked
  140-32-16-8, 20 epochs), reported on the tutorial's 1,000 test beats, figures also saved as PNG.
- ``fashion-detector``: a one-class detector (``conv`` (32, 64) + 16-d code, trained on the 6,000
  sneakers for 3 epochs), reported on the full 10,000-image test set with labels (ROC, PR,
  histograms, reconstructions, top anomalies, per-pixel heatmaps, latent scatter of 5,000 codes).
Training is not timed; each report is written 3 times and the median is reported, with the
file's size.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/report_time.py

Writes benchmarks/results/report_time.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from common import write_json

import hourglass as hg


def time_report(obj, x, y, repeats: int, **kwargs) -> dict:
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            start = time.perf_counter()
            path = hg.report(obj, x, y, out=Path(tmp), **kwargs)
            seconds.append(time.perf_counter() - start)
        size = path.stat().st_size
        images = path.read_text().count("<img ")
    return {
        "seconds_median": statistics.median(seconds),
        "seconds": seconds,
        "bytes": size,
        "images": images,
        "samples": len(x),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    results = {}

    with tempfile.TemporaryDirectory() as tmp:
        run = hg.run_recipe("ecg-anomaly", Path(tmp) / "demo", progress=False)
    data = run.data
    results["ecg-demo"] = time_report(
        run.detector,
        data.x_test,
        data.y_test,
        args.repeats,
        history=run.history,
        class_labels=data.classes_test,
        class_names=data.class_names,
        title="ECG5000 anomaly detection",
        save_figures=True,
    )
    print(
        f"ecg-demo          {results['ecg-demo']['seconds_median']:.2f} s "
        f"({results['ecg-demo']['images']} figures, {results['ecg-demo']['bytes'] / 1e6:.2f} MB)",
        flush=True,
    )

    fashion = hg.datasets.load("fashion-mnist")
    sneakers = hg.datasets.one_vs_rest(fashion, normal=[7])
    model = hg.create_model("conv", input_shape=(1, 28, 28), channels=(32, 64), latent_dim=16, seed=0)
    history = hg.fit(model, sneakers.x_train, epochs=3, batch_size=128, seed=0, progress=False)
    det = hg.Detector(model, score="mse", threshold=hg.Percentile(95)).fit(sneakers.x_train)
    results["fashion-detector"] = time_report(
        det,
        sneakers.x_test,
        sneakers.y_test,
        args.repeats,
        history=history,
        class_labels=fashion.y_test,
        class_names=fashion.class_names,
        title="Fashion-MNIST: sneakers as the normal class",
    )
    r = results["fashion-detector"]
    print(
        f"fashion-detector  {r['seconds_median']:.2f} s ({r['images']} figures, {r['bytes'] / 1e6:.2f} MB, "
        f"AUROC {det.evaluate(sneakers.x_test, sneakers.y_test)['auroc']:.3f})",
        flush=True,
    )
    write_json("report_time", {"results": results}, args.out)


if __name__ == "__main__":
    main()
