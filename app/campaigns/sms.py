"""SMS length: the encoding a text needs, how many characters it has, and how many parts.

* **GSM-7** (3GPP TS 23.038 / GSM 03.38) when every character is in the default alphabet
  or its extension table.  Extension characters (``^ { } \\ [ ~ ] | €`` and form feed)
  are sent as ESC + character and so count as **two** septets.  One message holds 160
  septets; a concatenated message's parts hold 153 each (the UDH takes 7 septets).
* **UCS-2** otherwise: 70 UTF-16 code units in one message, 67 per concatenated part.
  A character outside the Basic Multilingual Plane (most emoji) takes two code units.

Parts never split an escape pair or a surrogate pair, so a part may hold one unit fewer
than its maximum; :func:`split_sms` returns the parts exactly as they are sent and
:func:`count_sms` counts them.  ``static/js/campaign-editor.js`` mirrors this module for
the live counter; the server's count is the authoritative one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

#: The GSM 03.38 default alphabet (ESC, 0x1B, is not a character of its own).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: The extension table: each is sent as ESC + character, two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE_GSM7 = 160
PART_GSM7 = 153
SINGLE_UCS2 = 70
PART_UCS2 = 67


@dataclass(frozen=True)
class SmsCount:
    """The length of an SMS text.

    ``characters`` counts Unicode code points; ``units`` counts what the network
    counts: septets for GSM-7, UTF-16 code units for UCS-2.  ``per_part`` is the
    capacity of each part (160/153 or 70/67) and ``remaining`` the units still free in
    the last part.
    """

    encoding: Encoding
    characters: int
    units: int
    parts: int
    per_part: int
    remaining: int

    def as_json(self) -> dict[str, int | str]:
        return {
            "encoding": self.encoding,
            "characters": self.characters,
            "units": self.units,
            "parts": self.parts,
            "per_part": self.per_part,
            "remaining": self.remaining,
        }


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in the GSM-7 alphabet or its extension."""
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def encoding_of(text: str) -> Encoding:
    return "GSM-7" if is_gsm7(text) else "UCS-2"


def _unit_width(char: str, encoding: Encoding) -> int:
    if encoding == "GSM-7":
        return 2 if char in GSM7_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1


def units_of(text: str, encoding: Encoding | None = None) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2) of ``text``."""
    chosen = encoding or encoding_of(text)
    return sum(_unit_width(char, chosen) for char in text)


def split_sms(text: str) -> list[str]:
    """The parts ``text`` is sent as, in order (one part when it fits in one message).

    The empty text is one empty part.  A part never ends inside an escape sequence or a
    surrogate pair.
    """
    encoding = encoding_of(text)
    single, part = (SINGLE_GSM7, PART_GSM7) if encoding == "GSM-7" else (SINGLE_UCS2, PART_UCS2)
    if units_of(text, encoding) <= single:
        return [text]
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for char in text:
        width = _unit_width(char, encoding)
        if used + width > part:
            parts.append("".join(current))
            current, used = [], 0
        current.append(char)
        used += width
    parts.append("".join(current))
    return parts


def count_sms(text: str) -> SmsCount:
    """Encoding, characters, units and parts of ``text``, as the SMSC will see it."""
    encoding = encoding_of(text)
    single, part = (SINGLE_GSM7, PART_GSM7) if encoding == "GSM-7" else (SINGLE_UCS2, PART_UCS2)
    units = units_of(text, encoding)
    pieces = split_sms(text)
    per_part = single if len(pieces) == 1 else part
    last = units_of(pieces[-1], encoding)
    return SmsCount(
        encoding=encoding,
        characters=len(text),
        units=units,
        parts=len(pieces),
        per_part=per_part,
        remaining=per_part - last,
    )


__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "SmsCount",
    "count_sms",
    "encoding_of",
    "is_gsm7",
    "split_sms",
    "units_of",
]
