"""Server-generated SVG bar charts: no JavaScript, no front-end build, readable without colour.

Each bar carries its value in ``data-value`` and a ``<title>`` tooltip, so tests
(and screen readers) can read the numbers a chart shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

COLOURS = ("#2f6f9f", "#c0392b", "#7f8c8d")
GOOD, BAD, WARM, COLD = "#2f6f9f", "#c0392b", "#d68910", "#95a5a6"


def bar_chart(
    series: Sequence[tuple[str, Sequence[float]]],
    labels: Sequence[str],
    *,
    chart_id: str,
    width: int = 720,
    height: int = 160,
    label_every: int = 1,
    unit: str = "",
    colours: Sequence[str] = COLOURS,
) -> str:
    """Stacked bars: ``series`` is [(name, values)] with one value per label (first series at the bottom)."""
    count = len(labels)
    if count == 0 or not series:
        return f'<p class="empty" id="{escape(chart_id)}">no data</p>'
    totals = [sum(s[1][i] for s in series) for i in range(count)]
    peak = max(totals) or 1
    left, bottom, top = 36, 18, 8
    plot_w, plot_h = width - left - 4, height - bottom - top
    slot = plot_w / count
    bar_w = max(slot * 0.8, 1.0)
    parts = [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" class="axis">{_fmt(peak)}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" class="axis">0</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 4}" y2="{top + plot_h}" stroke="#999"/>',
    ]
    for i, label in enumerate(labels):
        x = left + i * slot + (slot - bar_w) / 2
        base: float = top + plot_h
        for k, (name, values) in enumerate(series):
            value = values[i]
            if value <= 0:
                continue
            h = plot_h * value / peak
            base -= h
            parts.append(
                f'<rect class="bar s{k}" data-series="{escape(name)}" data-label="{escape(label)}" '
                f'data-value="{_fmt(value)}" x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{colours[k % len(colours)]}"><title>{escape(label)}: {_fmt(value)}{escape(unit)} '
                f"{escape(name)}</title></rect>"
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - 4}" text-anchor="middle" '
                f'class="axis">{escape(label)}</text>'
            )
    parts.append("</svg>")
    if len(series) > 1:
        legend = " ".join(
            f'<span class="key" style="color:{colours[k % len(colours)]}">■</span> {escape(n)}'
            for k, (n, _) in enumerate(series)
        )
        parts.append(f'<p class="legend">{legend}</p>')
    return "".join(parts)


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"
