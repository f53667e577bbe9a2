"""Matplotlib figures, built without pyplot: hourglass never changes the user's backend nor adds
to pyplot's list of open figures, so it works the same in a script, a server and a notebook.
Each function returns a :class:`Figure`, which a notebook shows inline (PNG);
:func:`save_figure` writes it as PNG or SVG by the file's suffix."""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib
import matplotlib.figure
import numpy as np

from hourglass.datasets.base import label_name


class Figure(matplotlib.figure.Figure):
    """A matplotlib figure that renders itself in Jupyter (``_repr_png_``) without pyplot."""

    def to_png(self, dpi: int = 100) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        return buf.getvalue()

    def _repr_png_(self) -> bytes:
        return self.to_png()


def subplots(nrows: int = 1, ncols: int = 1, *, figsize, **kwargs):
    """(figure, axes) as pyplot's ``subplots`` gives them, on a :class:`Figure` pyplot never sees."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def save_figure(fig: matplotlib.figure.Figure, path, dpi: int = 110) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def loss_curves(history, title: str = "Training history") -> Figure:
    """Training (and validation) loss per epoch."""
    fig, ax = subplots(figsize=(6, 3.6))
    epochs = np.arange(1, len(history.train_loss) + 1)
    ax.plot(epochs, history.train_loss, marker="o", ms=3, label="training loss")
    if history.val_loss:
        ax.plot(epochs, history.val_loss, marker="o", ms=3, label="validation loss")
    if history.best_epoch:
        ax.axvline(history.best_epoch, color="grey", ls=":", lw=1, label=f"best epoch {history.best_epoch}")
    loss_name = history.settings.get("loss", "loss") if getattr(history, "settings", None) else "loss"
    ax.set(xlabel="epoch", ylabel=loss_name, title=title)
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def error_histogram(
    normal_scores, anomaly_scores=None, threshold: float | None = None, title: str = "Reconstruction error"
) -> Figure:
    """Histogram of the scores of normal (and anomalous) samples with the threshold drawn."""
    fig, ax = subplots(figsize=(6, 3.6))
    all_scores = np.concatenate(
        [np.ravel(normal_scores)] + ([np.ravel(anomaly_scores)] if anomaly_scores is not None else [])
    )
    bins = np.histogram_bin_edges(all_scores, bins=50)
    ax.hist(normal_scores, bins=bins, alpha=0.6, label=f"normal (n={len(normal_scores)})")
    if anomaly_scores is not None:
        ax.hist(anomaly_scores, bins=bins, alpha=0.6, label=f"anomaly (n={len(anomaly_scores)})")
    if threshold is not None and np.isfinite(threshold):
        ax.axvline(threshold, color="black", ls="--", lw=1.2, label=f"threshold {threshold:.4g}")
    ax.set(xlabel="reconstruction error", ylabel="samples", title=title)
    ax.legend()
    return fig


def series_reconstruction(x, x_hat, title: str = "", ax=None) -> Figure:
    """A 1-D signal, its reconstruction, and the error shaded between them."""
    x, x_hat = np.ravel(x), np.ravel(x_hat)
    if ax is None:
        fig, ax = subplots(figsize=(6, 3.2))
    else:
        fig = ax.figure
    t = np.arange(len(x))
    ax.plot(t, x, lw=1.5, label="input")
    ax.plot(t, x_hat, lw=1.5, label="reconstruction")
    ax.fill_between(t, x, x_hat, color="lightcoral", alpha=0.5, label="error")
    ax.set(title=title, xlabel="time step")
    ax.legend(loc="best", fontsize="small")
    return fig


def series_examples(examples: list[tuple[np.ndarray, np.ndarray, str]]) -> Figure:
    """Several :func:`series_reconstruction` panels side by side: (x, x_hat, title) each."""
    fig, axes = subplots(1, len(examples), figsize=(5.5 * len(examples), 3.4), squeeze=False)
    for ax, (x, x_hat, title) in zip(axes[0], examples):
        series_reconstruction(x, x_hat, title=title, ax=ax)
    fig.tight_layout()
    return fig


def _as_images(x) -> np.ndarray:
    """(n, H, W) or (n, H, W, 3) arrays for imshow, from (n, C, H, W) / (n, H, W) / (n, D)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 4:
        return x[:, 0] if x.shape[1] == 1 else np.clip(np.moveaxis(x, 1, -1), 0, 1)
    if x.ndim == 3:
        return x
    side = int(round(np.sqrt(x.shape[1]))) if x.ndim == 2 else 0
    if x.ndim == 2 and side * side == x.shape[1]:
        return x.reshape(len(x), side, side)
    raise ValueError(f"cannot show samples of shape {x.shape[1:]} as images")


