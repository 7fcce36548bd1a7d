"""SMS bytes for SMPP 3.4: GSM 03.38 or UCS-2 per message, concatenated with a UDH.

Which encoding and where the parts split is decided by :mod:`app.campaigns.sms` (the
editor's counter uses the same rules).  This module turns those parts into the
``short_message`` octets and the ``data_coding`` / ``esm_class`` of each ``submit_sm``:

* GSM-7 is sent unpacked, one septet per octet (``data_coding`` 0, the SMSC default
  alphabet); an extension character is ESC (0x1B) followed by its code.
* UCS-2 is UTF-16BE (``data_coding`` 8); a character beyond the BMP is a surrogate pair.
* A message of more than one part carries the 8-bit-reference concatenation UDH
  ``05 00 03 ref total seq`` and ``esm_class`` 0x40 (UDHI).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.campaigns.sms import encoding_of, split_sms

#: GSM 03.38 default alphabet in code order; 0x1B (ESC) is a placeholder.
GSM7_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_CODES = {char: code for code, char in enumerate(GSM7_TABLE) if code != 0x1B}
GSM7_EXTENSION_CODES = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
DATA_CODING_GSM7 = 0x00
DATA_CODING_UCS2 = 0x08
ESM_CLASS_UDHI = 0x40


@dataclass(frozen=True)
class SmsPayload:
    encoding: str  # "GSM-7" or "UCS-2"
    data_coding: int
    esm_class: int
    parts: list[bytes]  # each part's short_message, UDH included


def gsm7_bytes(text: str) -> bytes:
    """``text`` in unpacked GSM 03.38; ValueError names a character outside it."""
    out = bytearray()
    for char in text:
        if char in GSM7_CODES:
            out.append(GSM7_CODES[char])
        elif char in GSM7_EXTENSION_CODES:
            out += bytes((0x1B, GSM7_EXTENSION_CODES[char]))
        else:
            raise ValueError(f"{char!r} is not in the GSM 03.38 alphabet; send it as UCS-2")
    return bytes(out)


def gsm7_text(data: bytes) -> str:
    """The inverse of :func:`gsm7_bytes` (used to read what a test SMSC received)."""
    reverse_ext = {code: char for char, code in GSM7_EXTENSION_CODES.items()}
    chars: list[str] = []
    escaped = False
    for octet in data:
        if escaped:
            chars.append(reverse_ext.get(octet, "?"))
            escaped = False
        elif octet == 0x1B:
            escaped = True
        else:
            chars.append(GSM7_TABLE[octet])
    return "".join(chars)


def encode_sms(text: str, reference: int) -> SmsPayload:
    """The ``submit_sm`` bodies for ``text``; ``reference`` (0-255) ties the parts."""
    encoding = encoding_of(text)
    pieces = split_sms(text)
    if encoding == "GSM-7":
        bodies = [gsm7_bytes(piece) for piece in pieces]
        coding = DATA_CODING_GSM7
    else:
        bodies = [piece.encode("utf-16-be") for piece in pieces]
        coding = DATA_CODING_UCS2
    if len(bodies) == 1:
        return SmsPayload(encoding, coding, 0, bodies)
    total = len(bodies)
    if total > 255:
        raise ValueError(f"the SMS needs {total} parts; at most 255 can be concatenated")
    ref = reference & 0xFF
    parts = [
        bytes((0x05, 0x00, 0x03, ref, total, seq)) + body
        for seq, body in enumerate(bodies, start=1)
    ]
    return SmsPayload(encoding, coding, ESM_CLASS_UDHI, parts)


def decode_part(short_message: bytes, data_coding: int, esm_class: int) -> tuple[str, bytes]:
    """(text, udh) of one received part."""
    udh = b""
    body = short_message
    if esm_class & ESM_CLASS_UDHI:
        length = short_message[0]
        udh, body = short_message[: length + 1], short_message[length + 1 :]
    if data_coding == DATA_CODING_UCS2:
        return body.decode("utf-16-be"), udh
    return gsm7_text(body), udh
