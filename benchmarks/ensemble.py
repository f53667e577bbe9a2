"""Members trained together (one DenseEnsemble) against the same members trained one after another,
in one run; and the default detector's fit time against the number of rows.

1. **Stacked vs sequential**: the default detector's six member architectures on an ADBench set,
   trained (a) as one ``dense-ensemble`` with ``hg.fit`` and (b) as six ``stacked`` models, each
   with ``hg.fit`` and its member's seed, the same rows, options and early stopping. Reports fit
   seconds of each, their ratio, the largest weight difference between a stacked member and its
   sequential twin, the AUROC of both ensembles (scored by one Detector over the stack, and by
   a DetectorEnsemble over the six) and the seconds each takes to score the test rows.
2. **One member = one model**: a one-member stack and the single model it holds end bit-identical.
3. **How to batch the members** (``--batching``): a training step of the six members as one
   ``dense-ensemble`` (``baddbmm`` per layer, what hourglass uses) against ``torch.func.vmap`` over
   ``functional_call`` of six ``stacked`` models' stacked parameters, and against six separate
   steps; microseconds per step, the same batches, Adam on every parameter.
4. **Rows**: ``hg.AutoencoderDetector()`` (the defaults) on 1k, 10k and 100k rows of 20
   correlated features: fit seconds, epochs, seconds per epoch per 1,000 rows.
5. **Unit masks** (``--masks``): the default detector fitted with the padded units' masks applied
   in every training step (as before) and with training skipping them (now), alternately, on
   each set and seed: fit seconds of both, their ratio, and whether the weights and scores are
   the same.

    HOURGLASS_DATA_DIR=../shared/data python benchmarks/ensemble.py
    HOURGLASS_DATA_DIR=../shared/data python benchmarks/ensemble.py --device cuda --rows 1000 10000
    HOURGLASS_DATA_DIR=../shared/data python benchmarks/ensemble.py --masks --sets <ADBench sets> --seeds 0 1 2

Writes benchmarks/results/ensemble.json (ensemble_cuda.json with --device cuda; ensemble_masks.json
with --masks).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from common import write_json
from sklearn.metrics import roc_auc_score

import hourglass as hg
from hourglass.models import DenseEnsemble, member_seeds


def _sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def stacked_vs_sequential(name: str, device: str, seed: int) -> dict:
    ds = hg.datasets.load(f"adbench/{name}", seed=seed)
    scaler = hg.StandardScaler().fit(ds.x_train)
    x = scaler.transform(ds.x_train).astype(np.float32)
    n_val = len(x) // 10
    x_train, x_val = x[n_val:], x[:n_val]
    f = x.shape[1]
    sizes = [hg.estimators.tabular_architecture(f, k) for k in range(6)]
    seeds = member_seeds(seed, 6)
    opts = hg.FitOptions(epochs=30, batch_size=64, trim=0.2, early_stopping=5, seed=seed, progress=False, device=device)

    def member(k):
        return hg.create_model("stacked", input_shape=(f,), seed=seeds[k], output_activation="none", **sizes[k])

    ens = DenseEnsemble.from_members([member(k) for k in range(6)])
    _sync(device)
    start = time.perf_counter()
    hist = hg.fit(ens, x_train, validation=x_val, options=opts)
    _sync(device)
    stacked_s = time.perf_counter() - start

    models, histories, start = [], [], time.perf_counter()
    for k in range(6):
        m = member(k)
        histories.append(hg.fit(m, x_train, validation=x_val, options=opts.replace(seed=seeds[k])))
        models.append(m)
    _sync(device)
    sequential_s = time.perf_counter() - start

    diff = max(
        float((p.cpu() - q.cpu()).abs().max())
        for k, m in enumerate(models)
        for p, q in zip(m.state_dict().values(), ens.member(k).state_dict().values())
    )
    test = scaler.transform(ds.x_test).astype(np.float32)
    stacked_det = hg.Detector(ens, score="l2").fit(x_train)
    seq_det = hg.DetectorEnsemble([hg.Detector(m, score="l2") for m in models]).fit(x_train)
    scoring = {}
    for label, det in (("stacked", stacked_det), ("sequential", seq_det)):
        det.score_samples(test)
        start = time.perf_counter()
        for _ in range(20):
            det.score_samples(test)
        scoring[label] = (time.perf_counter() - start) / 20
    return {
        "set": name,
        "seed": seed,
        "device": device,
        "features": f,
        "rows": len(x_train),
        "scoring_seconds_stacked": scoring["stacked"],
        "scoring_seconds_sequential": scoring["sequential"],
        "test_rows": len(test),
        "member_sizes": [list(s["hidden"]) + [s["latent_dim"]] for s in sizes],
        "stacked_seconds": stacked_s,
        "sequential_seconds": sequential_s,
        "speedup": sequential_s / stacked_s,
        "member_epochs_stacked": [h.epochs for h in hist.members],
        "member_epochs_sequential": [h.epochs for h in histories],
        "max_weight_difference": diff,
        "auroc_stacked": float(roc_auc_score(ds.y_test, stacked_det.score_samples(test))),
        "auroc_sequential": float(roc_auc_score(ds.y_test, seq_det.score_samples(test))),
    }


def one_member_is_the_model(name: str) -> dict:
    ds = hg.datasets.load(f"adbench/{name}", seed=0)
    x = hg.StandardScaler().fit_transform(ds.x_train).astype(np.float32)
    f = x.shape[1]
    opts = dict(epochs=20, batch_size=64, trim=0.2, early_stopping=3, seed=5, progress=False, device="cpu")
    single = hg.create_model("stacked", input_shape=(f,), seed=5, output_activation="none", hidden=(16,), latent_dim=4)
    stack = DenseEnsemble.from_members(
        [hg.create_model("stacked", input_shape=(f,), seed=5, output_activation="none", hidden=(16,), latent_dim=4)]
    )
    hg.fit(single, x[100:], validation=x[:100], **opts)
    hg.fit(stack, x[100:], validation=x[:100], **opts)
    same = all(torch.equal(p, q) for p, q in zip(single.state_dict().values(), stack.member(0).state_dict().values()))
    return {"set": name, "bit_identical": same}


def batching(name: str, steps: int = 300) -> dict:
    """Per-step time of the three ways to train six members on their own batches."""
    from torch.func import functional_call, stack_module_state, vmap

    ds = hg.datasets.load(f"adbench/{name}", seed=0)
    x = torch.from_numpy(hg.StandardScaler().fit_transform(ds.x_train).astype(np.float32))
    f, n = x.shape[1], 6
    shape = hg.estimators.tabular_architecture(f, 1)  # one shape for all, so vmap can stack them
    models = [hg.create_model("stacked", input_shape=(f,), seed=k, output_activation="none", **shape) for k in range(n)]
    ens = DenseEnsemble.from_members(models)
    params, buffers = stack_module_state(models)
    base = models[0]

    def member_loss(p, b, xb):
        return (functional_call(base, (p, b), (xb,)) - xb).square().mean()

    vmapped = vmap(member_loss)
    gen = torch.Generator().manual_seed(0)
    index = torch.randint(0, len(x), (steps, n, 128), generator=gen)
    opt_stack = torch.optim.Adam(ens.parameters(), fused=True)
    opt_vmap = torch.optim.Adam(list(params.values()), fused=True)
    opts_seq = [torch.optim.Adam(m.parameters(), fused=True) for m in models]

    def step_stack(i):
        xb = x[index[i]]
        ens.training_loss(xb, xb, loss="mse").per_sample.mean(1).sum().backward()
        opt_stack.step()
        opt_stack.zero_grad()

    def step_vmap(i):
        vmapped(params, buffers, x[index[i]]).sum().backward()
        opt_vmap.step()
        opt_vmap.zero_grad()

    def step_sequential(i):
        for k, (m, o) in enumerate(zip(models, opts_seq)):
            xb = x[index[i, k]]
            m.loss(xb, xb).backward()
            o.step()
            o.zero_grad()

    out = {}
    for label, fn in [("stacked baddbmm", step_stack), ("torch.func.vmap", step_vmap), ("six steps", step_sequential)]:
        for i in range(20):
            fn(i)
        start = time.perf_counter()
        for i in range(steps):
            fn(i)
        out[label] = (time.perf_counter() - start) / steps * 1e6
    return {"set": name, "features": f, "batch": 128, "members": n, "us_per_step": out}


def rows_scaling(rows: list[int], device: str) -> list[dict]:
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(5, 20))
    out = []
    for n in rows:
        x = (rng.normal(size=(n, 5)) @ mixing + 0.1 * rng.normal(size=(n, 20))).astype(np.float32)
        est = hg.AutoencoderDetector(random_state=0, device=device)
        _sync(device)
        start = time.perf_counter()
        est.fit(x)
        _sync(device)
        seconds = time.perf_counter() - start
        epochs = est.history_.epochs
        out.append(
            {
                "rows": n,
                "features": 20,
                "fit_seconds": seconds,
                "epochs": epochs,
                "seconds_per_epoch_per_1000_rows": seconds / epochs / (n / 1000),
            }
        )
        print(out[-1], flush=True)
    return out


def unit_masks(name: str, seed: int) -> dict:
    """The default detector with the masks in every training step and without, alternately."""
    ds = hg.datasets.load(f"adbench/{name}", seed=seed)
    skipping = DenseEnsemble._needs_masks
    fits = {}
    for label in ("masks", "skipped") if seed % 2 == 0 else ("skipped", "masks"):
        DenseEnsemble._needs_masks = skipping if label == "skipped" else (lambda self: True)
        try:
            start = time.perf_counter()
            est = hg.AutoencoderDetector(random_state=seed).fit(ds.x_train)
            fits[label] = (time.perf_counter() - start, est)
        finally:
            DenseEnsemble._needs_masks = skipping
    (t_mask, with_masks), (t_skip, without) = fits["masks"], fits["skipped"]
    same = all(
        torch.equal(a, b) for a, b in zip(with_masks.model_.state_dict().values(), without.model_.state_dict().values())
    )
    return {
        "set": name,
        "seed": seed,
        "seconds_masks": t_mask,
        "seconds_skipped": t_skip,
        "skipped_vs_masks": t_skip / t_mask,
        "same_weights": same,
        "same_scores": bool(np.array_equal(with_masks.score_samples(ds.x_test), without.score_samples(ds.x_test))),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", default=["6_cardio", "38_thyroid", "2_annthyroid"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--rows", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: these models are tiny)")
    ap.add_argument("--batching", action="store_true", help="only the per-step comparison of ways to batch")
    ap.add_argument("--masks", action="store_true", help="only fits with and without the unit masks")
    ap.add_argument("--out")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    torch.set_num_threads(args.threads)
    if args.masks:
        unit_masks(args.sets[0], 99)  # warm-up
        rows = [unit_masks(name, seed) for name in args.sets for seed in args.seeds]
        for r in rows:
            print(r, flush=True)
        masks, skipped = sum(r["seconds_masks"] for r in rows), sum(r["seconds_skipped"] for r in rows)
        summary = {
            "fits": len(rows),
            "summed_seconds_masks": masks,
            "summed_seconds_skipped": skipped,
            "skipped_vs_masks": skipped / masks,
            "median_pair_ratio": float(np.median([r["skipped_vs_masks"] for r in rows])),
            "all_same_weights": all(r["same_weights"] for r in rows),
            "all_same_scores": all(r["same_scores"] for r in rows),
        }
        print(summary)
        write_json("ensemble_masks", {"benchmark": "ensemble --masks", "summary": summary, "results": rows}, args.out)
        return
    if args.batching:
        rows = [batching(name) for name in args.sets]
        for r in rows:
            print(r)
        write_json("ensemble_batching", {"benchmark": "ensemble --batching", "results": rows}, args.out)
        return
    stacked_vs_sequential(args.sets[0], args.device, 99)  # warm-up: first calls pay one-time setup
    pairs = []
    for name in args.sets:
        for seed in args.seeds:
            pairs.append(stacked_vs_sequential(name, args.device, seed))
            print({k: v for k, v in pairs[-1].items() if k != "member_sizes"}, flush=True)
    exact = one_member_is_the_model(args.sets[0])
    print(exact)
    scaling = rows_scaling(args.rows, args.device) if args.rows else []
    speedups = [p["speedup"] for p in pairs]
    summary = {
        "median_speedup_stacked_vs_sequential": float(np.median(speedups)),
        "median_scoring_speedup": float(
            np.median([p["scoring_seconds_sequential"] / p["scoring_seconds_stacked"] for p in pairs])
        ),
        "mean_auroc_stacked": float(np.mean([p["auroc_stacked"] for p in pairs])),
        "mean_auroc_sequential": float(np.mean([p["auroc_sequential"] for p in pairs])),
    }
    print(summary)
    write_json(
        "ensemble" if args.device == "cpu" else f"ensemble_{args.device}",
        {
            "benchmark": "ensemble",
            "summary": summary,
            "stacked_vs_sequential": pairs,
            "one_member": exact,
            "rows_scaling": scaling,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
