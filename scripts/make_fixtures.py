"""Save small folders with the installed hourglass release into tests/fixtures/v<version>/, with
the scores they give, so every later release can prove it still loads them with the same results.

    HOURGLASS_DATA_DIR=../shared/data python scripts/make_fixtures.py

Run it once per release whose folder format users may hold, and before a change that may touch
the format (``v0.2.0.dev0`` records what the code wrote before the training loops were merged). It
refuses to overwrite a release's fixtures: they are a record of what that release wrote. Each
folder is small (a few models with a few thousand weights); the inputs scored are stored beside
the expected results in expected.npz (ECG5000 rows, which ship with the package, and synthetic
images), so the test needs no data set.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import hourglass as hg

REPO = Path(__file__).resolve().parents[1]


def ecg_slices():
    ds = hg.datasets.load("ecg5000", split="tutorial")
    normal = ds.x_train[ds.y_train == 1]
    return normal[:600], normal[600:800], ds.x_test[:32]  # (the checkpoint below trains on the first 600)


def detector_outputs(det, x, prefix: str) -> dict:
    out = {
        f"{prefix}/x": x,
        f"{prefix}/score_samples": det.score_samples(x),
        f"{prefix}/predict": det.predict(x),
        f"{prefix}/decision_function": det.decision_function(x),
        f"{prefix}/p_values": det.p_values(x),
        f"{prefix}/threshold": np.asarray(det.threshold_),
    }
    out[f"{prefix}/score_map"] = det.score_map(x[:4])
    return out


def main() -> None:
    out_dir = REPO / "tests" / "fixtures" / f"v{hg.__version__}"
    if out_dir.exists():
        sys.exit(f"{out_dir} exists: a release's fixtures are a record, never rewritten")
    out_dir.mkdir(parents=True)
    train, held, test = ecg_slices()
    expected: dict[str, np.ndarray] = {}

    # 1. A detector: stacked model, global min-max scaler, mae, MeanStd, with its history.
    model = hg.create_model("stacked", input_shape=(140,), hidden=(16,), latent_dim=4, seed=0)
    history = hg.fit(model, train, epochs=3, batch_size=128, loss="mae", progress=False, seed=0)
    scaler = hg.MinMaxScaler(per_feature=False).fit(train)
    det = hg.Detector(model, score="mae", threshold=hg.MeanStd(k=1.5), scaler=scaler).fit(train)
    hg.save(det, out_dir / "detector", history=history)
    expected.update(detector_outputs(det, test, "detector"))

    # 2. A conv detector on images: l2 score (a per-pixel scale array), a super-resolution input
    #    transform, a Percentile threshold; synthetic images (no data set needed to test it).
    rng = np.random.default_rng(0)
    images = rng.random((80, 1, 28, 28), dtype=np.float32)
    conv = hg.create_model("conv", input_shape=(1, 28, 28), channels=(4, 8), seed=0)
    hg.fit(conv, images[:64], corruption=hg.Downsample(2), epochs=2, batch_size=32, progress=False, seed=0)
    det = hg.Detector(conv, score="l2", threshold=hg.Percentile(90), input_transform=hg.Downsample(2)).fit(images[:64])
    hg.save(det, out_dir / "conv-detector")
    expected.update(detector_outputs(det, images[64:], "conv-detector"))

    # 3. A VAE detector: Gaussian dense VAE, importance-weighted NLL with 16 draws, calibrated on
    #    held-out rows (FixedFPR).
    vae = hg.create_model("vae", input_shape=(140,), hidden=(32,), latent_dim=4, likelihood="gaussian", seed=0)
    hg.fit(vae, train, epochs=3, batch_size=128, progress=False, seed=0, kl_warmup=1)
    det = hg.Detector(vae, score="nll", n_samples=16, threshold=hg.FixedFPR(0.1)).fit(train, calibration=held)
    hg.save(det, out_dir / "vae-detector")
    expected.update(detector_outputs(det, test, "vae-detector"))

    # 4. An estimator ensemble with FixedFPR, fitted on a DataFrame (feature names kept).
    import pandas as pd

    frame = pd.DataFrame(np.concatenate([train, held]), columns=[f"t{i:03d}" for i in range(140)])
    est = hg.AutoencoderDetector(n_models=3, epochs=3, threshold=hg.FixedFPR(0.05), random_state=0).fit(frame)
    hg.save(est, out_dir / "estimator-ensemble")
    tf = pd.DataFrame(test, columns=frame.columns)
    expected.update(
        {
            "estimator-ensemble/x": test,
            "estimator-ensemble/score_samples": est.score_samples(tf),
            "estimator-ensemble/predict": est.predict(tf),
            "estimator-ensemble/decision_function": est.decision_function(tf),
            "estimator-ensemble/p_values": est.p_values(tf),
            "estimator-ensemble/threshold": np.asarray(est.threshold_),
            "estimator-ensemble/explain_indices": est.explain(tf, top=3).indices,
        }
    )

    # 5. A single-model estimator (a VAE scored by -ELBO, Contamination threshold).
    est = hg.AutoencoderDetector(
        model="vae", n_models=1, hidden=(32,), latent_dim=4, epochs=3, error="elbo", random_state=0
    ).fit(train)
    hg.save(est, out_dir / "estimator-vae")
    expected.update(
        {
            "estimator-vae/x": test,
            "estimator-vae/score_samples": est.score_samples(test),
            "estimator-vae/predict": est.predict(test),
            "estimator-vae/threshold": np.asarray(est.threshold_),
        }
    )

    # 6. A bare model (conv1d with a code) and its reconstructions and codes.
    seq = hg.create_model("conv1d", input_shape=(140,), channels=(8, 4), latent_dim=8, seed=0)
    history = hg.fit(seq, train, epochs=2, batch_size=128, progress=False, seed=0)
    hg.save(seq, out_dir / "model", history=history)
    expected.update(
        {"model/x": test, "model/reconstruct": hg.reconstruct(seq, test), "model/encode": hg.encode(seq, test)}
    )

    # 7. A training checkpoint (epoch 2 of a run with dropout and noise), for resuming.
    ckpt = hg.create_model("stacked", input_shape=(140,), hidden=(16,), latent_dim=4, seed=0, dropout=0.1)
    hg.fit(
        ckpt,
        train,
        epochs=2,
        batch_size=128,
        progress=False,
        seed=0,
        checkpoint_dir=out_dir / "checkpoint",
        corruption=hg.GaussianNoise(0.05),
    )
    for old in sorted((out_dir / "checkpoint").glob("epoch-000001.*")):
        old.unlink()  # the newest is what a resume reads

    # 8. The default tabular detector (six members trained together: a DenseEnsemble), saved by
    #    0.2 and later only; on every 7th step of the beats (20 features: a small folder).
    est = hg.AutoencoderDetector(epochs=3, random_state=0).fit(train[:, ::7])
    hg.save(est, out_dir / "default-detector")
    few = test[:, ::7]
    expected.update(
        {
            "default-detector/x": few,
            "default-detector/score_samples": est.score_samples(few),
            "default-detector/predict": est.predict(few),
            "default-detector/decision_function": est.decision_function(few),
            "default-detector/p_values": est.p_values(few),
            "default-detector/threshold": np.asarray(est.threshold_),
        }
    )

    # 9. The default SeriesDetector on a recording of normal beats one after another, scored on
    #    one with the test beats among them (0.2 and later only).
    recording = np.concatenate(train[:30]).astype(np.float32)
    series = hg.SeriesDetector(window=40, epochs=2, random_state=0, progress=False).fit(recording)
    hg.save(series, out_dir / "series-detector")
    scored = np.concatenate([*held[:10], *test[:10]]).astype(np.float32)
    expected.update(
        {
            "series-detector/x": scored,
            "series-detector/score_steps": series.score_steps(scored),
            "series-detector/predict_steps": series.predict_steps(scored),
        }
    )

    np.savez(out_dir / "expected.npz", **{k: np.asarray(v) for k, v in expected.items()})
    (out_dir / "README.md").write_text(
        f"Folders saved by hourglass {hg.__version__} with `scripts/make_fixtures.py`, and what they scored\n"
        "(`expected.npz`, arrays only). `tests/test_fixtures.py` loads each with the current code and checks\n"
        "that scores, predictions, p-values, maps, reconstructions and codes are identical. Never rewrite them.\n"
    )
    sizes = {p.name: sum(f.stat().st_size for f in p.rglob("*")) for p in out_dir.iterdir() if p.is_dir()}
    print(json.dumps({"out": str(out_dir), "folder_bytes": sizes}, indent=2))


if __name__ == "__main__":
    main()
