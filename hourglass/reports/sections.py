"""The report's sections: what each shows of a model or detector and its data (:data:`BUILDERS`,
in the page's order), and the pieces they are made of (:class:`Section`, :func:`cards`,
:func:`embed_figure`, the shared :class:`Context`)."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hourglass.atomic import json_default, write_bytes_atomic
from hourglass.display import escape as _esc
from hourglass.display import number as _number
from hourglass.display import table as _table
from hourglass.errors import InvalidInputError
from hourglass.version import __version__


@dataclass
class Section:
    key: str
    title: str
    parts: list[str] = field(default_factory=list)


def cards(items) -> str:
    return (
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{_number(v)}</b><span>{_esc(k)}</span></div>' for k, v in items)
        + "</div>"
    )


def embed_figure(fig, caption: str, save_as: Path | None = None) -> str:
    """The figure as an embedded PNG; also written to ``save_as`` when given."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    if save_as is not None:
        write_bytes_atomic(save_as, buf.getvalue())
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (
        f'<figure><img alt="{_esc(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


@dataclass
class Context:
    model: object
    det: object
    x: np.ndarray
    y: np.ndarray | None
    history: object
    class_labels: object
    class_names: object
    corruption: object
    figures_dir: Path | None = None
    _cache: dict = field(default_factory=dict)

    def figure(self, fig, caption: str, key: str) -> str:
        return embed_figure(fig, caption, None if self.figures_dir is None else self.figures_dir / f"{key}.png")

    @property
    def kind(self) -> str:
        if "kind" not in self._cache:
            self._cache["kind"] = _data_kind(self.model)
        return self._cache["kind"]

    @property
    def scores(self) -> np.ndarray | None:
        if self.det is None:
            return None
        if "scores" not in self._cache:
            self._cache["scores"] = self.det.score_samples(self.x)
        return self._cache["scores"]

    @property
    def metrics(self) -> dict:
        """Detection metrics on x, y (a detector with labels only)."""
        if "metrics" not in self._cache:
            from hourglass.detection.metrics import detection_metrics

            self._cache["metrics"] = detection_metrics(self.y, self.scores, self.det.threshold_)
        return self._cache["metrics"]

    @property
    def member(self):
        """The detector whose model the plots show (an ensemble's first member)."""
        return getattr(self.det, "detectors", [self.det])[0]

    @property
    def model_input(self) -> np.ndarray:
        """x as the model sees it (a detector's scaler applied, by its scorer)."""
        if "model_input" not in self._cache:
            self._cache["model_input"] = self.x if self.det is None else self.member.model_input(self.x)
        return self._cache["model_input"]

    def reconstruct(self, rows: np.ndarray, inputs: np.ndarray | None = None) -> np.ndarray | None:
        """Reconstructions of ``x[rows]`` (or of ``inputs``, e.g. noisy ones), in the units of ``x``:
        a detector's come from its scorer (scaler, input transform, the members' mean)."""
        from hourglass.inference import reconstruct

        if self.det is not None:
            return self.det.reconstruct(self.x[rows] if inputs is None else inputs)
        labels = None
        if self.model.conditional:
            if self.class_labels is None:
                return None
            labels = np.asarray(self.class_labels)[rows]
        source = self.model_input[rows] if inputs is None else inputs
        return reconstruct(self.model, source, labels=labels)


def _data_kind(model) -> str:
    """images, series (a signal: sequence models, or a long 1-D input) or table."""
    shape = tuple(model.input_shape)
    if len(shape) == 3:
        return "images"
    axes = getattr(model, "axis_names", None) or ()
    if "time steps" in axes or len(shape) == 2:
        return "series"
    # A dense model on a long 1-D input is most often a signal (an ECG beat); short rows are tables.
    return "series" if shape[0] >= 64 else "table"


def recorded_corruption(history):
    from hourglass.transforms.corruptions import corruption_from_dict

    spec = None if history is None else getattr(history, "settings", {}).get("corruption")
    if isinstance(spec, dict):
        try:
            return corruption_from_dict(spec)
        except InvalidInputError:
            return None
    return None


# -- sections ---------------------------------------------------------------------------------


def _overview(ctx: Context) -> Section:
    model, det = ctx.model, ctx.det
    n_params = sum(p.numel() for p in model.parameters())
    items = [
        ("model", model.name),
        ("parameters", n_params),
        ("input shape", "×".join(map(str, model.input_shape))),
        ("code size", int(np.prod(model.latent_shape))),
        ("samples shown", len(ctx.x)),
    ]
    if det is not None:
        flagged = int((ctx.scores > det.threshold_).sum())
        items += [("threshold", det.threshold_), ("flagged", f"{flagged:,} ({flagged / len(ctx.x):.1%})")]
        if ctx.y is not None:
            items += [("AUROC", ctx.metrics["auroc"]), ("F1", ctx.metrics["f1"])]
    return Section("overview", "Overview", [cards(items)])


def _metrics(ctx: Context) -> Section | None:
    from hourglass.reports import figures

    det = ctx.det
    if det is None:
        return _reconstruction_error(ctx)
    section = Section("detection", "Detection")
    scores, thr = ctx.scores, det.threshold_
    section.parts.append(
        _table(
            [
                ("score", det.score),
                ("threshold rule", repr(det.threshold)),
                ("threshold", thr),
                ("scaler", repr(ctx.member.scaler) if ctx.member.scaler is not None else "none"),
                (
                    "input transform",
                    repr(ctx.member.input_transform) if ctx.member.input_transform is not None else "none",
                ),
            ]
            + [(f"calibration scores: {k}", v) for k, v in getattr(det, "train_scores_", {}).items()]
        )
    )
    if ctx.y is not None:
        m = ctx.metrics
        keys = ("accuracy", "precision", "recall", "f1", "auroc", "auprc")
        section.parts.append("<h3>Metrics (anomaly = positive class)</h3>")
        section.parts.append(_table([[m[k] for k in keys]], header=keys))
        section.parts.append(
            _table(
                [("normal", m["tn"], m["fp"]), ("anomaly", m["fn"], m["tp"])],
                header=("true \\ predicted", "normal", "anomaly"),
            )
        )
        section.parts.append(
            ctx.figure(
                figures.error_histogram(scores[ctx.y == 0], scores[ctx.y == 1], thr, "Anomaly scores on the test data"),
                "Scores of normal and anomalous samples; the dashed line is the threshold.",
                "error_histogram",
            )
        )
        if 0 < ctx.y.sum() < len(ctx.y):
            section.parts.append(
                '<div class="row">'
                + ctx.figure(
                    figures.roc_curve(ctx.y, scores, thr), "ROC curve; the dot is the detector's threshold.", "roc"
                )
                + ctx.figure(
                    figures.pr_curve(ctx.y, scores, thr),
                    "Precision-recall curve; the dot is the detector's threshold.",
                    "precision_recall",
                )
                + "</div>"
            )
    else:
        section.parts.append(
            ctx.figure(
                figures.error_histogram(scores, None, thr, "Anomaly scores"),
                "Scores of the samples shown (no labels given); the dashed line is the threshold.",
                "error_histogram",
            )
        )
    return section


def _reconstruction_error(ctx: Context) -> Section | None:
    from hourglass.reports import figures

    rows = np.arange(min(len(ctx.x), 4096))
    recon = ctx.reconstruct(rows)
    if recon is None:
        return None
    err = np.abs(recon - ctx.model_input[rows]).reshape(len(rows), -1)
    mse = (err**2).mean(axis=1)
    section = Section("errors", "Reconstruction error")
    section.parts.append(_table([("MAE", float(err.mean())), ("MSE", float(mse.mean())), ("samples", len(rows))]))
    section.parts.append(
        ctx.figure(
            figures.error_histogram(mse, None, None, "Reconstruction error per sample (MSE)"),
            "How well the model reconstructs each sample shown.",
            "error_histogram",
        )
    )
    return section


def _history(ctx: Context) -> Section | None:
    from hourglass.reports import figures

    h = ctx.history
    if h is None or not h.train_loss:
        return None
    section = Section("training", "Training")
    section.parts.append(ctx.figure(figures.loss_curves(h, "Loss per epoch"), "Training and validation loss.", "loss"))
    rows = [("epochs run", h.epochs), ("final training loss", h.train_loss[-1])]
    if h.val_loss:
        rows.append(("final validation loss", h.val_loss[-1]))
    if h.best_epoch:
        rows.append(("best epoch", h.best_epoch))
    if h.stopped_early:
        rows.append(("stopped early", True))
    if h.epoch_seconds:
        rows.append(("training seconds", float(np.sum(h.epoch_seconds))))
    rows += [
        (k, json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in sorted(h.settings.items()) if v is not None
    ]
    section.parts.append(_table(rows))
    return section


def _pick(ctx: Context, n: int) -> np.ndarray:
    """Rows to show: normal and anomalous ones side by side when labels are known."""
    if ctx.y is not None and ctx.det is not None:
        normal, anomalous = np.flatnonzero(ctx.y == 0), np.flatnonzero(ctx.y == 1)
        half = n // 2
        return np.concatenate([normal[: n - min(half, len(anomalous))], anomalous[:half]])[:n]
    return np.arange(min(n, len(ctx.x)))


def _reconstructions(ctx: Context) -> Section | None:
    from hourglass.reports import figures

    kind = ctx.kind
    section = Section("reconstructions", "Reconstructions")
    if kind == "images":
        rows = _pick(ctx, 10)
        inputs = ctx.x[rows]
        noisy = None
        if ctx.corruption is not None:
            import torch

            gen = torch.Generator().manual_seed(0)
            noisy = ctx.corruption(torch.from_numpy(np.ascontiguousarray(inputs)), gen).numpy()
        recon = ctx.reconstruct(rows, noisy)
        if recon is None:
            return None
        title = "Noisy inputs and what the model restores" if noisy is not None else "Originals and reconstructions"
        section.parts.append(
            ctx.figure(
                figures.reconstruction_grid(inputs, recon, noisy=noisy, title=title),
                "Top row: test images"
                + (
                    "; middle: the training corruption applied; bottom: the model's output."
                    if noisy is not None
                    else "; bottom: the model's reconstruction."
                ),
                "reconstructions",
            )
        )
    elif kind == "series":
        rows = _pick(ctx, 2) if ctx.det is not None and ctx.y is not None else np.arange(min(2, len(ctx.x)))
        recon = ctx.reconstruct(rows)
        if recon is None:
            return None
        examples = []
        for i, r in zip(rows, recon):
            what = ("anomalous" if ctx.y[i] else "normal") if ctx.y is not None and ctx.det is not None else "sample"
            score = f" (score {ctx.scores[i]:.3g})" if ctx.det is not None else ""
            examples.append((_first_channel(ctx.x[i]), _first_channel(r), f"{what} #{i}{score}"))
        section.parts.append(
            ctx.figure(
                figures.series_examples(examples),
                "Signals and their reconstructions; the shaded band is the error.",
                "reconstructions",
            )
        )
    else:
        return None
    return section


def _first_channel(a: np.ndarray) -> np.ndarray:
    return a[0] if a.ndim == 2 else a


def _anomalies(ctx: Context) -> Section | None:
    from hourglass.reports import figures

    det = ctx.det
    if det is None:
        return None
    section = Section("anomalies", "Most anomalous samples")
    scores = ctx.scores
    order = np.argsort(-scores, kind="stable")
    if ctx.kind == "images":
        labels = None if ctx.class_labels is None else np.asarray(ctx.class_labels)
        section.parts.append(
            ctx.figure(
                figures.top_anomalies(ctx.x, scores, k=16, labels=labels, class_names=ctx.class_names),
                "The highest-scoring images, most anomalous first (score · class).",
                "top_anomalies",
            )
        )
        top = order[:8]
        maps = det.score_map(ctx.x[top])
        section.parts.append(
            ctx.figure(
                figures.anomaly_heatmaps(ctx.x[top], maps, scores[top]),
                "Per-pixel error of the eight most anomalous images (Detector.score_map).",
                "heatmaps",
            )
        )
    elif ctx.kind == "series":
        top = order[:3]
        recon = ctx.reconstruct(top)
        examples = [
            (_first_channel(ctx.x[i]), _first_channel(r), f"#{i}: score {scores[i]:.3g}") for i, r in zip(top, recon)
        ]
        section.parts.append(
            ctx.figure(
                figures.series_examples(examples),
                "The three highest-scoring signals and their reconstructions.",
                "top_anomalies",
            )
        )
    else:
        top = order[:10]
        explanation = det.explain(ctx.x[top], top=3)
        rows = []
        for j, i in enumerate(top):
            parts = ", ".join(f"{n} ({s:.0%})" for n, s in zip(explanation.names[j], explanation.shares[j]))
            label = "" if ctx.y is None else ("anomaly" if ctx.y[i] else "normal")
            rows.append((int(i), float(scores[i]), label, parts))
        section.parts.append(_table(rows, header=("row", "score", "label", "largest errors (share of the score)")))
    return section


def _latent(ctx: Context) -> Section | None:
    from hourglass.inference import encode
    from hourglass.reports import figures

    model = ctx.model
    rows = np.arange(min(len(ctx.x), 5000))
    labels = None
    if model.conditional:
        if ctx.class_labels is None:
            return None
        labels = np.asarray(ctx.class_labels)[rows]
    codes = encode(model, ctx.model_input[rows], labels=labels)
    if codes.reshape(len(codes), -1).shape[1] < 2:
        return None
    if ctx.class_labels is not None:
        colour, names = np.asarray(ctx.class_labels)[rows], ctx.class_names
    elif ctx.y is not None and ctx.det is not None:
        colour, names = ctx.y[rows], ("normal", "anomaly")
    else:
        colour, names = None, None
    fig = figures.latent_scatter(codes, colour, class_names=names, title="Codes of the samples shown")
    return Section(
        "latent",
        "Latent space",
        [
            ctx.figure(
                fig,
                "Each sample's code (its first two principal components when the code has more than two dimensions).",
                "latent",
            )
        ],
    )


def _samples(ctx: Context) -> Section | None:
    from hourglass.reports import figures

    if not ctx.model.generative or ctx.kind != "images":
        return None
    fig = figures.sample_grid(ctx.model, n_per_row=10, rows=4, class_names=ctx.class_names)
    return Section(
        "samples",
        "Generated samples",
        [ctx.figure(fig, "New images decoded from codes drawn from the prior.", "samples")],
    )


def _configuration(ctx: Context) -> Section:
    import torch

    config = ctx.model.description()
    if ctx.det is not None:
        config["detector"] = {k: v for k, v in ctx.det.description().items() if k != "train_scores"}
    versions = _table([("hourglass", __version__), ("torch", torch.__version__)])
    return Section(
        "configuration",
        "Configuration",
        [f"<pre>{_esc(json.dumps(config, indent=2, default=json_default), quote=False)}</pre>", versions],
    )


#: The report's sections, in order; each returns None where it does not apply.
BUILDERS = [_overview, _metrics, _history, _reconstructions, _anomalies, _latent, _samples, _configuration]
