"""Long recordings: hg.SeriesDetector on the TSB-UAD and TSB-AD recordings and on a robustness suite.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/recordings.py              # everything
    HOURGLASS_DATA_DIR=../shared/data python benchmarks/recordings.py --suite      # robustness suite only
    HOURGLASS_DATA_DIR=../shared/data python benchmarks/recordings.py --real       # the two real recordings
    ... --real --seeds 0 1 2 3 4      # over five seeds: per seed, mean, std, lowest and highest
    HOURGLASS_DATA_DIR=../shared/data python benchmarks/recordings.py --check-vus  # VUS vs the TSB-AD package
    ... --suite --candidates default dense-12-members --seeds 0 1 2    # over seeds (recordings_members_seeds.json)
    ... --suite --candidates default min-window-0 min-window-64 --variants "short-*"   # some variants only
    HOURGLASS_DATA_DIR=../shared/data python benchmarks/recordings.py --step-maps  # window -> step score maps

1. **Real recordings, the benchmarks' protocols.** MBA_ECG805 (TSB-UAD: window of one period, train on
   the first 10 %, score every step, point-wise AUC-ROC / AUC-PR) against TSB-UAD's published table
   (SOURCES.md); 001_NAB_id_1_Facility (TSB-AD: train on the part the file name gives, VUS-PR with the
   period as the buffer) against TSB-AD's published VUS-PR. Fit + scoring seconds; streaming
   throughput (steps / s) and the delay from a sample to its score.
2. **Robustness suite.** We hold one recording of each benchmark, so the defaults are tested on
   variants of it and on synthetic recordings, never tuned on the real ones: contaminated training
   parts, level drift, a gain change, other periods (the recording resampled), noise, other units,
   two channels, and synthetic periodic signals with six kinds of anomaly (spikes, level shifts,
   frequency changes, flat lines, amplitude changes, noise bursts), each with anomalies inside its
   training part too, and three noisy short-period signals (8-24 steps) with short anomalies
   (spikes, noise bursts, dips) labelled the way NAB labels its recordings (a stretch of 10 % of
   the recording / number of anomalies around each), a chaotic Mackey-Glass series whose short
   stretches run too fast, and synthetic beats whose odd beats have the normal amplitude but
   another shape (clear or subtle), 1-6 % of them inside the training part. Candidates,
   including 0.1.0's hand-made pipeline (windows of one period, min-max scaling, a conv1d with a
   16-d code, window scores mapped to the steps, as its guide showed), are scored by AUROC, AUPRC and VUS-PR; the rule:
   the best worst-case AUROC over the suite, the real recording itself left out (ties: mean
   VUS-PR).
3. **VUS check.** hourglass's VUS-ROC / VUS-PR against the TSB-AD package's code (``pip install
   TSB-AD --no-deps``, or its wheel unpacked: ``--tsb-ad PATH`` to its ``TSB_AD`` folder) on the
   real recordings' scores and on random ones.
Writes benchmarks/results/recordings.json.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import time
from pathlib import Path

import numpy as np
from common import RESULTS, write_json

import hourglass as hg

# TSB-UAD / TSB-AD figures (../shared/data/SOURCES.md)
PUBLISHED_MBA = {"NORMA": (0.974, 0.775), "PCA": (0.936, 0.702), "IForest": (0.930, 0.720), "AE": (0.857, 0.352)}
PUBLISHED_NAB_VUS_PR = {"MOMENT (FT)": 0.574, "FITS": 0.350, "AutoEncoder": 0.321, "IForest": 0.135}

# the default first; the others differ from it in one respect each
CANDIDATES = {
    "default": {},  # dense-ensemble of 6, code window / 8, trim 0.2, window scores, min_window 48
    "conv1d-code16": {"model": "conv1d", "model_options": {"latent_dim": 16}},
    "conv1d-code16-step-scores": {"model": "conv1d", "model_options": {"latent_dim": 16}, "score_by": "step"},
    "conv1d-code16-no-trim": {"model": "conv1d", "model_options": {"latent_dim": 16}, "trim": 0.0},
    "conv1d-wide-code": {"model": "conv1d"},  # the code is the feature maps: 4x the window's size
    # the default's own settings, one at a time (--candidates default dense-12-members ...)
    "dense-12-members": {"model_options": {"n_members": 12}},
    "dense-trim-0.1": {"trim": 0.1},
    "dense-trim-0.3": {"trim": 0.3},
    "dense-trim-0.4": {"trim": 0.4},
    "dense-60-epochs": {"epochs": 60},
    "dense-stride-1": {"stride": 1},
    # the window: whole periods spanning at least min_window steps (default 48; 0 = one period)
    "min-window-0": {"min_window": 0},
    "min-window-32": {"min_window": 32},
    "min-window-64": {"min_window": 64},
    "min-window-100": {"min_window": 100},
}


# what a plain --suite compares (the others: --candidates NAME ...; their results are in results/)
DEFAULT_RUN = ("default", "conv1d-code16", "conv1d-code16-step-scores", "conv1d-code16-no-trim", "conv1d-wide-code")


# -- the variants -------------------------------------------------------------------------------
def _stretches_of(y):
    return hg.stretches(y.astype(bool))


def ecg_variants(rec, steps: int, rng) -> dict:
    """Variants of the real recording's first ``steps`` steps (training part: the first 10 %)."""
    x0, y0 = rec.values[:steps, 0].astype(np.float64), rec.labels[:steps].copy()
    train = steps // 10
    iqr = np.subtract(*np.percentile(x0[:train], [75, 25]))
    t = np.arange(steps)
    out = {"ecg": (x0, y0, train)}
    # contaminated: anomalous beats copied into the training part until ~15 % of it is anomalous
    x, y = x0.copy(), y0.copy()
    pool = [(a, b) for a, b in _stretches_of(y0[train:]) if b - a > 10]
    while y[:train].mean() < 0.15 and pool:
        a, b = pool[rng.integers(len(pool))]
        a, b = a + train, b + train
        at = int(rng.integers(0, train - (b - a)))
        x[at : at + b - a], y[at : at + b - a] = x0[a:b], 1
    out["ecg-contaminated"] = (x, y, train)
    drift = np.where(t > train, (t - train) / (steps - train), 0.0)
    out["ecg-drift"] = (x0 + 3 * iqr * drift + 1.5 * iqr * np.sin(2 * np.pi * t / 7919) * drift, y0, train)
    out["ecg-gain"] = (np.where(t > train, (x0 - np.median(x0)) * 1.3 + np.median(x0), x0), y0, train)
    out["ecg-noise"] = (x0 + rng.normal(0, 0.15 * iqr, steps), y0, train)
    out["ecg-units"] = (x0 * 1000 + 5000, y0, train)
    for factor in (0.6, 1.7):  # other periods: about 60 and 170 steps
        n = int(steps * factor)
        grid = np.linspace(0, steps - 1, n)
        out[f"ecg-period-x{factor}"] = (np.interp(grid, t, x0), y0[np.round(grid).astype(int)], n // 10)
    two = np.stack([x0, -0.5 * x0 + rng.normal(0, 0.1 * iqr, steps)], axis=1)
    out["ecg-2-channels"] = (two, y0, train)
    return out


def synthetic(kind: str, rng, steps: int = 40000) -> tuple:
    """A periodic signal (period 30-200, a few harmonics, noise) with anomalies of one ``kind`` in
    the test part and a few in the training part (the first 20 %)."""
    period = int(rng.integers(30, 200))
    t = np.arange(steps)
    phase = 2 * np.pi * t / period
    weights = rng.normal(0, 1, 3)
    x = sum(w * np.sin((k + 1) * phase + rng.uniform(0, 6)) for k, w in enumerate(weights))
    x = x + rng.normal(0, 0.1, steps)
    y = np.zeros(steps, np.int64)
    train = steps // 5
    spread = x.std()
    starts = np.sort(rng.choice(np.arange(period, steps - 3 * period, 3 * period), 25, replace=False))
    for a in starts:
        b = a + (1 if kind == "spike" else int(rng.integers(period // 2, 2 * period)))
        if kind == "spike":
            x[a] += 6 * spread * rng.choice([-1, 1])
        elif kind == "level-shift":
            x[a:b] += 2 * spread
        elif kind == "frequency":
            x[a:b] = sum(
                w * np.sin((k + 1) * 2 * np.pi * np.arange(b - a) / (period * 0.6)) for k, w in enumerate(weights)
            )
        elif kind == "flat":
            x[a:b] = x[a]
        elif kind == "amplitude":
            x[a:b] *= 2.0
        elif kind == "noise":
            x[a:b] += rng.normal(0, spread, b - a)
        y[a:b] = 1
    return x, y, train


def synthetic_short(kind: str, rng, steps: int = 8000) -> tuple:
    """A noisy signal with a short period (8-24 steps, like an hourly cycle sampled every 5
    minutes; the noise as strong as the cycle) and short anomalies of one ``kind``, labelled as
    NAB labels its recordings: a stretch of 10 % of the recording / number of anomalies centred
    on each anomaly. Nine anomalies, one of them in the training part (the first 25 %)."""
    period = int(rng.integers(8, 25))
    t = np.arange(steps)
    weights = rng.normal(0, 1, 2)
    x = sum(w * np.sin((k + 1) * 2 * np.pi * t / period + rng.uniform(0, 6)) for k, w in enumerate(weights))
    spread = x.std()
    x = x + rng.normal(0, spread, steps)
    y = np.zeros(steps, np.int64)
    train, n = steps // 4, 9
    half = int(0.1 * steps / n) // 2
    centres = [int(rng.integers(half, train - half))]
    centres += list(
        np.linspace(train + 2 * half, steps - 2 * half, n - 1).astype(int) + rng.integers(-half, half, n - 1)
    )
    for c in centres:
        width = int(rng.integers(3, 15))
        if kind == "spikes":
            at = c + rng.integers(0, width, 3)
            x[at] += 5 * spread * rng.choice([-1, 1], 3)
        elif kind == "burst":
            x[c : c + width] += rng.normal(0, 2 * spread, width)
        elif kind == "dip":
            x[c : c + width] -= 3 * spread
        y[c - half : c + half] = 1
    return x, y, train


def mackey_glass(steps: int, rng, tau: int = 17, burn: int = 1000) -> np.ndarray:
    """The Mackey-Glass delay equation (beta 0.2, gamma 0.1, n 10; tau 17: chaotic), Euler steps of
    0.1, sampled every step of 1 (as MGAB's series)."""
    sub, dt = 10, 0.1
    n = (steps + burn) * sub
    lag = tau * sub
    x = np.empty(n + lag)
    x[: lag + 1] = 1.2 + 0.05 * rng.normal(size=lag + 1)
    for i in range(lag, n + lag - 1):
        past = x[i - lag]
        x[i + 1] = x[i] + dt * (0.2 * past / (1 + past**10) - 0.1 * x[i])
    return x[lag + burn * sub :: sub][:steps]


def synthetic_chaotic(rng, steps: int = 40000) -> tuple:
    """A Mackey-Glass series with ten short anomalies of the normal amplitude in the test part (the
    training part: the first 25 %): a stretch of 40-80 steps played 1.6x too fast (the values it
    takes stay in the normal range; the dynamics are wrong), labelled as it is."""
    x = mackey_glass(steps, rng)
    y = np.zeros(steps, np.int64)
    train = steps // 4
    starts = np.linspace(train + 500, steps - 1000, 10).astype(int) + rng.integers(-200, 200, 10)
    for a in starts:
        width = int(rng.integers(40, 81))
        source = a + np.arange(width) * 1.6
        x[a : a + width] = np.interp(source, np.arange(steps), x)
        y[a : a + width] = 1
    return x, y, train


def beat(period: int, kind: str, subtle: bool = False) -> np.ndarray:
    """One synthetic heartbeat of ``period`` steps: a P wave, a QRS spike and a T wave (Gaussian
    bumps); ``"wide"``: a QRS three times as wide at the same height, ``"inverted-t"``: the T wave
    upside down, ``"double"``: two spikes of the same height. ``subtle``: a QRS 1.5 times as wide,
    a flattened T wave, no P wave."""
    t = np.arange(period) / period
    g = lambda c, w, a: a * np.exp(-0.5 * ((t - c) / w) ** 2)  # noqa: E731
    if subtle:
        qrs = g(0.35, 0.022 if kind == "wide" else 0.015, 1.0)
        p_wave = 0 * t if kind == "double" else g(0.15, 0.03, 0.15)
        return p_wave + qrs + g(0.65, 0.06, 0.1 if kind == "inverted-t" else 0.3)
    qrs = {"wide": g(0.35, 0.045, 1.0), "double": g(0.3, 0.015, 1.0) + g(0.42, 0.015, 1.0)}.get(
        kind, g(0.35, 0.015, 1.0)
    )
    return g(0.15, 0.03, 0.15) + qrs + g(0.65, 0.06, -0.3 if kind == "inverted-t" else 0.3)


def synthetic_shape(share: float, rng, steps: int = 40000, subtle: bool = False) -> tuple:
    """Periodic synthetic beats (period 80-150, its length jittered by 5 %, noise) where some beats
    have the normal amplitude but another shape (wide, inverted T wave, double spike): about 3 %
    of the test part's steps, and ``share`` of the training part's (the first 20 %); ``subtle``:
    odd beats that differ less (:func:`beat`)."""
    period = int(rng.integers(80, 151))
    train = steps // 5
    lengths = (period * rng.uniform(0.95, 1.05, steps // int(period * 0.95) + 1)).astype(int)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    in_train = np.flatnonzero(starts + lengths <= train)
    in_test = np.flatnonzero((starts >= train) & (starts + lengths <= steps))
    odd = set(rng.choice(in_train, max(1, round(share * len(in_train))), replace=False))
    odd |= set(rng.choice(in_test, round(0.03 * len(in_test)), replace=False))
    x, y = [], []
    for i, p in enumerate(lengths):
        kind = rng.choice(["wide", "inverted-t", "double"]) if i in odd else "normal"
        x.append(beat(p, kind, subtle))
        y.append(np.full(p, int(i in odd)))
    x = np.concatenate(x)[:steps] + rng.normal(0, 0.02, steps)
    return x, np.concatenate(y)[:steps], train


def suite_variants(args) -> dict:
    """The robustness suite: name -> (values, labels, training steps)."""
    rng = np.random.default_rng(0)
    rec = hg.datasets.load("tsb-uad/MBA_ECG805")
    variants = ecg_variants(rec, args.steps, rng)
    for i, kind in enumerate(("spike", "level-shift", "frequency", "flat", "amplitude", "noise")):
        variants[f"synthetic-{kind}"] = synthetic(kind, np.random.default_rng(100 + i))
    for i, kind in enumerate(("spikes", "burst", "dip")):
        variants[f"short-period-{kind}"] = synthetic_short(kind, np.random.default_rng(200 + i))
    variants["chaotic-short"] = synthetic_chaotic(np.random.default_rng(300))
    for i, share in enumerate((0.01, 0.03, 0.06)):
        variants[f"shape-contaminated-{int(share * 100)}pct"] = synthetic_shape(share, np.random.default_rng(400 + i))
        variants[f"shape-subtle-{int(share * 100)}pct"] = synthetic_shape(
            share, np.random.default_rng(410 + i), subtle=True
        )
    if args.variants:  # a look at some variants; the rule's choice needs them all
        variants = {k: v for k, v in variants.items() if any(fnmatch.fnmatch(k, p) for p in args.variants)}
    return variants


def suite(args) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score

    variants = suite_variants(args)
    rows = []
    names = args.candidates or ["0.1.0-pipeline", *DEFAULT_RUN]
    runs = [(v, data, c, seed) for v, data in variants.items() for c in names for seed in args.seeds]
    for vname, (x, y, train), cname, seed in runs:
        start = time.perf_counter()
        scores, window = score_variant(cname, x, train, args.epochs, seed)
        seconds = time.perf_counter() - start
        m = hg.vus(y, scores, window)
        row = {
            "variant": vname,
            "candidate": cname,
            "seed": seed,
            "window": window,
            "auroc": float(roc_auc_score(y, scores)),
            "auprc": float(average_precision_score(y, scores)),
            **m,
            "seconds": seconds,
        }
        rows.append(row)
        print(
            f"{vname:22s} {cname:24s} seed {seed} window {window:4d}  AUROC {row['auroc']:.3f}  "
            f"AUPRC {row['auprc']:.3f}  VUS-PR {row['vus_pr']:.3f}  {seconds:5.1f} s",
            flush=True,
        )
    summary = {}
    for cname in names:  # per variant the mean over seeds, then the worst and the mean over variants
        per = {}
        for row in rows:
            if row["candidate"] == cname and row["variant"] != "ecg":
                per.setdefault(row["variant"], []).append(row)
        r = [
            {k: float(np.mean([x[k] for x in v])) for k in ("auroc", "auprc", "vus_pr")} | {"variant": n}
            for n, v in per.items()
        ]
        summary[cname] = {
            "worst_auroc": min(x["auroc"] for x in r),
            "mean_auroc": float(np.mean([x["auroc"] for x in r])),
            "mean_auprc": float(np.mean([x["auprc"] for x in r])),
            "mean_vus_pr": float(np.mean([x["vus_pr"] for x in r])),
            "worst_variant": min(r, key=lambda x: x["auroc"])["variant"],
            "seeds": list(args.seeds),
        }
        print(
            f"{cname:24s} "
            + "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in summary[cname].items())
        )
    choice = max(summary, key=lambda c: (round(summary[c]["worst_auroc"], 3), summary[c]["mean_vus_pr"]))
    # the per-seed rows are in "rows"; the summary averages each variant over the seeds first
    print("rule (best worst-case AUROC, then mean VUS-PR) picks:", choice)
    return {"variants": list(variants), "rows": rows, "summary": summary, "choice": choice}


def step_maps(args) -> dict:
    """How window scores become step scores: the mean over the windows that cover a step (what
    ``hg.scores_to_steps`` and the SeriesDetector do) against their minimum, maximum and the mean
    of those two, from the same fitted default detector on every suite variant (seed 0)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    from hourglass.transforms.windows import window_starts

    rows = []
    for vname, (x, y, train) in suite_variants(args).items():
        sd = hg.SeriesDetector(epochs=args.epochs, random_state=0).fit(x[:train])
        steps = sd._steps(x)
        n, w = len(steps), sd.window_
        per_window = sd._window_errors(hg.windows(steps.T, w, sd.stride_))[:, 0]
        low, high = np.full(n, np.inf), np.full(n, -np.inf)
        for start, v in zip(window_starts(n, w, sd.stride_), per_window):
            low[start : start + w] = np.minimum(low[start : start + w], v)
            high[start : start + w] = np.maximum(high[start : start + w], v)
        maps = {"mean": sd.score_steps(x), "min": low, "max": high, "mean-of-min-max": (low + high) / 2}
        np.testing.assert_allclose(maps["mean"], hg.scores_to_steps(per_window, n, w, sd.stride_), rtol=1e-9)
        for name, scores in maps.items():
            row = {"variant": vname, "map": name, "window": w, "auroc": float(roc_auc_score(y, scores))}
            row.update(auprc=float(average_precision_score(y, scores)), vus_pr=hg.vus(y, scores, w)["vus_pr"])
            rows.append(row)
        print(vname, "  ".join(f"{r['map']} {r['auroc']:.3f} / {r['auprc']:.3f}" for r in rows[-len(maps) :]))
    summary = {}
    for name in dict.fromkeys(r["map"] for r in rows):
        r = [x for x in rows if x["map"] == name and x["variant"] != "ecg"]
        summary[name] = {
            "worst_auroc": min(x["auroc"] for x in r),
            **{f"mean_{k}": float(np.mean([x[k] for x in r])) for k in ("auroc", "auprc", "vus_pr")},
        }
        print(f"{name:16s} " + "  ".join(f"{k} {v:.4f}" for k, v in summary[name].items()))
    return {"rows": rows, "summary": summary}


def score_variant(cname: str, x, train: int, epochs: int, seed: int = 0):
    if cname == "0.1.0-pipeline":
        return pipeline_010(x, train, epochs, seed)
    sd = hg.SeriesDetector(**{"epochs": epochs, "random_state": seed, **CANDIDATES[cname]}).fit(x[:train])
    return sd.score_steps(x), sd.window_


def pipeline_010(x, train: int, epochs: int, seed: int = 0):
    """What a user of 0.1.0 wrote by hand, as its guide showed: windows of one period (stride 1
    for training, a tenth of the window for scoring), min-max scaling fitted on the training
    windows, the conv1d model with a 16-d code (sigmoid output), the Detector's window scores
    mapped back to the steps (hg.scores_to_steps)."""
    x = np.asarray(x, dtype=np.float32)
    series = x if x.ndim == 1 else x.T
    window = hg.find_period(x[:train])
    stride = max(1, window // 10)
    tr = hg.windows(series[..., :train], window, 1)
    scaler = hg.MinMaxScaler(per_feature=False).fit(tr)
    shape = (window,) if x.ndim == 1 else (x.shape[1], window)
    model = hg.create_model("conv1d", input_shape=shape, latent_dim=16, seed=seed)
    hg.fit(model, scaler.transform(tr), epochs=epochs, batch_size=64, loss="mae", seed=seed, progress=False)
    det = hg.Detector(model, score="mae", scaler=scaler).fit(tr)
    window_scores = det.score_samples(hg.windows(series, window, stride))
    return hg.scores_to_steps(window_scores, series.shape[-1], window, stride), window


# -- the real recordings ------------------------------------------------------------------------
def tsb_ad_window(values) -> int:
    """TSB-AD's window (find_length_rank, rank 1): the highest autocorrelation peak among lags
    4-400 of the first 20,000 steps; 125 when that lag is outside 6-303."""
    lag = hg.find_period(values[:, 0], min_period=4, max_period=400, default=125)
    return lag if 6 <= lag <= 303 else 125


def over_seeds(per_seed: list[dict], keys) -> dict:
    """Mean, standard deviation, lowest and highest of each key over the seeds' rows."""
    return {
        k: {
            "mean": float(np.mean([r[k] for r in per_seed])),
            "std": float(np.std([r[k] for r in per_seed])),
            "min": float(min(r[k] for r in per_seed)),
            "max": float(max(r[k] for r in per_seed)),
        }
        for k in keys
    }


def real(args) -> dict:
    """Both recordings with the default SeriesDetector, one fit per seed (``--seeds``; the first
    seed's run also gives the timings and the streaming figures)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    out = {}
    mba = hg.datasets.load("tsb-uad/MBA_ECG805")
    per_seed = []
    for seed in args.seeds:
        start = time.perf_counter()
        sd = hg.SeriesDetector(random_state=seed).fit(mba)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        scores = sd.score_steps(mba)
        score_s = time.perf_counter() - start
        m = sd.evaluate(mba)
        per_seed.append({"seed": seed, **{k: float(m[k]) for k in ("auroc", "auprc", "vus_roc", "vus_pr")}})
        print(
            f"MBA_ECG805 seed {seed}: AUROC {m['auroc']:.4f} AUPRC {m['auprc']:.4f} VUS-PR {m['vus_pr']:.3f} "
            f"(NORMA 0.974 / 0.775); fit {fit_s:.1f} s, scoring {score_s:.1f} s",
            flush=True,
        )
        if seed == args.seeds[0]:
            out["MBA_ECG805"] = {
                "protocol": "TSB-UAD: train on the first 10 % (23,040 steps), score all 230,400 steps, point-wise AUCs",
                "window": sd.window_,
                "metrics": dict(m),
                "metrics_seed": seed,
                "fit_seconds": fit_s,
                "score_seconds": score_s,
                "published": PUBLISHED_MBA,
                "stream": stream_figures(sd, mba.values, scores),
            }
    out["MBA_ECG805"]["seeds"] = per_seed
    out["MBA_ECG805"]["over_seeds"] = over_seeds(per_seed, ("auroc", "auprc", "vus_pr"))
    nab = hg.datasets.load("tsb-ad/001_NAB_id_1_Facility")
    window = tsb_ad_window(nab.values)
    per_seed = []
    for seed in args.seeds:
        sd = hg.SeriesDetector(random_state=seed).fit(nab)
        scores = sd.score_steps(nab)
        v = hg.vus(nab.labels, scores, window)
        row = {"seed": seed, **v}
        row.update(
            auroc=float(roc_auc_score(nab.labels, scores)), auprc=float(average_precision_score(nab.labels, scores))
        )
        per_seed.append(row)
        print(
            f"NAB seed {seed}: VUS-PR {v['vus_pr']:.3f} VUS-ROC {v['vus_roc']:.3f} (window {sd.window_}, VUS buffer "
            f"{window}); AutoEncoder 0.321, FITS 0.350, MOMENT (FT) 0.574",
            flush=True,
        )
    out["001_NAB_id_1_Facility"] = {
        "protocol": "TSB-AD: train on the first 1,007 steps, VUS-PR with the buffer TSB-AD's find_length_rank gives",
        "window": sd.window_,
        "vus_window": window,
        **{k: v for k, v in per_seed[0].items() if k != "seed"},
        "metrics_seed": args.seeds[0],
        "published_vus_pr": PUBLISHED_NAB_VUS_PR,
        "seeds": per_seed,
        "over_seeds": over_seeds(per_seed, ("vus_pr", "vus_roc", "auroc", "auprc")),
    }
    for name in ("MBA_ECG805", "001_NAB_id_1_Facility"):
        summary = out[name]["over_seeds"]
        print(name, "over seeds", args.seeds, {k: f"{v['mean']:.4f} +- {v['std']:.4f}" for k, v in summary.items()})
    return out


def stream_figures(sd, values, whole) -> dict:
    """Throughput of the stream in chunks of 1,000 steps, the largest difference from scoring the
    whole recording, and the delay: a step's score comes out once ``window`` more steps arrived."""
    stream = sd.stream()
    start = time.perf_counter()
    parts = [stream.update(values[i : i + 1000]) for i in range(0, len(values), 1000)]
    parts.append(stream.flush())
    seconds = time.perf_counter() - start
    got = np.concatenate(parts)
    return {
        "chunk_steps": 1000,
        "steps_per_second": len(values) / seconds,
        "max_abs_difference_from_whole": float(np.abs(got - whole).max()),
        "delay_steps": f"{sd.window_} to {sd.window_ + sd.stride_} steps after the sample, plus the chunk",
    }


# -- VUS against TSB-AD's code ------------------------------------------------------------------
def check_vus(args) -> dict:
    import importlib.util
    from pathlib import Path

    path = Path(args.tsb_ad) / "evaluation" / "basic_metrics.py"
    spec = importlib.util.spec_from_file_location("tsb_basic_metrics", path)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    rows = []
    rng = np.random.default_rng(0)
    cases = []
    for i in range(10):
        n = int(rng.integers(500, 5000))
        y = np.zeros(n, np.int64)
        for _ in range(int(rng.integers(1, 8))):
            a = int(rng.integers(0, n - 60))
            y[a : a + int(rng.integers(1, 60))] = 1
        scores = rng.random(n) + 0.8 * np.convolve(y, np.ones(15) / 15, "same")
        cases.append((f"random-{i}", y, np.round(scores, 1) if i % 3 == 0 else scores, int(rng.integers(0, 120))))
    nab = hg.datasets.load("tsb-ad/001_NAB_id_1_Facility")
    sd = hg.SeriesDetector().fit(nab)
    cases.append(("NAB scores", nab.labels, sd.score_steps(nab), tsb_ad_window(nab.values)))
    for name, y, scores, w in cases:
        start = time.perf_counter()
        theirs = ref.generate_curve(y, scores, w)[-2:]
        t_theirs = time.perf_counter() - start
        start = time.perf_counter()
        ours = hg.vus(y, scores, w)
        t_ours = time.perf_counter() - start
        row = {
            "case": name,
            "window": w,
            "tsb_ad": [float(v) for v in theirs],
            "hourglass": [ours["vus_roc"], ours["vus_pr"]],
            "max_abs_difference": float(max(abs(theirs[0] - ours["vus_roc"]), abs(theirs[1] - ours["vus_pr"]))),
            "seconds_tsb_ad": t_theirs,
            "seconds_hourglass": t_ours,
        }
        rows.append(row)
        print(
            f"{name:12s} w={w:3d} TSB-AD {theirs[0]:.6f} / {theirs[1]:.6f}  hourglass {ours['vus_roc']:.6f} / "
            f"{ours['vus_pr']:.6f}  diff {row['max_abs_difference']:.1e}  ({t_theirs:.2f} s vs {t_ours:.3f} s)"
        )
    return {"cases": rows, "largest_difference": max(r["max_abs_difference"] for r in rows)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", action="store_true")
    ap.add_argument("--real", action="store_true")
    ap.add_argument("--check-vus", action="store_true")
    ap.add_argument(
        "--step-maps", action="store_true", help="window -> step score maps on the suite (recordings_step_maps.json)"
    )
    ap.add_argument("--tsb-ad", default="/tmp/tsbad/pkg/TSB_AD", help="the TSB_AD package folder")
    ap.add_argument("--steps", type=int, default=60000, help="steps of the real recording the variants use")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--candidates", nargs="+")
    ap.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="the seeds (random_state) of the suite and of --real"
    )
    ap.add_argument("--variants", nargs="+", help="only the suite's variants matching these patterns")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.step_maps:
        write_json("recordings_step_maps", {"benchmark": "recordings --step-maps", **step_maps(args)}, args.out)
        return
    every = not (args.suite or args.real or args.check_vus)
    payload = {"benchmark": "recordings"}
    path = Path(args.out) if args.out else RESULTS / "recordings.json"
    if not every and path.exists():  # a partial run replaces its own parts and keeps the others
        kept = json.loads(path.read_text())
        parts = ("real", "suite", "vus_check", "vus_check_environment")
        payload.update({k: v for k, v in kept.items() if k in parts})
        payload["kept_from_an_earlier_run"] = [k for k in parts if k in kept and k != "vus_check_environment"]
    ran = []
    if every or args.real:
        payload["real"], ran = real(args), ran + ["real"]
    if every or args.suite:
        payload["suite"], ran = suite(args), ran + ["suite"]
    if every or args.check_vus:
        payload["vus_check"], ran = check_vus(args), ran + ["vus_check"]
        payload.pop("vus_check_environment", None)  # this run's environment is the file's
    if "kept_from_an_earlier_run" in payload:
        payload["kept_from_an_earlier_run"] = [k for k in payload["kept_from_an_earlier_run"] if k not in ran]
    write_json("recordings", payload, args.out)


if __name__ == "__main__":
    main()
