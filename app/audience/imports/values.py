"""Cell parsers: each takes the stripped text of a cell and returns the model value or
raises :class:`CellError` with a message naming the value and what is accepted.

Accepted forms are deliberately forgiving where there is no ambiguity (enum synonyms,
thousands separators, several date layouts) and strict where guessing could be wrong
(month-first dates are refused; slash dates are read day-first).
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import available_timezones

import phonenumbers
from email_validator import EmailNotValidError, validate_email


class CellError(ValueError):
    """One cell cannot be read as its field's type; the message says why."""


DATE_FORMATS_HELP = "YYYY-MM-DD, DD.MM.YYYY, DD/MM/YYYY or YYYY/MM/DD"

_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_DOTTED_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_SLASH_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_SLASH_YMD = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$")


@functools.lru_cache(maxsize=8192)
def parse_date(text: str) -> date:
    """A date in one of :data:`DATE_FORMATS_HELP` (a time of day after an ISO date is
    ignored, as spreadsheets add one)."""
    for pattern, order in (
        (_ISO_DATE, "ymd"),
        (_DOTTED_DATE, "dmy"),
        (_SLASH_DMY, "dmy"),
        (_SLASH_YMD, "ymd"),
    ):
        match = pattern.match(text)
        if match is None:
            continue
        a, b, c = (int(part) for part in match.groups()[:3])
        year, month, day = (a, b, c) if order == "ymd" else (c, b, a)
        try:
            return date(year, month, day)
        except ValueError:
            raise CellError(
                f"{text!r} is not a real date (day {day}, month {month}, year {year}); "
                f"dates are read as {DATE_FORMATS_HELP}"
            ) from None
    raise CellError(f"{text!r} is not a date; use {DATE_FORMATS_HELP}")


def parse_datetime(text: str) -> datetime:
    """An ISO 8601 timestamp (UTC when it has no offset) or any date of
    :func:`parse_date` (midnight UTC)."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            day = parse_date(text)
        except CellError:
            raise CellError(
                f"{text!r} is not a timestamp; use ISO 8601 (2024-05-31T14:30:00Z) "
                f"or a date ({DATE_FORMATS_HELP})"
            ) from None
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_NUMBER_NOISE = str.maketrans("", "", " \u00a0\u202f'_")
_CURRENCY = re.compile(r"^(?:[€$£₽]|EUR|USD|GBP|RUB)\s*|\s*(?:[€$£₽]|EUR|USD|GBP|RUB)$", re.I)


def parse_amount(text: str, *, places: int = 2) -> Decimal:
    """A non-negative amount, rounded half-up to ``places`` decimals.

    Thousands separators (space, apostrophe, or the comma/dot that is not last) and a
    currency sign are ignored: ``"1 234,50"``, ``"1,234.50"`` and ``"€1234.5"`` all
    read as 1234.50.
    """
    cleaned = _CURRENCY.sub("", text).translate(_NUMBER_NOISE)
    if "," in cleaned and "." in cleaned:
        decimal_mark = "," if cleaned.rfind(",") > cleaned.rfind(".") else "."
        thousands = "." if decimal_mark == "," else ","
        cleaned = cleaned.replace(thousands, "").replace(decimal_mark, ".")
    elif cleaned.count(",") == 1:
        cleaned = cleaned.replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise CellError(f"{text!r} is not a number; write e.g. 1234.50") from None
    if not value.is_finite():
        raise CellError(f"{text!r} is not a number; write e.g. 1234.50")
    if value < 0:
        raise CellError(f"{text!r} is negative; amounts must be 0 or more")
    quantum = Decimal(1).scaleb(-places)
    rounded = value.quantize(quantum, rounding=ROUND_HALF_UP)
    if rounded.adjusted() >= 12:
        raise CellError(f"{text!r} is too large for an amount")
    return rounded


_TRUE = {"1", "true", "yes", "y", "x", "t", "key", "key account", "ja", "да", "oui", "si"}
_FALSE = {"0", "false", "no", "n", "f", "", "-", "regular", "standard", "nein", "нет", "non"}


@functools.lru_cache(maxsize=256)
def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise CellError(f"{text!r} is not yes/no; write yes or no (also true/false, 1/0)")


_domain_checks_memoised = False


def _memoise_email_domain_checks() -> None:
    """Let ``email-validator`` check each domain once per process.

    Its domain check (IDNA, per-character UTS #46 tables) is a pure function of the
    domain and costs more than half of ``validate_email``; a B2B file repeats each
    company's domain for every contact.  Every address still goes through
    ``validate_email`` in full; only the domain step's result is remembered.
    """
    global _domain_checks_memoised
    if _domain_checks_memoised:
        return
    module: Any = sys.modules["email_validator.validate_email"]
    check = module.validate_email_domain_name
    module.validate_email_domain_name = functools.lru_cache(maxsize=65536)(check)
    _domain_checks_memoised = True


def parse_email(text: str) -> str:
    """The address as ``email-validator`` normalises it (syntax only), lower-cased."""
    _memoise_email_domain_checks()
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise CellError(f"{text!r} is not a valid email address: {exc}") from None
    return result.normalized.lower()


def parse_phone(text: str, default_region: str) -> str:
    """The number in E.164.  National numbers are read in ``default_region``."""
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise CellError(f"{text!r} is not a phone number: {_phone_problem(exc)}") from None
    if not phonenumbers.is_valid_number(number):
        raise CellError(
            f"{text!r} is not a valid phone number (read in region {default_region}); "
            "write it in international form, e.g. +49 30 1234567"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _phone_problem(exc: phonenumbers.NumberParseException) -> str:
    kinds = phonenumbers.NumberParseException
    return {
        kinds.INVALID_COUNTRY_CODE: "unknown country code",
        kinds.NOT_A_NUMBER: "it does not look like a number",
        kinds.TOO_SHORT_AFTER_IDD: "too short",
        kinds.TOO_SHORT_NSN: "too short",
        kinds.TOO_LONG: "too long",
    }.get(exc.error_type, str(exc))


def normalise_token(text: str) -> str:
    """Lower-case, accents stripped, every run of non-alphanumerics one underscore."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[\W_]+", "_", plain.lower()).strip("_")


