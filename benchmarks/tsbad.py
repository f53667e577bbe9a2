"""TSB-AD's protocol on every file in ``<data>/tsb-ad/``: hg.SeriesDetector against the published table.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/tsbad.py                    # the default, every file
    ... --candidates default knn-code     # candidates (CANDIDATES below) side by side
    ... --files "*MGAB*"                  # some files only
    ... --mba --suite                     # also the MBA ECG protocol and the robustness suite
    ... --files none --channels           # multichannel variants: does score_channels name the channel?
    ... --files none --mba --suite --candidates default error --out benchmarks/results/tsbad_suite.json

For each file (TSB-AD-U, ``Data,Label``): fit on the training part the name gives (``_tr_<n>``), score
every step, and compute VUS-PR, AUC-PR and AUC-ROC with TSB-AD's per-file buffer (its
``find_length_rank``: ``recordings.tsb_ad_window``); hourglass's VUS matches TSB-AD's code
(``recordings.py --check-vus``). The published per-file VUS-PR of TSB-AD's 32 methods
(``published_VUS-PR.csv``, 16 files; 001's figures from SOURCES.md) give each method's mean over the
same files and the per-file best. Fit + scoring seconds per file, on one thread.

**Selection protocol.** The files are split into two halves, alternating within each domain (NAB,
MGAB, UCR) in file order, so each half holds one MGAB file: a candidate is picked on half A (with
MBA_ECG805 and the robustness suite, ``--mba --suite``) and confirmed on half B. Both halves are
reported; no option depends on the file or its domain.

Writes benchmarks/results/tsbad.json (``--out`` elsewhere).
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import json
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from common import write_json

# the default first; each other differs from it in the options given
CANDIDATES: dict[str, dict] = {
    # windows scored by the larger of their residual's distance to the nearest training residual
    # and the mean distance to the 10 nearest, each scaled on the held-out stretch (the defaults:
    # neighbors="auto", nearest="auto")
    "default": {},
    "mean-only": {"nearest": False},  # the 10 nearest residuals' mean distance alone (before nearest)
    "neighbors-1": {"neighbors": 1},
    "error": {"neighbors": None},  # 0.2.0.dev's default: the window's mean reconstruction error
    "neighbors-3": {"neighbors": 3},
    "neighbors-5": {"neighbors": 5},
    "min-window-32": {"min_window": 32},
    "min-window-96": {"min_window": 96},
    "stride-1": {"stride": 1},
    # a benchmark-side prototype, not a library option: the default and a second detector with
    # twice its window, each step's score the larger of the two, each scaled so that its held-out
    # median is 0 and its held-out 99th percentile 1 (issue 40's "several window lengths at once")
    "two-windows": {"_windows": [1, 2]},
}

# 001's published figures are not in published_VUS-PR.csv (SOURCES.md, the first tsb-ad section)
PUBLISHED_001 = {
    "MOMENT (FT)": 0.574,
    "MOMENT (ZS)": 0.572,
    "FITS": 0.350,
    "AutoEncoder": 0.321,
    "OFA": 0.296,
    "POLY": 0.261,
    "TimesNet": 0.221,
    "Series2Graph": 0.194,
    "Sub-PCA": 0.180,
    "IForest": 0.135,
    "CNN": 0.122,
    "LSTMAD": 0.100,
}
DOMAINS = ("NAB", "MGAB", "UCR")


def data_dir() -> Path:
    return Path(os.environ.get("HOURGLASS_DATA_DIR", "../shared/data")) / "tsb-ad"


def files(patterns) -> list[Path]:
    found = sorted(data_dir().glob("[0-9]*_tr_*_1st_*.csv"))
    if patterns:
        found = [p for p in found if any(fnmatch.fnmatch(p.name, pat) for pat in patterns)]
    return found


def domain(path: Path) -> str:
    return next(d for d in DOMAINS if f"_{d}_" in path.name)


def halves(paths) -> dict[str, str]:
    """File name -> "A" or "B": alternating within each domain, in file order (``_half_of`` uses the
    full list, so a ``--files`` subset keeps each file's half)."""
    out, seen = {}, {}
    for p in paths:
        k = seen.get(domain(p), 0)
        out[p.name] = "AB"[k % 2]
        seen[domain(p)] = k + 1
    return out


def published() -> dict[str, dict[str, float]]:
    """File name -> {method: VUS-PR}."""
    table = {}
    with open(data_dir() / "published_VUS-PR.csv") as f:
        for row in csv.DictReader(f):
            table[row["file"]] = {k: float(v) for k, v in list(row.items())[1:33]}
    table["001_NAB_id_1_Facility_tr_1007_1st_2014.csv"] = dict(PUBLISHED_001)
    return table


def run_file(args) -> dict:
    """One fit and scoring (a worker process; one thread)."""
    path, cname, options, seed = args
    from recordings import tsb_ad_window
    from sklearn.metrics import average_precision_score, roc_auc_score

    import hourglass as hg

    rec = hg.datasets.read_recording(path)
    start = time.perf_counter()
    members = fitted(rec, options, seed)
    sd = members[0]
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    scores = step_scores(members, rec)
    score_s = time.perf_counter() - start
    y = rec.labels
    buffer = tsb_ad_window(rec.values)
    v = hg.vus(y, scores, buffer)
    return {
        "file": path.name,
        "candidate": cname,
        "seed": seed,
        "steps": len(y),
        "window": sd.window_,
        "vus_buffer": buffer,
        "vus_pr": v["vus_pr"],
        "vus_roc": v["vus_roc"],
        "auc_pr": float(average_precision_score(y, scores)),
        "auc_roc": float(roc_auc_score(y, scores)),
        "fit_seconds": fit_s,
        "score_seconds": score_s,
    }


def fitted(train, options: dict, seed: int) -> list:
    """The candidate's SeriesDetector fitted on ``train`` (a Recording's training part or an
    array); with ``_windows`` (the two-windows prototype), one more for each further multiple of
    its window."""
    import hourglass as hg

    options = dict(options)
    scales = options.pop("_windows", [1])
    sd = hg.SeriesDetector(random_state=seed, progress=False, threads=1, **options).fit(train)
    more = [
        hg.SeriesDetector(window=k * sd.window_, random_state=seed, progress=False, threads=1, **options)
        for k in scales[1:]
    ]
    return [sd] + [m.fit(train) for m in more]


def step_scores(members, rec) -> np.ndarray:
    """One detector's step scores; of several, the largest of their step scores, each scaled by
    its held-out stretch: 0 at its median, 1 at its 99th percentile (so that windows compare)."""
    if len(members) == 1:
        return members[0].score_steps(rec)
    out = []
    for m in members:
        cal = m.calibration_scores_
        mid, top = np.median(cal), np.percentile(cal, 99)
        out.append((m.score_steps(rec) - mid) / (top - mid if top > mid else 1.0))
    return np.max(out, axis=0)


def summarise(rows, table, half) -> dict:
    """Per candidate: the mean over files (each file's mean over seeds) on all files, each half and each
    domain, against the published methods' means over the same files and the per-file best."""
    out = {}
    for cname in dict.fromkeys(r["candidate"] for r in rows):
        per_file = {}
        for r in rows:
            if r["candidate"] == cname:
                per_file.setdefault(r["file"], []).append(r)
        means = {
            f: {k: statistics.mean(x[k] for x in v) for k in ("vus_pr", "auc_pr", "auc_roc")}
            for f, v in per_file.items()
        }
        groups = {"all": list(means)}
        for h in "AB":
            groups[f"half {h}"] = [f for f in means if half[f] == h]
        for d in DOMAINS:
            groups[d] = [f for f in means if f"_{d}_" in f]
        summary = {}
        for g, names in groups.items():
            if not names:
                continue
            s = {k: statistics.mean(means[f][k] for f in names) for k in ("vus_pr", "auc_pr", "auc_roc")}
            s["files"] = len(names)
            full = [f for f in names if len(table.get(f, {})) >= 32]  # the methods' means: files with all 32
            if full:
                methods = table[full[0]].keys()
                ranked = sorted(
                    ((m, statistics.mean(table[f][m] for f in full)) for m in methods), key=lambda kv: -kv[1]
                )
                s["published_files"] = len(full)
                s["hourglass_vus_pr_on_those"] = statistics.mean(means[f]["vus_pr"] for f in full)
                s["best_method"] = {"name": ranked[0][0], "vus_pr": ranked[0][1]}
                s["autoencoder"] = dict(ranked)["AutoEncoder"]
                s["rank"] = 1 + sum(v > s["hourglass_vus_pr_on_those"] for _, v in ranked)
                s["per_file_best_mean"] = statistics.mean(max(table[f].values()) for f in full)
            summary[g] = s
        seconds = [r["fit_seconds"] + r["score_seconds"] for r in rows if r["candidate"] == cname]
        summary["seconds_per_file"] = {"mean": statistics.mean(seconds), "max": max(seconds)}
        out[cname] = summary
    return out


def print_summary(summary) -> None:
    for cname, s in summary.items():
        parts = [f"{g} {v['vus_pr']:.3f}" for g, v in s.items() if isinstance(v, dict) and "vus_pr" in v]
        a = s["all"]
        ref = (
            f"  (best published {a['best_method']['name']} {a['best_method']['vus_pr']:.3f})"
            if "best_method" in a
            else ""
        )
        print(f"{cname:28s} VUS-PR " + "  ".join(parts) + ref + f"  {s['seconds_per_file']['mean']:.1f} s / file")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", nargs="+", default=["default"], help=f"of {sorted(CANDIDATES)}")
    ap.add_argument("--set", nargs="+", default=[], metavar="KEY=JSON", help="options of an ad-hoc candidate 'set'")
    ap.add_argument("--files", nargs="+", help="file name patterns")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--workers", type=int, default=2, help="files fitted at once (each on one thread)")
    ap.add_argument("--mba", action="store_true", help="also MBA_ECG805 (TSB-UAD's protocol) per candidate")
    ap.add_argument("--suite", action="store_true", help="also the robustness suite (recordings.py) per candidate")
    ap.add_argument("--channels", action="store_true", help="also multichannel variants: score_channels")
    ap.add_argument("--out")
    args = ap.parse_args()
    candidates = {c: CANDIDATES[c] for c in args.candidates if c != "set"}
    if args.set:
        candidates["set"] = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    paths = files(args.files) if args.files != ["none"] else []
    half = halves(files(None))
    table = published()
    jobs = [(p, c, o, s) for c, o in candidates.items() for p in paths for s in args.seeds]
    rows = []
    with ProcessPoolExecutor(args.workers) as pool:
        for row in pool.map(run_file, jobs):
            rows.append(row)
            print(
                f"{row['file'][:34]:34s} {row['candidate']:20s} s{row['seed']} w {row['window']:4d}  "
                f"VUS-PR {row['vus_pr']:.3f}  AUC-PR {row['auc_pr']:.3f}  AUC-ROC {row['auc_roc']:.3f}  "
                f"best {max(table[row['file']].values()):.3f}  "
                f"{row['fit_seconds'] + row['score_seconds']:5.1f} s",
                flush=True,
            )
    summary = summarise(rows, table, half)
    payload = {"benchmark": "tsbad", "candidates": candidates, "halves": half, "rows": rows, "summary": summary}
    payload["seconds_of_the_100k_step_file"] = next(
        (r["fit_seconds"] + r["score_seconds"] for r in rows if r["steps"] >= 100000 and r["candidate"] == "default"),
        None,
    )
    if args.mba or args.suite or args.channels:
        payload["extra"] = extra(candidates, args)
    print_summary(summary)
    write_json("tsbad", payload, args.out)


def run_variant(job) -> dict:
    """One robustness-suite variant or MBA_ECG805 fitted and scored (a worker process)."""
    cname, options, seed, vname, (x, y, train) = job
    from sklearn.metrics import average_precision_score, roc_auc_score

    import hourglass as hg

    members = fitted(x[:train], options, seed)
    sd, scores = members[0], step_scores(members, x)
    row = {"candidate": cname, "variant": vname, "auroc": float(roc_auc_score(y, scores))}
    row.update(auprc=float(average_precision_score(y, scores)), vus_pr=hg.vus(y, scores, sd.window_)["vus_pr"])
    return row


def multichannel(channels: int, rng, steps: int = 20000) -> tuple:
    """``channels`` periodic signals (periods 30-120, other units each) with 12 anomalies after the
    training part (the first 25 %), each in one channel: a level shift, a frequency change or noise.
    Returns values (time, channels), labels, the training steps, and per anomaly (start, stop, channel)."""
    t = np.arange(steps)
    periods = rng.integers(30, 121, channels)
    x = np.stack([np.sin(2 * np.pi * t / p + rng.uniform(0, 6)) for p in periods], axis=1)
    x = x + rng.normal(0, 0.1, x.shape)
    y = np.zeros(steps, np.int64)
    train, where = steps // 4, []
    for i, a in enumerate(np.linspace(train + 500, steps - 500, 12).astype(int)):
        c, b = int(rng.integers(channels)), a + int(rng.integers(40, 120))
        kind = ("level", "frequency", "noise")[i % 3]
        if kind == "level":
            x[a:b, c] += 1.5
        elif kind == "frequency":
            x[a:b, c] = np.sin(2 * np.pi * np.arange(b - a) / (periods[c] * 0.5))
        else:
            x[a:b, c] += rng.normal(0, 0.6, b - a)
        y[a:b] = 1
        where.append((a, b, c))
    scale = rng.uniform(1, 100, channels)
    return x * scale + 10 * scale, y, train, where


def run_channels(job) -> dict:
    """One multichannel variant: the step AUC-ROC and how often an anomaly's channel tops
    ``score_channels`` over its stretch (a worker process)."""
    cname, options, seed, channels = job
    from sklearn.metrics import roc_auc_score

    import hourglass as hg

    x, y, train, where = multichannel(channels, np.random.default_rng(500 + channels))
    sd = hg.SeriesDetector(random_state=seed, progress=False, threads=1, **options).fit(x[:train])
    per_channel = sd.score_channels(x)
    hits = [int(np.argmax(per_channel[a:b].mean(axis=0)) == c) for a, b, c in where]
    return {
        "candidate": cname,
        "channels": channels,
        "auroc": float(roc_auc_score(y, sd.score_steps(x))),
        "channel_named": float(np.mean(hits)),
        "anomalies": len(where),
    }


def extra(candidates, args) -> dict:
    """MBA_ECG805 (TSB-UAD: train on the first 10 %, point-wise AUCs) and the robustness suite's worst
    case and mean (the real recording's own row left out), per candidate."""
    import recordings

    import hourglass as hg

    data = {}
    if args.suite:
        data.update(recordings.suite_variants(argparse.Namespace(steps=60000, variants=None)))
    if args.mba:
        mba = hg.datasets.load("tsb-uad/MBA_ECG805")
        data["MBA_ECG805"] = (mba.values, mba.labels, mba.train_end)
    jobs = [(c, o, args.seeds[0], v, d) for c, o in candidates.items() for v, d in data.items()]
    rows = []
    if args.channels:
        with ProcessPoolExecutor(args.workers) as pool:
            jobs_c = [(c, o, args.seeds[0], k) for c, o in candidates.items() for k in (3, 8, 16)]
            channel_rows = list(pool.map(run_channels, jobs_c))
        for r in channel_rows:
            print(
                f"{r['candidate']}: {r['channels']:2d} channels  AUROC {r['auroc']:.4f}  "
                f"channel named {r['channel_named']:.2f}"
            )
    with ProcessPoolExecutor(args.workers) as pool:
        for row in pool.map(run_variant, jobs):
            rows.append(row)
            print(
                f"{row['candidate']}: {row['variant']:26s} AUROC {row['auroc']:.4f} AUPRC {row['auprc']:.4f}",
                flush=True,
            )
    out = {}
    for cname in candidates:
        mine = [r for r in rows if r["candidate"] == cname]
        res = {"rows": mine}
        mba_row = [r for r in mine if r["variant"] == "MBA_ECG805"]
        if mba_row:
            res["MBA_ECG805"] = {k: mba_row[0][k] for k in ("auroc", "auprc", "vus_pr")}
            res["MBA_ECG805"]["published_NORMA"] = {"auroc": 0.974, "auprc": 0.775}
        kept = [r for r in mine if r["variant"] not in ("ecg", "MBA_ECG805")]
        if kept:
            res["suite"] = {
                "worst_auroc": min(r["auroc"] for r in kept),
                "worst_variant": min(kept, key=lambda r: r["auroc"])["variant"],
                "mean_auroc": float(np.mean([r["auroc"] for r in kept])),
                "mean_auprc": float(np.mean([r["auprc"] for r in kept])),
                "mean_vus_pr": float(np.mean([r["vus_pr"] for r in kept])),
            }
            print(cname, "suite", res["suite"], "MBA", res.get("MBA_ECG805"))
        if args.channels:
            res["channels"] = [r for r in channel_rows if r["candidate"] == cname]
        out[cname] = res
    return out


if __name__ == "__main__":
    main()
