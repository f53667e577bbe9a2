"""ONNX Runtime vs PyTorch inference throughput on CPU, in one run.

Models (trained briefly: throughput does not depend on how well a model is trained):
- ``ecg-stacked``: the ECG tutorial's dense 140-32-16-8-16-32-140 detector (bundled ECG5000);
- ``fashion-conv``: the ``conv`` model (strided Conv2d 32, 64 / ConvTranspose2d) on Fashion-MNIST;
- ``ecg-lstm``: the ``lstm`` sequence model (64 -> 32 -> 64) on ECG beats.
For each, the ``full`` part (x -> reconstruction) and the detector's ``scorer`` (raw x ->
reconstruction, score, flag) at batch 1 and 1024: rows / s of ``onnxruntime.InferenceSession.run``
against the PyTorch module called directly under ``torch.inference_mode`` (the fastest PyTorch
path, with no NumPy validation) and ``Detector.score_samples`` (what a user calls). Same threads
for both (``torch.get_num_threads()``); each figure is the median of 5 timed repeats after warm-up.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/onnx_speed.py [--quick]

Writes benchmarks/results/onnx_speed.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from common import write_json

import hourglass as hg


def rows_per_second(fn, rows: int, min_seconds: float) -> float:
    fn()  # warm-up
    times = []
    for _ in range(5):
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        times.append(elapsed / calls)
    return rows / statistics.median(times)


def build(name: str, quick: bool):
    ecg = hg.datasets.load("ecg5000", split="tutorial")
    normal = ecg.x_train[ecg.y_train == 1]
    if name == "ecg-stacked":
        model = hg.create_model("stacked", input_shape=(140,), hidden=(32, 16), latent_dim=8, seed=0)
        x_train, x_test = normal, ecg.x_test
    elif name == "ecg-lstm":
        model = hg.create_model("lstm", input_shape=(140,), hidden=(64,), latent_dim=32, seed=0)
        x_train, x_test = normal, ecg.x_test
    else:
        fashion = hg.datasets.load("fashion-mnist")
        model = hg.create_model("conv", input_shape=(1, 28, 28), seed=0)
        x_train, x_test = fashion.x_train[:4096], fashion.x_test
    hg.fit(model, x_train, epochs=1, batch_size=256, loss="mae", progress=False)
    det = hg.Detector(model, score="mae").fit(x_train)
    reps = 1024 // len(x_test) + 1
    return model, det, np.ascontiguousarray(np.concatenate([x_test] * reps)[:1024])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timing windows")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    min_seconds = 0.05 if args.quick else 0.3
    threads = torch.get_num_threads()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("ecg-stacked", "fashion-conv", "ecg-lstm"):
            model, det, x = build(name, args.quick)
            model.eval()
            for part in ("full", "scorer"):
                path = hg.export_onnx(det if part == "scorer" else model, Path(tmp) / f"{name}-{part}.onnx", part=part)
                session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                for batch in (1, 1024):
                    xb = x[:batch]
                    xt = torch.from_numpy(xb)
                    # each function is timed right here, so binding the loop's values as defaults
                    # only makes that explicit
                    if part == "full":

                        def torch_fn(model=model, xt=xt):
                            with torch.inference_mode():
                                model(xt)
                    else:

                        def torch_fn(det=det, xb=xb):
                            det.score_samples(xb)

                    torch_rps = rows_per_second(torch_fn, batch, min_seconds)
                    onnx_rps = rows_per_second(lambda s=session, xb=xb: s.run(None, {"x": xb}), batch, min_seconds)
                    key = f"{name}/{part}/batch{batch}"
                    results[key] = {
                        "pytorch_rows_per_s": torch_rps,
                        "onnxruntime_rows_per_s": onnx_rps,
                        "onnx_over_pytorch": onnx_rps / torch_rps,
                    }
                    print(
                        f"{key:32s} pytorch {torch_rps:12,.0f} rows/s   onnxruntime {onnx_rps:12,.0f} rows/s"
                        f"   ratio {onnx_rps / torch_rps:5.2f}",
                        flush=True,
                    )
    write_json("onnx_speed", {"threads": threads, "onnxruntime": ort.__version__, "results": results}, args.out)


if __name__ == "__main__":
    main()
