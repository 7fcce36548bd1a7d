"""The cycle picture: well-formed SVG, one arrow per non-zero flow and per transfer,
escaped names, nothing the Content-Security-Policy would block."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from app.settlement.svg import Arrow, Node, cycle_picture, money
from ledger.netting import netting_metrics, settlement_plan

NS = {"s": "http://www.w3.org/2000/svg"}
NODES = [
    Node("0xA", "SWENM", "Nordic Mobile AB"),
    Node("0xB", "A<B>", 'Alpenfunk <Telekom> & "Co"'),
    Node("0xC", "ESPIM", "Iberia Móvil S.A."),
]
GROSS = [
    Arrow("0xA", "0xB", 10_000, 3),
    Arrow("0xB", "0xA", 2_500, 1),
    Arrow("0xB", "0xC", 4_000, 2),
    Arrow("0xC", "0xA", 0, 0),  # no obligation: no arrow
]


def picture() -> str:
    obligations = [(a.source, a.target, a.amount) for a in GROSS if a.amount]
    positions = {"0xA": -7_500, "0xB": 3_500, "0xC": 4_000}
    plan = settlement_plan(positions)
    metrics = netting_metrics(obligations, plan)
    return cycle_picture(
        NODES,
        GROSS,
        [Arrow(t.payer, t.payee, t.amount) for t in plan],
        currency="EUR",
        metrics=metrics,
        positions=positions,
        title="Cycle 7 <EUR>",
    )


def test_the_picture_is_well_formed_svg_with_one_arrow_per_flow_and_transfer() -> None:
    root = ET.fromstring(picture())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    gross = root.findall(".//s:path[@class='gross']", NS)
    transfers = root.findall(".//s:path[@class='transfer']", NS)
    assert len(gross) == 3
    assert len(transfers) == 2
    titles = [p.find("s:title", NS).text for p in gross]  # type: ignore[union-attr]
    assert titles == [
        "SWENM → A<B>: EUR 100.00 (3 obligations)",
        "A<B> → SWENM: EUR 25.00 (1 obligation)",
        "A<B> → ESPIM: EUR 40.00 (2 obligations)",
    ]
    # Opposite flows between two operators bow apart; a lone flow is straight.
    assert [" Q" in p.get("d", "") for p in gross] == [True, True, False]
    widths = [float(p.get("stroke-width", "0")) for p in gross]
    assert widths[0] == 10.0 and widths[1] < widths[2] < widths[0]


def test_names_are_escaped_and_nothing_uses_inline_style_or_script() -> None:
    text = picture()
    assert "A&lt;B&gt;" in text
    assert "Alpenfunk &lt;Telekom&gt; &amp; &quot;Co&quot;" in text
    assert "<B>" not in text and "<Telekom>" not in text
    assert "style" not in text and "<script" not in text
    root = ET.fromstring(text)
    assert root.find("s:title", NS).text == "Cycle 7 <EUR>"  # type: ignore[union-attr]


def test_the_caption_gives_the_saving_and_the_payment_counts() -> None:
    root = ET.fromstring(picture())
    caption = root.find(".//s:text[@class='caption']", NS)
    assert caption is not None
    assert caption.text == (
        "Liquidity saving 54.55%: gross EUR 165.00 settled with EUR 75.00; payments 3 → 2"
    )


def test_an_empty_cycle_draws_no_arrow() -> None:
    metrics = netting_metrics([])
    root = ET.fromstring(cycle_picture([], [], [], currency="USD", metrics=metrics))
    assert root.findall(".//s:path[@class]", NS) == []


def test_money_groups_thousands_and_keeps_the_sign() -> None:
    assert money(123_456_789, "EUR") == "EUR 1,234,567.89"
    assert money(-5, "EUR") == "EUR -0.05"
    assert money(1500, "JPY") == "JPY 1,500"
