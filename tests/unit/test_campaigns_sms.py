"""The SMS counter: encoding, characters, units and parts, as the SMSC counts them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.campaigns.sms import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    SmsCount,
    count_sms,
    encoding_of,
    split_sms,
    units_of,
)


def test_the_gsm7_default_alphabet_has_127_characters_and_the_extension_table_10() -> None:
    # 128 code points, one of which (0x1B) is the escape to the extension table.
    assert len(GSM7_BASIC) == 127
    assert frozenset("\f^{}\\[~]|€") == GSM7_EXTENSION
    assert not GSM7_BASIC & GSM7_EXTENSION


def test_plain_latin_text_is_gsm7_and_counts_one_septet_per_character() -> None:
    assert count_sms("Hello Ada, your invoice is ready.") == SmsCount(
        encoding="GSM-7", characters=33, units=33, parts=1, per_part=160, remaining=127
    )


def test_extension_characters_count_two_septets_each() -> None:
    count = count_sms("Price: 10€ {net}")
    assert count.encoding == "GSM-7"
    assert count.characters == 16
    assert count.units == 19  # €, { and } take two septets each


@pytest.mark.parametrize(
    ("length", "parts", "per_part", "remaining"),
    [(160, 1, 160, 0), (161, 2, 153, 145), (306, 2, 153, 0), (307, 3, 153, 152)],
)
def test_gsm7_part_boundaries(length: int, parts: int, per_part: int, remaining: int) -> None:
    count = count_sms("a" * length)
    assert (count.encoding, count.units, count.parts) == ("GSM-7", length, parts)
    assert (count.per_part, count.remaining) == (per_part, remaining)


@pytest.mark.parametrize(
    ("length", "parts", "per_part"), [(70, 1, 70), (71, 2, 67), (134, 2, 67), (135, 3, 67)]
)
def test_ucs2_part_boundaries(length: int, parts: int, per_part: int) -> None:
    count = count_sms("Ж" * length)
    assert (count.encoding, count.units, count.parts, count.per_part) == (
        "UCS-2",
        length,
        parts,
        per_part,
    )


def test_one_character_outside_gsm7_switches_the_whole_message_to_ucs2() -> None:
    text = "a" * 100 + "ç"  # ç (lower case) is not in GSM-7; Ç is
    assert encoding_of("Ç") == "GSM-7"
    count = count_sms(text)
    assert (count.encoding, count.units, count.parts) == ("UCS-2", 101, 2)


def test_an_emoji_takes_two_ucs2_units() -> None:
    assert count_sms("😀" * 35) == SmsCount("UCS-2", 35, 70, 1, 70, 0)
    assert count_sms("😀" * 36) == SmsCount("UCS-2", 36, 72, 2, 67, 61)


def test_a_part_never_splits_an_escape_sequence() -> None:
    text = "a" * 152 + "€" + "b" * 10  # the € would straddle septets 153 and 154
    parts = split_sms(text)
    assert parts == ["a" * 152, "€" + "b" * 10]
    assert count_sms(text).parts == 2


def test_a_part_never_splits_a_surrogate_pair() -> None:
    text = "я" * 66 + "😀" + "я" * 10
    assert split_sms(text) == ["я" * 66, "😀" + "я" * 10]


def test_the_empty_text_is_one_empty_part() -> None:
    assert split_sms("") == [""]
    assert count_sms("") == SmsCount("GSM-7", 0, 0, 1, 160, 160)


@given(st.text(alphabet=st.sampled_from([*sorted(GSM7_BASIC | GSM7_EXTENSION), "Ж", "😀"])))
def test_parts_reassemble_to_the_text_and_each_fits_its_capacity(text: str) -> None:
    parts = split_sms(text)
    count = count_sms(text)
    assert "".join(parts) == text
    assert count.parts == len(parts)
    assert all(units_of(part, count.encoding) <= count.per_part for part in parts)
    assert count.units == sum(units_of(part, count.encoding) for part in parts)


JS_COUNTER = Path(__file__).resolve().parents[2] / "app" / "static" / "js" / "campaign-editor.js"
SAMPLES = [
    "",
    "Hello Ada",
    "a" * 160,
    "a" * 161,
    "a" * 306,
    "a" * 307,
    "€" * 80,
    "€" * 81,
    "a" * 152 + "€" + "b" * 10,
    "Ж" * 70,
    "Ж" * 71,
    "Ж" * 134,
    "Ж" * 135,
    "😀" * 35,
    "😀" * 36,
    "я" * 66 + "😀" + "я" * 10,
    "Price: 10€ {net} [x] ~ | ^ \\ \f",
    "line\nbreak and ç",
]


def test_the_editors_javascript_counter_agrees_with_the_server() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = (
        f"const m = require({json.dumps(str(JS_COUNTER))});"
        f"const texts = {json.dumps(SAMPLES)};"
        "console.log(JSON.stringify(texts.map(m.countSms)));"
    )
    output = subprocess.run([node, "-e", script], capture_output=True, text=True, check=True)
    assert json.loads(output.stdout) == [count_sms(text).as_json() for text in SAMPLES]