def image_grid(
    images, rows: int | None = None, row_labels=None, title: str = "", cell: float = 0.9, captions=None
) -> Figure:
    """Images in a grid, ``rows`` rows filled left to right; ``row_labels`` name each row and
    ``captions`` (one string per image) go under the images.

    Takes ``(n, C, H, W)`` images (1 or 3 channels), ``(n, H, W)``, or flat square images."""
    imgs = _as_images(images)
    n = len(imgs)
    rows = rows or int(np.ceil(np.sqrt(n)))
    cols = int(np.ceil(n / rows))
    row_height = cell + (0.3 if captions is not None else 0)
    fig, axes = subplots(
        rows, cols, figsize=(cell * cols + (0.8 if row_labels is not None else 0), row_height * rows), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if i < n:
            ax.imshow(imgs[i], cmap="gray" if imgs[i].ndim == 2 else None, vmin=0, vmax=1)
            if captions is not None:
                ax.set_xlabel(str(captions[i]), fontsize=7, labelpad=2)
    if row_labels is not None:
        for r, label in enumerate(row_labels):
            axes[r, 0].set_ylabel(str(label), rotation=0, ha="right", va="center", fontsize=9)
    height = row_height * rows
    if title:
        fig.suptitle(title, y=1.0, va="bottom")
    fig.subplots_adjust(
        left=0.0 if row_labels is None else 0.8 / fig.get_figwidth(),
        right=1.0,
        bottom=0.0 if captions is None else 0.3 / height,
        top=1.0 - 0.05 / height,
        wspace=0.05,
        hspace=0.05 if captions is None else 0.35,
    )
    return fig


def top_anomalies(
    images, scores, k: int = 16, labels=None, class_names=None, rows: int | None = None, title: str = ""
) -> Figure:
    """The ``k`` images with the highest anomaly scores, most anomalous first, each captioned with
    its score (and its label when ``labels`` are given)."""
    scores = np.ravel(np.asarray(scores, dtype=np.float64))
    if len(scores) != len(images):
        raise ValueError(f"{len(scores)} scores for {len(images)} images")
    order = np.argsort(-scores, kind="stable")[: min(k, len(scores))]
    captions = []
    for i in order:
        text = f"{scores[i]:.3g}"
        if labels is not None:
            label = labels[i]
            text += f" · {label_name(class_names, label)}"
        captions.append(text)
    if not title:
        title = f"The {len(order)} most anomalous of {len(scores)} images" + (
            " (score · label)" if labels is not None else ""
        )
    return image_grid(np.asarray(images)[order], rows=rows, captions=captions, title=title)


def anomaly_heatmaps(
    images, maps, scores=None, title: str = "Where the model sees anomalies", cell: float = 1.3
) -> Figure:
    """Each image above its per-pixel anomaly map (``Detector.score_map``) laid over it as a
    heatmap. The maps share one colour scale (0 to their 99.5th percentile), drawn as a colour bar,
    so that a brighter spot means a larger error across the whole figure."""
    imgs = _as_images(images)
    heat = np.asarray(maps, dtype=np.float32)
    if heat.ndim == 4:  # (n, C, H, W): the error of a pixel is the mean over its channels
        heat = heat.mean(axis=1)
    heat = _as_images(heat) if heat.ndim != 3 else heat
    if heat.shape[:3] != imgs.shape[:3]:
        raise ValueError(f"maps of shape {np.shape(maps)} do not match images of shape {np.shape(images)}")
    n = len(imgs)
    vmax = float(np.percentile(heat, 99.5)) or 1.0
    fig, axes = subplots(2, n, figsize=(cell * n + 0.8, 2 * cell + 0.5), squeeze=False)
    for i in range(n):
        top, bottom = axes[0, i], axes[1, i]
        top.imshow(imgs[i], cmap="gray" if imgs[i].ndim == 2 else None, vmin=0, vmax=1)
        grey = imgs[i] if imgs[i].ndim == 2 else imgs[i].mean(-1)
        bottom.imshow(grey, cmap="gray", vmin=0, vmax=1)
        shown = bottom.imshow(heat[i], cmap="inferno", vmin=0, vmax=vmax, alpha=0.65)
        if scores is not None:
            top.set_title(f"{float(np.ravel(scores)[i]):.3g}", fontsize=8)
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("input", fontsize=9)
    axes[1, 0].set_ylabel("error map", fontsize=9)
    fig.suptitle(title)
    right = 1 - 0.9 / fig.get_figwidth()
    fig.subplots_adjust(left=0.25 / fig.get_figwidth(), right=right, top=0.84, wspace=0.05, hspace=0.15)
    bar = fig.add_axes((right + 0.15 / fig.get_figwidth(), 0.12, 0.12 / fig.get_figwidth(), 0.72))
    fig.colorbar(shown, cax=bar, label="per-pixel error")
    return fig


#: Above this many time steps a signal is drawn as its envelope (min and max per pixel column):
#: a line through 230,400 steps in a 1,000-pixel plot is a solid block.
ENVELOPE_STEPS = 2000
_COLUMNS = 1000  # about the plot's width in pixels at the report's size


def _envelope(y: np.ndarray, columns: int = _COLUMNS):
    """(x, low, high): each of about ``columns`` runs of steps as its min and max."""
    n = len(y)
    edges = np.linspace(0, n, min(columns, n) + 1).astype(int)
    edges = np.unique(edges)
    low = np.minimum.reduceat(y, edges[:-1])
    high = np.maximum.reduceat(y, edges[:-1])
    return (edges[:-1] + edges[1:] - 1) / 2, low, high


def _draw(ax, y: np.ndarray, **style):
    """A line, or its envelope where the signal is longer than the plot is wide."""
    if len(y) <= ENVELOPE_STEPS:
        return ax.plot(np.arange(len(y)), y, lw=style.pop("lw", 0.8), **style)
    x, low, high = _envelope(y)
    return ax.fill_between(x, low, high, step="mid", lw=0, alpha=0.9, **style)


def signal_anomalies(
    series,
    step_scores=None,
    threshold: float | None = None,
    flags=None,
    truth=None,
    title: str = "Anomalous stretches",
    events=None,
) -> Figure:
    """A long signal with its anomalous stretches shaded, above its score per time step.

    series : ``(time,)`` or ``(channels, time)``; longer than :data:`ENVELOPE_STEPS` steps, each
        channel (and the score) is drawn as its envelope, the min and max per pixel column.
    step_scores : one score per time step (:func:`hourglass.scores_to_steps`), drawn in a lower
        panel; with ``threshold`` the steps above it are the anomalous ones.
    flags : boolean per time step, the anomalous steps, instead of scores and threshold.
    truth : boolean per time step, the known anomalies, drawn as a band under the signal.
    events : ``(start, stop)`` pairs (or :class:`~hourglass.detection.events.Event`) to shade and
        count instead of the raw stretches of ``flags`` (a detector's events join stretches
        closer than half a window, so the title counts what the report's table lists).
    """
    from hourglass.transforms.windows import stretches

    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    n_steps = x.shape[1]
    if flags is None and step_scores is not None and threshold is not None:
        flags = np.ravel(step_scores) > threshold
    for name, arr in (("step_scores", step_scores), ("flags", flags), ("truth", truth)):
        if arr is not None and np.size(arr) != n_steps:
            raise ValueError(f"{name} has {np.size(arr)} values for a signal of {n_steps} time steps")
    panels = 2 if step_scores is not None else 1
    fig, axes = subplots(
        panels,
        1,
        figsize=(10, 2.6 * panels + 0.4),
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": [2, 1][:panels]},
    )
    ax = axes[0, 0]
    for c, channel in enumerate(x):
        _draw(ax, channel, label=f"channel {c}" if len(x) > 1 else "signal")
    if events is not None:
        found = [(int(e.start), int(e.stop)) if hasattr(e, "stop") else (int(e[0]), int(e[1])) for e in events]
    else:
        found = stretches(flags) if flags is not None else []
    for i, (start, stop) in enumerate(found):
        ax.axvspan(
            start - 0.5, stop - 0.5, color="tab:red", alpha=0.25, lw=0, label="flagged anomalous" if i == 0 else None
        )
    if truth is not None:
        for i, (start, stop) in enumerate(stretches(truth)):
            ax.axvspan(
                start - 0.5, stop - 0.5, ymin=0, ymax=0.04, color="black", label="known anomaly" if i == 0 else None
            )
    shown = found if (events is not None or flags is not None) else None
    what = "events" if events is not None else "flagged"
    ax.set(title=title + (f" ({len(shown)} {what})" if shown is not None else ""))
    ax.legend(loc="upper right", fontsize="small")
    if step_scores is not None:
        low = axes[1, 0]
        _draw(low, np.ravel(step_scores).astype(np.float64), color="tab:purple", label="score per time step")
        if threshold is not None:
            low.axhline(threshold, color="black", ls="--", lw=1, label=f"threshold {threshold:.4g}")
        low.legend(loc="upper right", fontsize="small")
        low.set(ylabel="score")
    axes[-1, 0].set(xlabel="time step")
    fig.tight_layout()
    return fig


def event_zooms(series, step_scores, events, threshold: float | None = None, *, context: int = 200, top: int = 6):
    """The ``top`` events by peak score, each in a panel of its own: the signal from ``context``
    steps before the event to ``context`` after, the event shaded, titled with its steps and peak
    score (the long signal's plot cannot show an event of a few hundred steps in 230,000)."""
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    scores = np.ravel(step_scores).astype(np.float64)
    chosen = sorted(events, key=lambda e: -e.peak_score)[:top]
    if not chosen:
        raise ValueError("no events to show")
    cols = min(3, len(chosen))
    rows = math.ceil(len(chosen) / cols)
    fig, axes = subplots(rows, cols, figsize=(10, 2.4 * rows + 0.3), squeeze=False)
    for ax in axes.flat[len(chosen) :]:
        ax.axis("off")
    for rank, (ax, e) in enumerate(zip(axes.flat, chosen), start=1):
        lo, hi = max(0, e.start - context), min(x.shape[1], e.stop + context)
        t = np.arange(lo, hi)
        for channel in x:
            ax.plot(t, channel[lo:hi], lw=0.8)
        ax.axvspan(e.start - 0.5, e.stop - 0.5, color="tab:red", alpha=0.25, lw=0)
        twin = ax.twinx()
        twin.plot(t, scores[lo:hi], lw=0.8, color="tab:purple", alpha=0.7)
        if threshold is not None:
            twin.axhline(threshold, color="black", ls="--", lw=0.8)
        twin.tick_params(labelsize="x-small")
        ax.tick_params(labelsize="x-small")
        ax.set_title(f"#{rank}: steps {e.start:,}-{e.stop:,}, peak score {e.peak_score:.3g}", fontsize="small")
    fig.tight_layout()
    return fig


def sample_grid(model, n_per_row: int = 10, rows: int = 8, labels=None, class_names=None, seed: int = 0) -> Figure:
    """New samples from a generative model: ``rows`` x ``n_per_row`` draws from the prior, or,
    for a conditional model, one row per class in ``labels`` (default: every class)."""
    from hourglass.inference import sample

    if model.conditional:
        classes = list(range(model.config.n_classes)) if labels is None else list(labels)
        y = np.repeat(classes, n_per_row)
        x = sample(model, len(y), labels=y, seed=seed)
        names = [label_name(class_names, c) for c in classes]
        return image_grid(x, rows=len(classes), row_labels=names, title=f"{model.name}: samples per class")
    x = sample(model, n_per_row * rows, seed=seed)
    return image_grid(x, rows=rows, title=f"{model.name}: samples from the prior")


def latent_scatter(
    codes, labels=None, class_names=None, title: str = "Latent space", max_points: int = 5000, seed: int = 0
) -> Figure:
    """Codes as points coloured by label: the two code dimensions when the code is 2-D, else
    its first two principal components (scikit-learn's PCA)."""
    z = np.asarray(codes, dtype=np.float64).reshape(len(codes), -1)
    y = None if labels is None else np.asarray(labels)
    if len(z) > max_points:  # a scatter of more points only hides itself
        keep = np.random.default_rng(seed).choice(len(z), max_points, replace=False)
        z, y = z[keep], None if y is None else y[keep]
    if z.shape[1] == 2:
        xy, axis = z, ("z[0]", "z[1]")
    else:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(z)
        xy = pca.transform(z)
        share = pca.explained_variance_ratio_
        axis = (f"PC 1 ({share[0]:.0%} of variance)", f"PC 2 ({share[1]:.0%})")
    fig, ax = subplots(figsize=(6, 5))
    if y is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=4, alpha=0.6)
    else:
        classes = np.unique(y)
        cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
        for i, c in enumerate(classes):
            sel = y == c
            name = label_name(class_names, c)
            ax.scatter(xy[sel, 0], xy[sel, 1], s=4, alpha=0.6, color=cmap(i % cmap.N), label=str(name))
        ax.legend(markerscale=3, fontsize="small", loc="best", ncol=2 if len(classes) > 5 else 1)
    ax.set(xlabel=axis[0], ylabel=axis[1], title=title)
    return fig


