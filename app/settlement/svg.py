"""The picture of a settlement cycle, drawn on the server as SVG (no library, no script).

Two panels side by side, each with the operators on a circle in the same places:

* **before netting**: one arrow per ordered pair of operators with confirmed obligations,
  from debtor to creditor, its width growing with the pair's gross amount;
* **after netting**: one arrow per transfer of the plan, from payer to payee, on the
  same width scale, so the liquidity the netting saves is visible at a glance.

Opposite arrows between two operators bend to either side so both stay visible.  In the
second panel an operator that receives is green, one that pays red.  The caption gives
the gross and net values, the liquidity saving and the payment counts before and after.

Everything is drawn with presentation attributes (no ``style`` attribute or element), so
the SVG works inline under the app's strict Content-Security-Policy and as a file; every
text (operator names come from the registry) is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from ledger.netting import NettingMetrics
from ledger.settlement import format_amount

PANEL = 480.0  # width of each panel
PANEL_HEIGHT = 420.0
MARGIN_TOP = 64.0
CAPTION = 56.0
RADIUS = 150.0
NODE_RADIUS = 20.0
MIN_WIDTH = 1.5
MAX_WIDTH = 10.0
BEND = 0.18  # how far opposite arrows bow apart, as a share of their length

INK = "#1c2430"
SOFT = "#4f5b6b"
GROSS = "#2f7dc1"
NET = "#1d7a46"
PAYS = "#fdecea"
RECEIVES = "#e3f4ea"
ZERO = "#f3f5f8"


@dataclass(frozen=True)
class Node:
    """An operator: ``key`` (its address) identifies it, ``label`` (its code) is drawn and
    ``title`` (its legal name) shows on hover."""

    key: str
    label: str
    title: str = ""


@dataclass(frozen=True)
class Arrow:
    """``amount`` flowing from ``source`` to ``target``; ``count`` obligations behind it."""

    source: str
    target: str
    amount: int
    count: int = 1


def money(amount: int, currency: str) -> str:
    """``EUR 1,234,567.89``: the amount in major units with thousands separators."""
    text = format_amount(amount, currency)
    sign = "-" if text.startswith("-") else ""
    whole, _, decimals = text.lstrip("-").partition(".")
    grouped = f"{int(whole):,}"
    return f"{currency} {sign}{grouped}{'.' + decimals if decimals else ''}"


def _layout(nodes: Sequence[Node], cx: float, cy: float) -> dict[str, tuple[float, float]]:
    count = len(nodes)
    places = {}
    for i, node in enumerate(nodes):
        angle = -math.pi / 2 + 2 * math.pi * i / max(count, 1)
        places[node.key] = (cx + RADIUS * math.cos(angle), cy + RADIUS * math.sin(angle))
    return places


def _width(amount: int, largest: int) -> float:
    if largest <= 0:
        return MIN_WIDTH
    return round(MIN_WIDTH + (MAX_WIDTH - MIN_WIDTH) * math.sqrt(amount / largest), 2)


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def _arrow_path(
    start: tuple[float, float], end: tuple[float, float], bend: bool, width: float
) -> str:
    (x1, y1), (x2, y2) = start, end
    dx, dy = x2 - x1, y2 - y1
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    # Leave room for the node circle at the start and for the arrow head at the end.
    head = NODE_RADIUS + 2 + width * 2.2
    sx, sy = x1 + ux * (NODE_RADIUS + 2), y1 + uy * (NODE_RADIUS + 2)
    ex, ey = x2 - ux * head, y2 - uy * head
    if not bend:
        return f"M{_fmt(sx)},{_fmt(sy)} L{_fmt(ex)},{_fmt(ey)}"
    # Bow to the right of the direction of travel: A→B and B→A take opposite sides.
    offset = length * BEND
    mx, my = (sx + ex) / 2 - uy * offset, (sy + ey) / 2 + ux * offset
    return f"M{_fmt(sx)},{_fmt(sy)} Q{_fmt(mx)},{_fmt(my)} {_fmt(ex)},{_fmt(ey)}"


def _panel(
    x0: float,
    title: str,
    subtitle: str,
    nodes: Sequence[Node],
    arrows: Sequence[Arrow],
    kind: str,
    colour: str,
    largest: int,
    currency: str,
    positions: Mapping[str, int] | None,
    ids: str,
) -> list[str]:
    cx, cy = x0 + PANEL / 2, MARGIN_TOP + PANEL_HEIGHT / 2
    places = _layout(nodes, cx, cy)
    names = {n.key: n for n in nodes}
    pairs = {(a.source, a.target) for a in arrows if a.amount > 0}
    out = [
        f'<g class="panel panel-{kind}">',
        f'<text x="{_fmt(cx)}" y="24" text-anchor="middle" font-size="16" font-weight="600" '
        f'fill="{INK}">{escape(title)}</text>',
        f'<text x="{_fmt(cx)}" y="44" text-anchor="middle" font-size="12" fill="{SOFT}">'
        f"{escape(subtitle)}</text>",
    ]
    for arrow in arrows:
        if arrow.amount <= 0 or arrow.source not in places or arrow.target not in places:
            continue
        width = _width(arrow.amount, largest)
        bend = (arrow.target, arrow.source) in pairs
        path = _arrow_path(places[arrow.source], places[arrow.target], bend, width)
        src = names[arrow.source].label
        dst = names[arrow.target].label
        what = "obligation" if arrow.count == 1 else "obligations"
        detail = f" ({arrow.count} {what})" if kind == "gross" else ""
        out.append(
            f'<path class="{kind}" d="{path}" fill="none" stroke="{colour}" '
            f'stroke-width="{width}" stroke-opacity="0.8" stroke-linecap="round" '
            f'marker-end="url(#{ids}-head-{kind})">'
            f"<title>{escape(src)} → {escape(dst)}: {escape(money(arrow.amount, currency))}"
            f"{escape(detail)}</title></path>"
        )
    for node in nodes:
        x, y = places[node.key]
        fill = ZERO
        if positions is not None:
            value = positions.get(node.key, 0)
            fill = RECEIVES if value > 0 else PAYS if value < 0 else ZERO
        angle = math.atan2(y - cy, x - cx)
        lx = cx + (RADIUS + NODE_RADIUS + 12) * math.cos(angle)
        ly = cy + (RADIUS + NODE_RADIUS + 12) * math.sin(angle) + 4
        anchor = (
            "middle" if abs(math.cos(angle)) < 0.3 else ("start" if math.cos(angle) > 0 else "end")
        )
        hover = node.title or node.label
        if positions is not None:
            hover += f": net {money(positions.get(node.key, 0), currency)}"
        out.append(
            f'<g class="node"><title>{escape(hover)}</title>'
            f'<circle cx="{_fmt(x)}" cy="{_fmt(y)}" r="{NODE_RADIUS}" fill="{fill}" '
            f'stroke="{INK}" stroke-width="1.2"/>'
            f'<text x="{_fmt(lx)}" y="{_fmt(ly)}" text-anchor="{anchor}" font-size="12" '
            f'font-weight="600" fill="{INK}">{escape(node.label)}</text></g>'
        )
    out.append("</g>")
    return out


def cycle_picture(
    nodes: Sequence[Node],
    gross: Sequence[Arrow],
    transfers: Sequence[Arrow],
    *,
    currency: str,
    metrics: NettingMetrics,
    positions: Mapping[str, int] | None = None,
    title: str = "",
    plan_label: str = "After netting",
    ids: str = "llc",
) -> str:
    """The SVG document (as text) of a cycle's gross flows beside its settlement plan.

    ``ids`` prefixes the element ids, so two pictures can share a page.
    """
    width = PANEL * 2 + 40
    height = MARGIN_TOP + PANEL_HEIGHT + CAPTION
    largest = max([a.amount for a in gross] + [a.amount for a in transfers] + [0])
    head = (
        f'<marker id="{ids}-head-{{kind}}" viewBox="0 0 10 10" refX="1" refY="5" '
        'markerWidth="2.5" markerHeight="2.5" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
    )
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" class="cycle-picture" '
        f'viewBox="0 0 {_fmt(width)} {_fmt(height)}" width="{_fmt(width)}" '
        f'height="{_fmt(height)}" role="img" aria-labelledby="{ids}-title {ids}-desc" '
        'font-family="system-ui, sans-serif">',
        f'<title id="{ids}-title">{escape(title or "Settlement cycle")}</title>',
        f'<desc id="{ids}-desc">{escape(_description(metrics, currency))}</desc>',
        "<defs>",
        head.format(kind="gross", colour=GROSS),
        head.format(kind="transfer", colour=NET),
        "</defs>",
        f'<rect x="0" y="0" width="{_fmt(width)}" height="{_fmt(height)}" fill="#ffffff"/>',
    ]
    pairs = sum(1 for a in gross if a.amount > 0)
    parts += _panel(
        0,
        "Before netting",
        f"{metrics.payments_before} obligations, {pairs} flows, gross "
        f"{money(metrics.gross, currency)}",
        nodes,
        gross,
        "gross",
        GROSS,
        largest,
        currency,
        None,
        ids,
    )
    parts += _panel(
        PANEL + 40,
        plan_label,
        f"{metrics.payments_after} transfers, net {money(metrics.net, currency)}",
        nodes,
        transfers,
        "transfer",
        NET,
        largest,
        currency,
        positions,
        ids,
    )
    parts.append(
        f'<line x1="{_fmt(PANEL + 20)}" y1="{_fmt(MARGIN_TOP)}" x2="{_fmt(PANEL + 20)}" '
        f'y2="{_fmt(MARGIN_TOP + PANEL_HEIGHT)}" stroke="#d9dee5" stroke-width="1"/>'
    )
    parts.append(
        f'<text class="caption" x="{_fmt(width / 2)}" y="{_fmt(height - 20)}" '
        f'text-anchor="middle" font-size="14" fill="{INK}">'
        f"{escape(_description(metrics, currency))}</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _description(metrics: NettingMetrics, currency: str) -> str:
    return (
        f"Liquidity saving {metrics.saving_pct:.2f}%: gross {money(metrics.gross, currency)} "
        f"settled with {money(metrics.net, currency)}; payments "
        f"{metrics.payments_before} → {metrics.payments_after}"
    )


__all__ = ["Arrow", "Node", "cycle_picture", "money"]
