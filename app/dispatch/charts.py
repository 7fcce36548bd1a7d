"""The dashboard's chart, drawn on the server as SVG (no JavaScript library, no CDN).

Cumulative counts of each outcome over time, one polyline per status.  Colours are SVG
presentation attributes, not ``style``, so the strict CSP holds.
"""

from __future__ import annotations

from html import escape
from itertools import accumulate
from typing import Any

COLOURS = {
    "sent": "#2f6fde",
    "delivered": "#1f9d55",
    "bounced": "#d9822b",
    "failed-permanent": "#c0392b",
    "suppressed": "#7f8c8d",
    "deferred": "#8e44ad",
    "failed-temporary": "#e67e22",
    "needs-review": "#b7950b",
}
WIDTH, HEIGHT, PAD = 720, 260, 40


def timeline_svg(timeline: dict[str, Any]) -> str:
    """An SVG document of the cumulative outcome curves of ``services.timeline``."""
    series = {k: list(accumulate(v)) for k, v in timeline["series"].items() if any(v)}
    top = max([1] + [max(v) for v in series.values()])
    buckets = len(next(iter(timeline["series"].values()), [])) or 1
    plot_w, plot_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD

    def point(i: int, value: int) -> str:
        x = PAD + plot_w * (i + 1) / buckets
        y = PAD + plot_h * (1 - value / top)
        return f"{x:.1f},{y:.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="Outcomes over time">',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<line x1="{PAD}" y1="{PAD + plot_h}" x2="{PAD + plot_w}" y2="{PAD + plot_h}" '
        'stroke="#888" stroke-width="1"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{PAD + plot_h}" stroke="#888" '
        'stroke-width="1"/>',
        f'<text x="{PAD - 6}" y="{PAD + 4}" font-size="11" text-anchor="end" '
        f'fill="#444">{top}</text>',
        f'<text x="{PAD - 6}" y="{PAD + plot_h}" font-size="11" text-anchor="end" '
        'fill="#444">0</text>',
        f'<text x="{PAD + plot_w}" y="{HEIGHT - 8}" font-size="11" text-anchor="end" '
        f'fill="#444">{timeline["bucket_seconds"] * buckets:.0f} s</text>',
    ]
    legend_x = PAD
    for status, values in series.items():
        colour = COLOURS.get(status, "#333")
        points = " ".join([f"{PAD},{PAD + plot_h}"] + [point(i, v) for i, v in enumerate(values)])
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
        )
        parts.append(
            f'<rect x="{legend_x}" y="10" width="10" height="10" fill="{colour}"/>'
            f'<text x="{legend_x + 14}" y="19" font-size="11" fill="#222">'
            f"{escape(status)} ({values[-1]})</text>"
        )
        legend_x += 30 + 7 * (len(status) + len(str(values[-1])) + 3)
    parts.append("</svg>")
    return "".join(parts)
