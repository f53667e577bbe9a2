"""The three examples of the classic Keras autoencoder tutorial, reproduced with hourglass.

1. Fashion-MNIST, dense AE (784-64-784), 10 epochs, batch 32, MSE; tutorial: val MSE 0.0089.
2. Fashion-MNIST, conv denoiser on Gaussian noise 0.2 (clipped to [0, 1]), 10 epochs, batch 32;
   tutorial: val MSE 0.0071. The validation inputs are noisy test images (fixed noise), the targets
   clean, as in the tutorial; training noise is redrawn every step.
3. ECG5000, tutorial protocol (80/20 split, random_state=21, global min-max), stacked AE
   140-32-16-8, trained on normal beats, 20 epochs, batch 512, MAE; threshold mean + 1 std of the
   normal training errors. The tutorial reports accuracy 0.944, precision 0.992, recall 0.907 with
   *normal* as the positive class; both conventions are written here.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/tutorials.py [--seeds 0 1 2] [--quick]

Writes benchmarks/results/tutorials.json.
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import write_json

import hourglass as hg

TARGETS = {
    "fashion_dense_val_mse": 0.0090,
    "fashion_denoise_val_mse": 0.0073,
    "ecg_accuracy": 0.94,
    "ecg_precision_normal": 0.99,
    "ecg_recall_normal": 0.90,
}


def fashion(model_name, seed, epochs, denoise, n_train=None):
    ds = hg.datasets.load("fashion-mnist")
    x_train, x_test = ds.x_train[:n_train], ds.x_test
    model = hg.create_model(model_name, input_shape=(1, 28, 28), seed=seed)
    corruption = hg.GaussianNoise(0.2, clip=(0, 1)) if denoise else None
    start = time.perf_counter()
    history = hg.fit(
        model,
        x_train,
        corruption=corruption,
        epochs=epochs,
        batch_size=32,
        loss="mse",
        validation=x_test,
        seed=seed,
        progress=False,
    )
    return {
        "seed": seed,
        "val_mse": history.val_loss[-1],
        "train_mse": history.train_loss[-1],
        "val_curve": history.val_loss,
        "seconds": time.perf_counter() - start,
    }


def ecg(seed, epochs=20):
    ds = hg.datasets.load("ecg5000", split="tutorial")
    normal = ds.x_train[ds.y_train == 1]
    model = hg.create_model("stacked", input_shape=(140,), hidden=(32, 16), latent_dim=8, seed=seed)
    start = time.perf_counter()
    hg.fit(model, normal, epochs=epochs, batch_size=512, loss="mae", validation=ds.x_test, seed=seed, progress=False)
    det = hg.Detector(model, score="mae", threshold=hg.MeanStd(k=1.0)).fit(normal)
    m = det.evaluate(ds.x_test, ds.is_anomaly(ds.y_test))
    tn, fn, fp = m["tn"], m["fn"], m["fp"]
    return {
        "seed": seed,
        "accuracy": m["accuracy"],
        "auroc": m["auroc"],
        "auprc": m["auprc"],
        "precision_normal": tn / (tn + fn),
        "recall_normal": tn / (tn + fp),
        "precision_anomaly": m["precision"],
        "recall_anomaly": m["recall"],
        "f1_anomaly": m["f1"],
        "threshold": m["threshold"],
        "seconds": time.perf_counter() - start,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--quick", action="store_true", help="1 seed, 1 epoch, 6,000 images: a smoke run")
    ap.add_argument("--out")
    args = ap.parse_args()
    epochs, n_train = (1, 6000) if args.quick else (10, None)
    seeds = args.seeds[:1] if args.quick else args.seeds

    results = {"dense": [], "denoise": [], "ecg": []}
    for seed in seeds:
        results["ecg"].append(ecg(seed))
        print("ecg", {k: round(v, 4) for k, v in results["ecg"][-1].items()}, flush=True)
        results["dense"].append(fashion("dense", seed, epochs, False, n_train))
        print("fashion dense", seed, round(results["dense"][-1]["val_mse"], 5), flush=True)
        results["denoise"].append(fashion("conv", seed, epochs, True, n_train))
        print("fashion conv denoise", seed, round(results["denoise"][-1]["val_mse"], 5), flush=True)

    def agg(rows, key, fn=statistics.mean):
        return fn([r[key] for r in rows])

    summary = {
        "fashion_dense_val_mse": agg(results["dense"], "val_mse"),
        "fashion_denoise_val_mse": agg(results["denoise"], "val_mse", statistics.median),
        "ecg_accuracy": agg(results["ecg"], "accuracy"),
        "ecg_precision_normal": agg(results["ecg"], "precision_normal"),
        "ecg_recall_normal": agg(results["ecg"], "recall_normal"),
        "ecg_auroc": agg(results["ecg"], "auroc"),
    }
    print("\nsummary (dense: mean of seeds; denoiser: median; ECG: mean)")
    for key, value in summary.items():
        target = TARGETS.get(key)
        ok = (
            "" if target is None else ("  ok" if (value <= target if "mse" in key else value >= target) else "  MISSED")
        )
        print(
            f"  {key:26s} {value:.4f}" + (f"  (target {'<=' if 'mse' in key else '>='} {target}){ok}" if target else "")
        )
    write_json(
        "tutorials" + ("_quick" if args.quick else ""),
        {
            "benchmark": "tutorials",
            "epochs": epochs,
            "seeds": seeds,
            "summary": summary,
            "targets": TARGETS,
            "runs": results,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
