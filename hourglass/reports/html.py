"""One self-contained HTML report of a trained model or detector: configuration, training
history, metrics, threshold, and the plots that fit the model and the data.

Every figure is embedded as a base64 PNG and the style sheet is inline, so ``report.html`` opens
anywhere, offline, and can be mailed or attached to a ticket as a single file. Nothing in it
loads from the network.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from hourglass.atomic import write_bytes_atomic
from hourglass.display import escape as _esc
from hourglass.display import table as _table
from hourglass.errors import InvalidInputError
from hourglass.progress import resolve as resolve_progress
from hourglass.reports.sections import BUILDERS, Context, Section, cards, embed_figure, recorded_corruption
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
    corruption = corruption if corruption is not None else recorded_corruption(history)

    builders = BUILDERS
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(
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
    sections = [Section("overview", "Overview", [cards(overview)])]
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
    parts = [embed_figure(fig, caption, save("recording"))]
    if events:
        zooms = figures.event_zooms(steps.T, scores, events, sd.threshold_, context=2 * sd.window_)
        top = min(6, len(events))
        parts.append(
            embed_figure(zooms, f"The {top} highest-scoring events up close (score on the right axis)", save("events"))
        )
    sections.append(Section("recording", "Recording", parts))
    top = sorted(events, key=lambda e: -e.peak_score)[:20]
    rows = [(f"{e.start:,} - {e.stop:,}", e.length, e.peak, e.peak_score) for e in top]
    header = ["steps", "length", "peak", "peak score"]
    if sd.n_channels_ > 1 and top:  # which channels drive each event
        drivers = sd.event_channels(top, sd.score_channels(steps))
        rows = [(*r, ", ".join(f"{n} {s:.0%}" for n, s in d)) for r, d in zip(rows, drivers)]
        header.append("channels (share of the error)")
    sections.append(Section("events", f"Events ({len(events)}; the 20 highest shown)", [_table(rows, header=header)]))
    if labels is not None:
        m = recording_metrics(labels, scores, sd.threshold_, sd.window_)
        keys = ("auroc", "auprc", "vus_roc", "vus_pr", "event_precision", "event_recall", "precision", "recall", "f1")
        keys += ("point_adjusted_f1",)
        sections.append(Section("metrics", "Metrics", [_table([(k, m[k]) for k in keys])]))
    settings = [("scoring stride", sd.stride_), ("threshold rule", repr(sd.threshold)), ("score by", sd.score_by)]
    settings += [
        (f"center / scale, channel {c}", f"{sd.center_[c]:.6g} / {sd.scale_[c]:.6g}") for c in range(sd.n_channels_)
    ]
    sections.append(Section("configuration", "Configuration", [_table(settings)]))
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
