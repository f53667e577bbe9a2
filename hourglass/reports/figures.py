"""Matplotlib figures (Agg backend: no display needed). Each function returns a Figure;
:func:`save_figure` writes it as PNG or SVG by the file's suffix."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # must precede pyplot; figures are written to files, never shown
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def save_figure(fig: Figure, path, dpi: int = 110) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def loss_curves(history, title: str = "Training history") -> Figure:
    """Training (and validation) loss per epoch."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
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


def error_histogram(normal_scores, anomaly_scores=None, threshold: float | None = None,
                    title: str = "Reconstruction error") -> Figure:
    """Histogram of the scores of normal (and anomalous) samples with the threshold drawn."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    all_scores = np.concatenate([np.ravel(normal_scores)] + ([np.ravel(anomaly_scores)] if anomaly_scores is not None else []))
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
        fig, ax = plt.subplots(figsize=(6, 3.2))
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
    fig, axes = plt.subplots(1, len(examples), figsize=(5.5 * len(examples), 3.4), squeeze=False)
    for ax, (x, x_hat, title) in zip(axes[0], examples):
        series_reconstruction(x, x_hat, title=title, ax=ax)
    fig.tight_layout()
    return fig
