"""SMS bytes: GSM 03.38 and UCS-2 encodings, concatenation headers."""

from __future__ import annotations

import pytest

from app.dispatch.sms_pdu import decode_part, encode_sms, gsm7_bytes, gsm7_text


def test_gsm7_text_is_one_octet_per_septet_and_extension_characters_are_escaped() -> None:
    assert gsm7_bytes("@£$") == b"\x00\x01\x02"
    assert gsm7_bytes("€[") == b"\x1b\x65\x1b\x3c"
    assert gsm7_text(gsm7_bytes("Ça coute 5€ {promo}")) == "Ça coute 5€ {promo}"
    with pytest.raises(ValueError, match=r"not in the GSM 03\.38 alphabet; send it as UCS-2"):
        gsm7_bytes("ж")


def test_a_short_message_is_one_part_without_a_header() -> None:
    payload = encode_sms("Hello Ada", reference=1)
    assert (payload.encoding, payload.data_coding, payload.esm_class) == ("GSM-7", 0, 0)
    assert payload.parts == [b"Hello Ada"]


def test_a_long_gsm7_message_is_split_at_153_septets_with_a_concatenation_header() -> None:
    text = "x" * 300
    payload = encode_sms(text, reference=0x1234)
    assert payload.esm_class == 0x40 and len(payload.parts) == 2
    assert payload.parts[0][:6] == bytes((5, 0, 3, 0x34, 2, 1))
    assert payload.parts[1][:6] == bytes((5, 0, 3, 0x34, 2, 2))
    assert [len(p) - 6 for p in payload.parts] == [153, 147]
    assert "".join(decode_part(p, 0, 0x40)[0] for p in payload.parts) == text


def test_an_escape_pair_is_never_split_across_parts() -> None:
    text = "a" * 152 + "€" + "b" * 10
    parts = encode_sms(text, reference=1).parts
    assert parts[0].endswith(b"a") and parts[1][6:8] == b"\x1b\x65"


def test_cyrillic_goes_as_ucs2_in_parts_of_67_characters() -> None:
    text = "Привет, мир! " * 8
    payload = encode_sms(text, reference=9)
    assert (payload.encoding, payload.data_coding) == ("UCS-2", 8)
    assert [len(p) - 6 for p in payload.parts] == [134, 74]  # 104 characters: 67 + 37
    assert "".join(decode_part(p, 8, 0x40)[0] for p in payload.parts) == text


def test_an_emoji_is_never_split_between_parts() -> None:
    text = "a" * 66 + "😀" + "bbb"  # 71 UTF-16 units: two parts of at most 67
    parts = encode_sms(text, reference=2).parts
    assert len(parts) == 2
    assert decode_part(parts[0], 8, 0x40)[0] == "a" * 66
    assert decode_part(parts[1], 8, 0x40)[0] == "😀bbb"
