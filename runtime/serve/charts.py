"""Server-side SVG charts: no script, no CDN, readable with the page's own CSS."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, PAD = 560, 160, 32


def line_chart(title: str, unit: str, points: Sequence[tuple[str, float]]) -> str:
    """A polyline of `points` (time, value) in recording order, with the max and last value."""
    label = escape(title)
    if not points:
        return (
            f'<svg class="chart" role="img" aria-label="{label}" width="{WIDTH}" height="{HEIGHT}">'
            f'<text x="{PAD}" y="{HEIGHT // 2}">{label}: no data yet</text></svg>'
        )
    values = [value for _, value in points]
    top = max(values) or 1.0
    span = max(len(points) - 1, 1)
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    coords = " ".join(
        f"{PAD + inner_w * i / span:.1f},{PAD + inner_h * (1 - value / top):.1f}"
        for i, value in enumerate(values)
    )
    return (
        f'<svg class="chart" role="img" aria-label="{label}" width="{WIDTH}" height="{HEIGHT}">'
        f'<text x="{PAD}" y="16">{label} (max {top:g} {escape(unit)}, '
        f"last {values[-1]:g} {escape(unit)}, n={len(values)})</text>"
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        'stroke="#999"/>'
        f'<polyline fill="none" stroke="#2a6" stroke-width="2" points="{coords}"/></svg>'
    )
