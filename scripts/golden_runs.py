"""Train a fixed set of configurations and save their weights, to compare two versions of hg.fit
bit for bit (the check behind a refactor that must not change results).

    PYTHONPATH=<tree A> python scripts/golden_runs.py train OUT_A
    PYTHONPATH=<tree B> python scripts/golden_runs.py train OUT_B
    python scripts/golden_runs.py compare OUT_A OUT_B

(e.g. tree A = a `git worktree` of 0.1.0, commit 3779685). Needs HOURGLASS_DATA_DIR for
Fashion-MNIST. Twelve configurations cover every model family and training option: corruption,
validation, early stopping, trim, steps_per_epoch, bce, KL warm-up, labels, no shuffle, weight decay;
plus the scores of a default two-member AutoencoderDetector.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np


def train(out: str) -> None:
    from safetensors.torch import save_file

    import hourglass as hg

    os.makedirs(out, exist_ok=True)
    ds = hg.datasets.load("ecg5000", split="tutorial")
    normal = ds.x_train[ds.y_train == 1][:700]
    val = ds.x_train[ds.y_train == 1][700:900]
    fm = hg.datasets.load("fashion-mnist", data_dir=os.environ["HOURGLASS_DATA_DIR"])
    img = fm.x_train[:512]
    imgv = fm.x_test[:128]
    lab = fm.y_train[:512]
    labv = fm.y_test[:128]
    configs = {
        "stacked-mae": lambda: (
            hg.create_model("stacked", input_shape=(140,), seed=0),
            dict(x=normal, epochs=3, batch_size=64, loss="mae"),
        ),
        "stacked-trim-val-es": lambda: (
            hg.create_model("stacked", input_shape=(140,), seed=1, dropout=0.2),
            dict(x=normal, epochs=6, batch_size=50, trim=0.2, validation=val, early_stopping=2),
        ),
        "dense-denoise-val": lambda: (
            hg.create_model("dense", seed=0),
            dict(x=img, epochs=2, batch_size=32, corruption=hg.GaussianNoise(0.2, clip=(0, 1)), validation=imgv),
        ),
        "conv-denoise": lambda: (
            hg.create_model("conv", seed=0),
            dict(x=img, epochs=2, batch_size=32, corruption=hg.GaussianNoise(0.2, clip=(0, 1))),
        ),
        "conv-bn-steps": lambda: (
            hg.create_model("conv-bn", seed=0),
            dict(x=img, epochs=3, batch_size=64, steps_per_epoch=5, loss="bce"),
        ),
        "vae-warmup-val": lambda: (
            hg.create_model("vae", seed=0, hidden=(64,), latent_dim=8),
            dict(x=img, epochs=3, batch_size=64, kl_warmup=2, validation=imgv),
        ),
        "vae-gauss-trim": lambda: (
            hg.create_model("vae", input_shape=(140,), likelihood="gaussian", seed=0),
            dict(x=normal, epochs=3, batch_size=64, trim=0.1),
        ),
        "cvae": lambda: (
            hg.create_model("cvae", seed=0, hidden=(64,), latent_dim=4),
            dict(x=img, labels=lab, validation=imgv, validation_labels=labv, epochs=2, batch_size=64),
        ),
        "conv1d-mask": lambda: (
            hg.create_model("conv1d", input_shape=(140,), seed=0),
            dict(x=normal, epochs=2, batch_size=64, corruption=hg.MaskingNoise(0.2)),
        ),
        "lstm": lambda: (
            hg.create_model("lstm", input_shape=(140,), seed=0, hidden=(16,), latent_dim=8),
            dict(x=normal[:200], epochs=1, batch_size=64),
        ),
        "superres": lambda: (
            hg.create_model("conv", seed=0),
            dict(x=img, epochs=1, batch_size=64, corruption=hg.Downsample(2)),
        ),
        "noshuffle-wd": lambda: (
            hg.create_model("stacked", input_shape=(140,), seed=0),
            dict(x=normal, epochs=2, batch_size=64, shuffle=False, weight_decay=1e-3, lr=3e-3),
        ),
    }
    summary = {}
    for name, make in configs.items():
        model, kw = make()
        x = kw.pop("x")
        h = hg.fit(model, x, progress=False, seed=0, **kw)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, f"{out}/{name}.safetensors")
        summary[name] = {
            "train": h.train_loss,
            "val": h.val_loss,
            "parts": h.train_parts,
            "vparts": h.val_parts,
            "best": h.best_epoch,
            "stopped": h.stopped_early,
        }
        print(name, h.train_loss[-1])
    json.dump(summary, open(f"{out}/summary.json", "w"), indent=1)
    # estimator
    est = hg.AutoencoderDetector(n_models=2, epochs=5, random_state=0).fit(normal)
    np.save(f"{out}/estimator_scores.npy", est.score_samples(ds.x_test[:200]))


def compare(a: str, b: str) -> None:
    from safetensors.numpy import load_file

    sa, sb = json.load(open(f"{a}/summary.json")), json.load(open(f"{b}/summary.json"))
    for name in sa:
        wa, wb = load_file(f"{a}/{name}.safetensors"), load_file(f"{b}/{name}.safetensors")
        same = wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
        diff = max(float(np.max(np.abs(wa[k].astype(np.float64) - wb[k]))) if wa[k].size else 0.0 for k in wa)
        print(
            f"{name:22s} weights {'IDENTICAL' if same else f'differ (max {diff:.3g})'}; "
            f"train losses {'equal' if sa[name]['train'] == sb[name]['train'] else 'differ'}"
        )
    same = np.array_equal(np.load(f"{a}/estimator_scores.npy"), np.load(f"{b}/estimator_scores.npy"))
    print("estimator scores", "IDENTICAL" if same else "differ")


if __name__ == "__main__":
    {"train": train, "compare": compare}[sys.argv[1]](*sys.argv[2:])
