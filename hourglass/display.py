"""How hourglass's objects show themselves: small HTML tables and line plots for notebooks
(``_repr_html_``), and pandas tables (``to_frame``). Plain strings, no matplotlib, so that any
layer may use them; the HTML report builds its tables from the same helpers."""

from __future__ import annotations

import html
import math

import numpy as np

from hourglass.errors import MissingDependencyError

STYLE = "font-family: -apple-system, 'Segoe UI', Roboto, sans-serif; font-size: 13px"


def escape(value, quote: bool = True) -> str:
    return html.escape(str(value), quote=quote)


def number(value) -> str:
    """A cell: integers with thousands separators, floats to 4 significant digits, text escaped."""
    if value is None:
        return "&ndash;"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    return escape(value)


def table(rows, header=None) -> str:
    head = "" if header is None else "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{number(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def card(title: str, *parts: str) -> str:
    """A titled block for a notebook cell's output."""
    return f'<div style="{STYLE}"><b>{escape(title)}</b>{"".join(parts)}</div>'


def line_plot(series: dict, *, width: int = 360, height: int = 140, xlabel: str = "epoch") -> str:
    """Lines (name -> values, x = 1, 2, ...) as an inline SVG with a legend and the y range: enough
    to see a loss curve in a notebook without matplotlib. Non-finite values leave gaps."""
    colours = ["#2f5fb3", "#d1495b", "#66a182", "#edae49", "#8e6c8a"]
    values = [float(v) for vals in series.values() for v in vals if v is not None and math.isfinite(float(v))]
    if not values:
        return ""
    lo, hi = min(values), max(values)
    n = max(len(v) for v in series.values())
    pad, span = 28, (hi - lo) or 1.0

    def xy(i, v):
        x = pad + (width - 2 * pad) * (i / max(n - 1, 1))
        return f"{x:.1f},{height - pad - (height - 2 * pad) * (float(v) - lo) / span:.1f}"

    lines, legend = [], []
    for k, (name, vals) in enumerate(series.items()):
        colour = colours[k % len(colours)]
        runs, run = [], []
        for i, v in enumerate(vals):
            if v is None or not math.isfinite(float(v)):
                runs, run = runs + [run], []
            else:
                run.append(xy(i, v))
        for points in [*runs, run]:
            if len(points) == 1:
                cx, cy = points[0].split(",")
                lines.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{colour}"/>')
            elif points:
                lines.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{" ".join(points)}"/>'
                )
        legend.append(f'<text x="{pad + 110 * k}" y="12" fill="{colour}" font-size="11">{escape(name)}</text>')
    axes = (
        f'<text x="2" y="{pad + 4}" font-size="10" fill="#555">{lo + span:.4g}</text>'
        f'<text x="2" y="{height - pad + 4}" font-size="10" fill="#555">{lo:.4g}</text>'
        f'<text x="{width / 2:.0f}" y="{height - 6}" font-size="10" fill="#555">{escape(xlabel)} 1-{n}</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'style="background:#fafbfc">{"".join(legend)}{axes}{"".join(lines)}</svg>'
    )


def frame(data: dict, index=None, index_name: str | None = None):
    """A pandas DataFrame of ``data`` (column -> values); pandas is needed only here."""
    try:
        import pandas as pd
    except ImportError:
        raise MissingDependencyError("to_frame needs pandas: pip install pandas") from None
    df = pd.DataFrame(data, index=index)
    if index_name is not None:
        df.index.name = index_name
    return df