def interpolation_strip(images, title: str = "Interpolation in the latent space") -> Figure:
    """The decoded steps of :func:`hourglass.interpolate` in one row, from ``a`` to ``b``."""
    imgs = _as_images(images)
    fig = image_grid(imgs, rows=1, title=title)
    fig.axes[0].set_xlabel("a", fontsize=9)
    fig.axes[len(imgs) - 1].set_xlabel("b", fontsize=9)
    return fig


def reconstruction_grid(
    originals, reconstructions, noisy=None, n: int = 10, title: str = "Originals and reconstructions"
) -> Figure:
    """The first ``n`` images in rows: originals, the noisy inputs (if given), the model's output."""
    rows = [("original", originals)] + ([("noisy input", noisy)] if noisy is not None else [])
    rows.append(("denoised" if noisy is not None else "reconstruction", reconstructions))
    n = min(n, *(len(r[1]) for r in rows))
    images = np.concatenate([_as_images(np.asarray(r[1])[:n]) for r in rows])
    return image_grid(images, rows=len(rows), row_labels=[r[0] for r in rows], title=title)


def _operating_point(y, scores, threshold):
    y, s = np.asarray(y).astype(bool), np.ravel(scores)
    flagged = s > threshold
    tp, fp = int((flagged & y).sum()), int((flagged & ~y).sum())
    return tp, fp, int(y.sum()), int((~y).sum())


