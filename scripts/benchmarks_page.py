"""Write docs/benchmarks.md and the README's headline table from benchmarks/results/*.json.

Every figure on the page is read from a results file that a script in benchmarks/ wrote; nothing
is typed by hand, so a rerun changes the page and a page that disagrees with its files is stale.

    python scripts/benchmarks_page.py           # write both
    python scripts/benchmarks_page.py --check   # exit 1 if either is stale (tests/test_docs.py)
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PAGE = ROOT / "docs" / "benchmarks.md"
README = ROOT / "README.md"
START, END = "<!-- headline: start (scripts/benchmarks_page.py) -->", "<!-- headline: end -->"

#: which decision record discusses a benchmark's figures (docs/decisions/)
DECISIONS = {
    "adbench": "tabular-defaults",
    "adbench_defaults": "tabular-defaults",
    "adbench_scores": "tabular-defaults",
    "ensemble": "training-speed",
    "speed": "training-speed",
    "conv1d_speed": "training-speed",
    "gradient_paths": "gradient-paths",
    "busy": "threads",
    "threads": "threads",
    "allocator": "allocator",
    "recordings": "series-defaults",
    "tsbad": "series-defaults",
    "ecg_models": "ecg-models",
    "mnist_one_class": "image-scores",
    "one_class_scores": "image-scores",
    "embeddings": "image-scores",
    "vae": "vae",
    "cvae_samples": "vae",
    "scale": "scale-and-io",
    "big_csv": "scale-and-io",
    "csv_engines": "scale-and-io",
    "dask_scoring": "scale-and-io",
    "onnx_speed": "scale-and-io",
    "report_time": "scale-and-io",
    "import_time": "scale-and-io",
    "killed_saves": "scale-and-io",
}


#: results files kept from experiments whose scripts (or options) were removed after they decided
#: something: listed apart, with the decision record that keeps their conclusions
REMOVED = {
    "conv_step": "cpu-step-experiments",
    "conv_overheads": "cpu-step-experiments",
    "relu_mask": "cpu-step-experiments",
    "step_floor": "cpu-step-experiments",
    "speed_optimizers": "cpu-step-experiments",
    "speed_output_conv": "cpu-step-experiments",
    "speed_gradients": "cpu-step-experiments",
    "speed_ddp_flatten": "cpu-step-experiments",
}


def load(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def date(d: dict) -> str:
    return str(d.get("environment", {}).get("date", "?"))[:10]


# -- the headline rows: (what, file, function of the file -> (hourglass, reference)) -------------


def _tutorials(d):
    s, t = d["summary"], d["targets"]
    return (
        f"accuracy {s['ecg_accuracy']:.3f}, dense val MSE {s['fashion_dense_val_mse']:.5f}, "
        f"denoiser {s['fashion_denoise_val_mse']:.5f}",
        f"the tutorials: {t['ecg_accuracy']:.2f}, {t['fashion_dense_val_mse']:.4f}, {t['fashion_denoise_val_mse']:.4f}",
    )


def _speed(d):
    rows = {(r["model"], r["batch_size"]): r["speedup_median_of_paired_epochs"] for r in d["results"]}
    ours = ", ".join(f"{m} {rows[(m, b)]:.2f}x" for m in ("dense", "conv") for b in (32,) if (m, b) in rows)
    return ours + " faster", "the same model in a typical PyTorch loop: 1.00x"


def _adbench(d):
    s = next(r["summary"]["all"] for r in d["results"] if "summary" in r)
    return (
        f"mean AUROC {s['hourglass']['mean_auroc']:.3f}, AUPRC {s['hourglass']['mean_auprc']:.3f}",
        f"PyOD AutoEncoder {s['pyod_autoencoder']['mean_auroc']:.3f} / {s['pyod_autoencoder']['mean_auprc']:.3f}, "
        f"IsolationForest {s['isolation_forest']['mean_auroc']:.3f} / {s['isolation_forest']['mean_auprc']:.3f}",
    )


def _busy(d):
    def slowdowns(method):
        rows = [r for r in d["summary"] if r["model"] == "tabular" and r["method"] == method]
        return {r["condition"]: r["slowdown"] for r in rows}

    ours, before = slowdowns("hourglass"), slowdowns("hourglass-torch-threads")
    return (
        f"two fits at once {ours['pair']:.2f}x, beside busy cores {ours['busy']:.2f}x its time alone",
        f"with torch's default threads: {before['pair']:.2f}x, {before['busy']:.1f}x",
    )


def _ecg_recording(d):
    r = d["real"]["MBA_ECG805"]
    auroc = statistics.mean(s["auroc"] for s in r["seeds"])
    auprc = statistics.mean(s["auprc"] for s in r["seeds"])
    best = r["published"]["NORMA"]
    ours = f"AUROC {auroc:.3f}, AUPRC {auprc:.3f} ({len(r['seeds'])} seeds)"
    return ours, f"NORMA (TSB-UAD's best) {best[0]} / {best[1]}"


def _nab(d):
    r = d["real"]["001_NAB_id_1_Facility"]
    vus = statistics.mean(s["vus_pr"] for s in r["seeds"])
    best = max(r["published_vus_pr"].items(), key=lambda kv: kv[1])
    return f"VUS-PR {vus:.3f} ({len(r['seeds'])} seeds)", f"{best[0]} {best[1]}"


def _tsbad(d):
    s = d["summary"]["default"]
    a, h = s["all"], f"half A {s['half A']['vus_pr']:.3f}, half B {s['half B']['vus_pr']:.3f}"
    ours = f"mean VUS-PR {a['vus_pr']:.3f} ({a['files']} files; {h}), MGAB {s['MGAB']['vus_pr']:.3f}"
    best = a["best_method"]
    return ours, f"best published {best['name']} {best['vus_pr']:.3f} on the {a['published_files']} files it covers"


def _one_class(d):
    f = d["every_class"]["fashion-mnist"]["feature-knn"]["mean_auroc"]
    m = d["every_class"]["mnist"]["mse-blur1-worst0.05"]["mean_auroc"]
    return f"mean AUROC {f:.3f} (Fashion-MNIST), {m:.3f} (MNIST)", "targets 0.93 / 0.97 (issue 19)"


def _vae(d):
    s = d["summary"]["100"]["dynamic+vamp+iwae5"]
    return f"test NLL {s['nll_mean']:.2f} ± {s['nll_std']:.2f} nats ({s['seeds']} seeds)", "the classic 85-90 nats"


HEADLINES: list[tuple[str, str, Callable[[dict], tuple[str, str]]]] = [
    ("Keras tutorials (ECG5000 detector, Fashion-MNIST AE and denoiser)", "tutorials", _tutorials),
    ("Training speed on 2 CPU cores, batch 32", "speed", _speed),
    ("Default tabular detector, 20 ADBench sets", "adbench", _adbench),
    ("Default tabular detector on a busy machine", "busy_tabular", _busy),
    ("`SeriesDetector()`, TSB-UAD ECG recording (230,400 steps)", "recordings", _ecg_recording),
    ("`SeriesDetector()`, TSB-AD NAB series", "recordings", _nab),
    ("`SeriesDetector()`, 17 TSB-AD series (NAB, MGAB, UCR)", "tsbad", _tsbad),
    ("One-class images, every class in turn", "mnist_one_class", _one_class),
    ("Dense VAE on binarised MNIST", "vae_likelihood", _vae),
]


def headline_table() -> str:
    lines = ["| benchmark | hourglass | reference | results |", "|---|---|---|---|"]
    for what, name, fn in HEADLINES:
        d = load(name)
        ours, reference = fn(d)
        lines.append(f"| {what} | {ours} | {reference} | `{name}.json`, {date(d)} |")
    return "\n".join(lines)


# -- the index of every benchmark -------------------------------------------------------------


def script_summary(path: Path) -> tuple[str, str]:
    """A benchmark script's first docstring line and the command its docstring gives first."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    first = doc.strip().splitlines()[0] if doc.strip() else path.stem
    pattern = rf"^\s*((?:HOURGLASS_DATA_DIR=\S+ )?python benchmarks/{re.escape(path.name)}[^#\n]*)"
    found = re.search(pattern, doc, re.M)
    return first, found.group(1).strip() if found else f"python benchmarks/{path.name}"


