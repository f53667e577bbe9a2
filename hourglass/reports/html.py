"""One self-contained HTML report of a trained model or detector: configuration, training
history, metrics, threshold, and the plots that fit the model and the data.

Every figure is embedded as a base64 PNG and the style sheet is inline, so ``report.html`` opens
anywhere, offline, and can be mailed or attached to a ticket as a single file. Nothing in it
loads from the network.
"""

from __future__ import annotations

import base64
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hourglass.atomic import json_default, write_bytes_atomic
from hourglass.display import escape as _esc
from hourglass.display import number as _number
from hourglass.display import table as _table
from hourglass.errors import InvalidInputError
from hourglass.progress import resolve as resolve_progress
from hourglass.version import __version__

STYLE = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2430; margin: 0;
       background: #f5f6f8; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 64px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 32px 0 8px;
     border-bottom: 1px solid #dde1e6; padding-bottom: 4px; }
.sub { color: #5a6472; margin: 0 0 16px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 3px 14px 3px 0; border-bottom: 1px solid #eef0f3; vertical-align: top; }
th { color: #5a6472; font-weight: 600; }
figure { margin: 12px 0 20px; } figure img { max-width: 100%; height: auto; border: 1px solid #eef0f3; }
figcaption { color: #5a6472; font-size: 13px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0 16px; }
.card { border: 1px solid #dde1e6; border-radius: 6px; padding: 8px 14px; min-width: 110px; }
.card b { display: block; font-size: 20px; } .card span { color: #5a6472; font-size: 12px; }
pre { background: #f5f6f8; padding: 10px; overflow-x: auto; font-size: 12px; }
nav a { margin-right: 14px; color: #2f5fb3; text-decoration: none; }
.row { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
"""


@dataclass
class _Section:
    key: str
    title: str
    parts: list[str] = field(default_factory=list)


def _cards(items) -> str:
    return (
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{_number(v)}</b><span>{_esc(k)}</span></div>' for k, v in items)
        + "</div>"
    )


def _figure(fig, caption: str, save_as: Path | None = None) -> str:
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


def report(
    obj,
    x_test,
    y_test=None,
    out="runs/report",
    *,
    history=None,
    title: str | None = None,
    class_labels=None,
    class_names=None,
    corruption=None,
    save_figures: bool = False,
    progress=False,
) -> Path:
    """Write ``out/report.html``: one self-contained page about a model or detector.

    Parameters
    ----------
    obj : Detector, DetectorEnsemble, a fitted AutoencoderDetector, or an Autoencoder
        What to report on. A detector adds scores, threshold, metrics and anomaly plots.
    x_test : array
        Data to show: test samples, shaped as the model's input (raw: a detector applies its
        own scaler).
    y_test : array, optional
        For a detector: 1 = anomaly, 0 = normal, one per sample of ``x_test``; gives accuracy,
        precision, recall, F1, AUROC, AUPRC, the ROC and precision-recall curves.
    out : str or Path
        Folder to write ``report.html`` to (created if needed; the file is replaced atomically).
    history : History, optional
        The training history; by default the one saved with the model (``hg.save(...,
        history=)``), if any.
    title : str, optional
    class_labels, class_names : optional
        The data set's own classes of ``x_test`` (and their names): they colour the latent
        scatter and caption the most anomalous images.
    corruption : optional
        The training corruption (e.g. ``hg.GaussianNoise(0.3)``) to show noisy inputs next to
        the model's output; by default the one recorded in ``history``.
    save_figures : bool
        Also write each figure as a PNG file beside the report (``loss.png``, ``roc.png``, ...).
    progress : bool or "auto"
        A progress bar over the report's sections ("auto": where a person is watching,
        :mod:`hourglass.progress`).

    Returns
    -------
    ReportPath
        The path of ``report.html`` (a ``pathlib.Path``); in a notebook it shows the report.

    Examples
    --------
    >>> import hourglass as hg, tempfile
    >>> ds = hg.datasets.load("ecg5000", split="tutorial")
    >>> normal = ds.x_train[ds.y_train == 1]
    >>> model = hg.create_model("stacked", input_shape=(140,), seed=0)
    >>> history = hg.fit(model, normal, epochs=5, batch_size=512, loss="mae", progress=False)
    >>> det = hg.Detector(model).fit(normal)
    >>> path = hg.report(det, ds.x_test, ds.is_anomaly(ds.y_test), out=tempfile.mkdtemp(), history=history)
    >>> path.name
    'report.html'
    """
    from tqdm.auto import tqdm

    from hourglass.detection.detector import model_and_detector
    from hourglass.detection.series import SeriesDetector
    from hourglass.validation import as_float_array

    if isinstance(obj, SeriesDetector):
        return _series_report(obj, x_test, y_test, Path(out), title, save_figures)
    model, det = model_and_detector(obj, "report")
    x = as_float_array(x_test, "x_test")
    if len(x) == 0:
        raise InvalidInputError("x_test is empty: the report needs samples to show")
    y = None
    if y_test is not None:
        y = np.asarray(y_test).ravel()
        if len(y) != len(x):
            raise InvalidInputError(f"y_test has {len(y)} labels for {len(x)} samples of x_test")
        if det is not None and not np.isin(y, (0, 1)).all():
            raise InvalidInputError(
                "y_test must hold 1 for anomalies and 0 for normal samples; pass the data set's "
                "own classes as class_labels="
            )
    if class_labels is not None and len(np.ravel(class_labels)) != len(x):
        raise InvalidInputError(f"class_labels has {len(np.ravel(class_labels))} entries for {len(x)} samples")
    history = history if history is not None else getattr(model, "history_", None)
    corruption = corruption if corruption is not None else _recorded_corruption(history)

    builders = [_overview, _metrics, _history, _reconstructions, _anomalies, _latent, _samples, _configuration]
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = _Context(
        model=model,
        det=det,
        x=x,
        y=y,
        history=history,
        class_labels=class_labels,
        class_names=class_names,
        corruption=corruption,
        figures_dir=out_dir if save_figures else None,
    )
    sections = []
    for build in tqdm(builders, desc="report", unit="section", disable=not resolve_progress(progress)):
        section = build(ctx)
        if section is not None and section.parts:
            sections.append(section)

    title = title or (f"{model.name} anomaly detector" if det is not None else f"{model.name} autoencoder")
    return _write_page(out_dir, title, sections, f"{len(x):,} samples shown")


def _write_page(out_dir: Path, title: str, sections: list, shown: str) -> ReportPath:
    stamp = time.strftime("%Y-%m-%d %H:%M")
    nav = "".join(f'<a href="#{s.key}">{_esc(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{s.key}"><h2>{_esc(s.title)}</h2>{"".join(s.parts)}</section>' for s in sections)
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{STYLE}</style></head><body><main>"
        f'<h1>{_esc(title)}</h1><p class="sub">hourglass {__version__} · {stamp} · '
        f"{shown}</p><nav>{nav}</nav>{body}</main></body></html>"
    )
    path = out_dir / "report.html"
    write_bytes_atomic(path, page.encode("utf-8"))
    return ReportPath(path)


def _series_report(sd, recording, labels, out_dir: Path, title, save_figures: bool) -> ReportPath:
    """A SeriesDetector's report: the recording with its flagged events shaded above the step
    scores, the events, and with labels the point-wise, range-aware and event metrics."""
    from hourglass.detection.range_metrics import recording_metrics
    from hourglass.reports import figures

    sd._check_fitted()
    if labels is None and hasattr(recording, "train_end"):  # a labelled Recording
        labels = recording.labels
    steps = sd._steps(recording)
    scores = sd._score_steps(steps)
    events = sd.events_of_scores(scores)
    out_dir.mkdir(parents=True, exist_ok=True)
    save = (lambda key: out_dir / f"{key}.png") if save_figures else (lambda key: None)
    flagged = int((scores > sd.threshold_).sum())
    overview = [
        ("model", sd.detector_.model.name),
        ("steps", len(steps)),
        ("channels", sd.n_channels_),
        ("window", sd.window_),
        ("threshold", sd.threshold_),
        ("flagged steps", f"{flagged:,} ({flagged / len(steps):.1%})"),
        ("events", len(events)),
    ]
    sections = [_Section("overview", "Overview", [_cards(overview)])]
    fig = figures.signal_anomalies(
        steps.T,
        scores,
        threshold=sd.threshold_,
        events=events,
        truth=None if labels is None else np.asarray(labels) == 1,
        title="Recording",
    )
    caption = "The recording (its events shaded; known anomalies as a band below) and its score per step"
    if len(steps) > figures.ENVELOPE_STEPS:
        caption += f"; {len(steps):,} steps, so each curve is its envelope (min and max per pixel column)"
    parts = [_figure(fig, caption, save("recording"))]
    if events:
        zooms = figures.event_zooms(steps.T, scores, events, sd.threshold_, context=2 * sd.window_)
        top = min(6, len(events))
        parts.append(
            _figure(zooms, f"The {top} highest-scoring events up close (score on the right axis)", save("events"))
        )
    sections.append(_Section("recording", "Recording", parts))
    top = sorted(events, key=lambda e: -e.peak_score)[:20]
    rows = [(f"{e.start:,} - {e.stop:,}", e.length, e.peak, e.peak_score) for e in top]
    sections.append(
        _Section(
            "events",
            f"Events ({len(events)}; the 20 highest shown)",
            [_table(rows, header=["steps", "length", "peak", "peak score"])],
        )
    )
    if labels is not None:
        m = recording_metrics(labels, scores, sd.threshold_, sd.window_)
        keys = ("auroc", "auprc", "vus_roc", "vus_pr", "event_precision", "event_recall", "precision", "recall", "f1")
        keys += ("point_adjusted_f1",)
        sections.append(_Section("metrics", "Metrics", [_table([(k, m[k]) for k in keys])]))
    settings = [("scoring stride", sd.stride_), ("threshold rule", repr(sd.threshold)), ("score by", sd.score_by)]
    settings += [
        (f"center / scale, channel {c}", f"{sd.center_[c]:.6g} / {sd.scale_[c]:.6g}") for c in range(sd.n_channels_)
    ]
    sections.append(_Section("configuration", "Configuration", [_table(settings)]))
    return _write_page(out_dir, title or "Series anomaly detector", sections, f"{len(steps):,} steps")


class ReportPath(type(Path())):
    """The path of a written report (a ``pathlib.Path`` in every way) that a notebook shows as
    the report itself, in a frame."""

    def _repr_html_(self) -> str:
        page = self.read_text(encoding="utf-8")
        return (
            f'<p style="font-size:12px">{_esc(self)}</p>'
            f'<iframe srcdoc="{_esc(page)}" style="width:100%; height:640px; border:1px solid #ddd"></iframe>'
        )


@dataclass
class _Context:
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
        return _figure(fig, caption, None if self.figures_dir is None else self.figures_dir / f"{key}.png")

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


def _recorded_corruption(history):
    from hourglass.transforms.corruptions import corruption_from_dict

    spec = None if history is None else getattr(history, "settings", {}).get("corruption")
    if isinstance(spec, dict):
        try:
            return corruption_from_dict(spec)
        except InvalidInputError:
            return None
    return None


# -- sections ---------------------------------------------------------------------------------


def _overview(ctx: _Context) -> _Section:
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
    return _Section("overview", "Overview", [_cards(items)])


def _metrics(ctx: _Context) -> _Section | None:
    from hourglass.reports import figures

    det = ctx.det
    if det is None:
        return _reconstruction_error(ctx)
    section = _Section("detection", "Detection")
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


def _reconstruction_error(ctx: _Context) -> _Section | None:
    from hourglass.reports import figures

    rows = np.arange(min(len(ctx.x), 4096))
    recon = ctx.reconstruct(rows)
    if recon is None:
        return None
    err = np.abs(recon - ctx.model_input[rows]).reshape(len(rows), -1)
    mse = (err**2).mean(axis=1)
    section = _Section("errors", "Reconstruction error")
    section.parts.append(_table([("MAE", float(err.mean())), ("MSE", float(mse.mean())), ("samples", len(rows))]))
    section.parts.append(
        ctx.figure(
            figures.error_histogram(mse, None, None, "Reconstruction error per sample (MSE)"),
            "How well the model reconstructs each sample shown.",
            "error_histogram",
        )
    )
    return section


def _history(ctx: _Context) -> _Section | None:
    from hourglass.reports import figures

    h = ctx.history
    if h is None or not h.train_loss:
        return None
    section = _Section("training", "Training")
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


def _pick(ctx: _Context, n: int) -> np.ndarray:
    """Rows to show: normal and anomalous ones side by side when labels are known."""
    if ctx.y is not None and ctx.det is not None:
        normal, anomalous = np.flatnonzero(ctx.y == 0), np.flatnonzero(ctx.y == 1)
        half = n // 2
        return np.concatenate([normal[: n - min(half, len(anomalous))], anomalous[:half]])[:n]
    return np.arange(min(n, len(ctx.x)))


def _reconstructions(ctx: _Context) -> _Section | None:
    from hourglass.reports import figures

    kind = ctx.kind
    section = _Section("reconstructions", "Reconstructions")
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


def _anomalies(ctx: _Context) -> _Section | None:
    from hourglass.reports import figures

    det = ctx.det
    if det is None:
        return None
    section = _Section("anomalies", "Most anomalous samples")
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


def _latent(ctx: _Context) -> _Section | None:
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
    return _Section(
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


def _samples(ctx: _Context) -> _Section | None:
    from hourglass.reports import figures

    if not ctx.model.generative or ctx.kind != "images":
        return None
    fig = figures.sample_grid(ctx.model, n_per_row=10, rows=4, class_names=ctx.class_names)
    return _Section(
        "samples",
        "Generated samples",
        [ctx.figure(fig, "New images decoded from codes drawn from the prior.", "samples")],
    )


def _configuration(ctx: _Context) -> _Section:
    import torch

    config = ctx.model.description()
    if ctx.det is not None:
        config["detector"] = {k: v for k, v in ctx.det.description().items() if k != "train_scores"}
    versions = _table([("hourglass", __version__), ("torch", torch.__version__)])
    return _Section(
        "configuration",
        "Configuration",
        [f"<pre>{_esc(json.dumps(config, indent=2, default=json_default), quote=False)}</pre>", versions],
    )