class EnumParser:
    """Reads one of ``values`` from its own spelling or a synonym, case and punctuation
    ignored ("Decision maker", "decision-maker" and "DM" all give "decision_maker")."""

    def __init__(self, label: str, values: tuple[str, ...], synonyms: Mapping[str, str]) -> None:
        self.label = label
        self.values = values
        self._lookup: dict[str, str] = {normalise_token(v): v for v in values}
        for synonym, value in synonyms.items():
            assert value in values, (synonym, value)
            self._lookup[normalise_token(synonym)] = value

    def __call__(self, text: str) -> str:
        found = self._lookup.get(text)
        if found is None:
            found = self._lookup.get(normalise_token(text))
            if found is not None and len(self._lookup) < 10_000:
                self._lookup[text] = found  # remember the spelling as written
        if found is None:
            raise CellError(
                f"{text!r} is not a known {self.label}; use one of: {', '.join(self.values)}"
            )
        return found


class BandParser:
    """A band given by its name, spacing, dashes and case ignored (``"10 - 49"`` is
    ``"10-49"``), by a synonym, or by a plain number that falls into it (120 employees
    is ``"50-249"``).  ``upper_bounds[i]`` is the first number above band ``i``."""

    def __init__(
        self,
        label: str,
        values: tuple[str, ...],
        upper_bounds: tuple[int, ...],
        synonyms: Mapping[str, str],
    ) -> None:
        self.label = label
        self.values = values
        self.upper_bounds = upper_bounds
        self._lookup = {self._squeeze(v): v for v in values}
        self._lookup.update({self._squeeze(k): v for k, v in synonyms.items()})

    @staticmethod
    def _squeeze(text: str) -> str:
        return re.sub(r"\s+", "", text.replace("\u2013", "-").replace("\u2014", "-")).lower()

    def __call__(self, text: str) -> str:
        found = self._lookup.get(text) or self._lookup.get(self._squeeze(text))
        if found is not None:
            return found
        digits = text.translate(_NUMBER_NOISE).replace(",", "")
        if digits.isdigit():
            number = int(digits)
            for value, upper in zip(self.values, self.upper_bounds, strict=False):
                if number < upper:
                    return value
            return self.values[-1]
        raise CellError(
            f"{text!r} is not a known {self.label}; use one of: {', '.join(self.values)} "
            "or a plain number"
        )


_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


@functools.lru_cache(maxsize=1024)
def parse_language(text: str) -> str:
    """A BCP 47 tag, normalised to ``ll`` / ``ll-RR`` case ("EN_gb" gives "en-GB")."""
    if not _LANGUAGE.match(text):
        raise CellError(f"{text!r} is not a language tag; write e.g. en, de or en-GB")
    primary, *rest = re.split(r"[-_]", text)
    parts = [primary.lower()]
    for sub in rest:
        parts.append(sub.upper() if len(sub) == 2 else sub.title() if len(sub) == 4 else sub)
    return "-".join(parts)


_TIMEZONES: dict[str, str] | None = None


@functools.lru_cache(maxsize=1024)
def parse_timezone(text: str) -> str:
    """An IANA time zone name, case-insensitively ("europe/berlin" gives "Europe/Berlin")."""
    global _TIMEZONES
    if _TIMEZONES is None:
        _TIMEZONES = {name.lower(): name for name in available_timezones()}
        _TIMEZONES["utc"] = "UTC"
    found = _TIMEZONES.get(text.strip().lower())
    if found is None:
        raise CellError(f"{text!r} is not an IANA time zone; write e.g. Europe/Berlin or UTC")
    return found


def parse_text(text: str, *, max_length: int, multiline: bool = False) -> str:
    if not multiline and ("\n" in text or "\r" in text):
        raise CellError("the value spans several lines; a quote is probably unbalanced in this row")
    if len(text) > max_length:
        raise CellError(f"is {len(text)} characters long; at most {max_length} fit")
    return text


_INDUSTRY = re.compile(r"^[A-U](?:\d{1,2}(?:\.\d{1,2})?)?$|^\d{1,2}(?:\.\d{1,2}){0,2}$")


@functools.lru_cache(maxsize=4096)
def parse_industry_code(text: str) -> str:
    """A NACE code: a section letter (``J``), a division (``61``), a group or class
    (``61.1``, ``61.10``)."""
    code = text.strip().upper()
    if not _INDUSTRY.match(code):
        raise CellError(f"{text!r} is not a NACE industry code; write e.g. 61.10 or J")
    return code


def parse_handle(text: str) -> str:
    """A webhook URL (https://...) or a messenger handle (@name, or a chat id)."""
    value = text.strip()
    if value.startswith(("http://", "https://")):
        if " " in value or len(value) > 500:
            raise CellError(f"{text!r} is not a valid URL")
        return value
    if re.fullmatch(r"@?[\w.\-]{2,64}", value):
        return value
    raise CellError(f"{text!r} is not a webhook URL or a messenger handle (@name)")