def results_of(stem: str, stems: list[str]) -> list[Path]:
    """The results files a script wrote: those named after it, not after a longer script name."""
    out = []
    for f in sorted(RESULTS.glob("*.json")):
        if f.stem in REMOVED:
            continue
        owner = max((s for s in stems if f.stem == s or f.stem.startswith(s + "_")), key=len, default=None)
        if owner == stem:
            out.append(f)
    return out


def index_table() -> str:
    scripts = sorted(p for p in (ROOT / "benchmarks").glob("*.py") if p.name != "common.py")
    stems = [p.stem for p in scripts]
    lines = ["| benchmark | what it measures | command | results | discussed in |", "|---|---|---|---|---|"]
    for path in scripts:
        first, command = script_summary(path)
        files = results_of(path.stem, stems)
        listed = ", ".join(f"`{f.name}` ({date(json.loads(f.read_text()))})" for f in files) or "prints only"
        decision = DECISIONS.get(path.stem)
        where = f"[{decision}](decisions/{decision}.md)" if decision else "-"
        lines.append(f"| `{path.name}` | {first.replace('|', '/')} | `{command}` | {listed} | {where} |")
    return "\n".join(lines)


def removed_table() -> str:
    lines = ["| results | measured | conclusions in |", "|---|---|---|"]
    for stem, decision in REMOVED.items():
        d = load(stem)
        lines.append(f"| `{stem}.json` | {date(d)} | [{decision}](decisions/{decision}.md) |")
    return "\n".join(lines)


def page() -> str:
    return f"""# Benchmarks

<!-- Generated by scripts/benchmarks_page.py from benchmarks/results/*.json: do not edit by hand;
rerun a benchmark, then the script (tests/test_docs.py fails while this page is stale). -->

Every figure here is read from a file in `benchmarks/results/` that a script in `benchmarks/`
wrote; the scripts print the same figures. Measured on the project's 2-core CPU machine (torch
2.13.0 CPU build) unless the file says otherwise. Speed figures are ratios against a baseline run
in the same process, on paired epochs. Why each default is what it is, with the runs that chose
it: the decision records (Decisions in the navigation).

## Headline results

{headline_table()}

## Every benchmark

{index_table()}

GPU runs (`benchmarks/gpu_check.sh`, on a lent H100 / H200) write `benchmarks/results/gpu/`;
`benchmarks/results/speed_interleaved/` holds `speed.py` runs of this release alternated with
0.1.0's.

## Results kept from removed experiments

{removed_table()}
"""


def readme_with(table: str) -> str:
    text = README.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"README.md has no {START!r} ... {END!r} block")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if a page is stale; write nothing")
    args = ap.parse_args(argv)
    wanted = {PAGE: page(), README: readme_with(headline_table())}
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text() != text]
    if args.check:
        for p in stale:
            print(f"stale: {p.relative_to(ROOT)} (run python scripts/benchmarks_page.py)", file=sys.stderr)
        return 1 if stale else 0
    for p in stale:
        p.write_text(wanted[p])
        print(f"wrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