def roc_curve(y_true, scores, threshold: float | None = None, title: str = "ROC curve") -> Figure:
    """ROC curve of anomaly scores (anomaly = positive) with its AUROC; the detector's operating
    point is marked when ``threshold`` is given."""
    from sklearn.metrics import roc_auc_score
    from sklearn.metrics import roc_curve as sk_roc_curve

    fpr, tpr, _ = sk_roc_curve(y_true, np.ravel(scores))
    fig, ax = subplots(figsize=(4.6, 4.2))
    ax.plot(fpr, tpr, lw=1.6, label=f"AUROC {roc_auc_score(y_true, np.ravel(scores)):.4f}")
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1, label="chance")
    if threshold is not None:
        tp, fp, pos, neg = _operating_point(y_true, scores, threshold)
        ax.plot(fp / max(neg, 1), tp / max(pos, 1), "o", color="black", label=f"threshold {threshold:.4g}")
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate (recall)", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def pr_curve(y_true, scores, threshold: float | None = None, title: str = "Precision-recall curve") -> Figure:
    """Precision-recall curve of anomaly scores (anomaly = positive) with its AUPRC (average
    precision) and the share of anomalies, the curve of a random detector."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    precision, recall, _ = precision_recall_curve(y_true, np.ravel(scores))
    base = float(np.mean(np.asarray(y_true).astype(bool)))
    fig, ax = subplots(figsize=(4.6, 4.2))
    ax.plot(recall, precision, lw=1.6, label=f"AUPRC {average_precision_score(y_true, np.ravel(scores)):.4f}")
    ax.axhline(base, color="grey", ls=":", lw=1, label=f"chance ({base:.2f})")
    if threshold is not None:
        tp, fp, pos, _ = _operating_point(y_true, scores, threshold)
        ax.plot(tp / max(pos, 1), tp / max(tp + fp, 1), "o", color="black", label=f"threshold {threshold:.4g}")
    ax.set(xlabel="recall", ylabel="precision", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower left", fontsize="small")
    ax.grid(alpha=0.3)
    return fig
