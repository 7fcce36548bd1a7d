"""Cell parsers of the audience import: what each accepts, and the message when it does not."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.audience.imports import values as v
from app.audience.imports.fields import (
    CONSENT_STATUS,
    CONTACT_ROLE,
    EMPLOYEE_BAND,
    PRODUCT,
    REVENUE_BAND,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-31", date(2024, 5, 31)),
        ("2024-05-31T13:45:00", date(2024, 5, 31)),
        ("2024-05-31 00:00:00", date(2024, 5, 31)),
        ("31.05.2024", date(2024, 5, 31)),
        ("1.5.2024", date(2024, 5, 1)),
        ("31/05/2024", date(2024, 5, 31)),
        ("2024/05/31", date(2024, 5, 31)),
    ],
)
def test_dates_are_read_in_four_layouts(text: str, expected: date) -> None:
    assert v.parse_date(text) == expected


def test_a_month_first_date_is_refused_rather_than_guessed() -> None:
    with pytest.raises(v.CellError) as info:
        v.parse_date("03/25/2024")
    assert str(info.value) == (
        "'03/25/2024' is not a real date (day 3, month 25, year 2024); dates are read as "
        "YYYY-MM-DD, DD.MM.YYYY, DD/MM/YYYY or YYYY/MM/DD"
    )


def test_text_that_is_no_date_names_the_accepted_layouts() -> None:
    with pytest.raises(v.CellError) as info:
        v.parse_date("next Tuesday")
    assert str(info.value) == (
        "'next Tuesday' is not a date; use YYYY-MM-DD, DD.MM.YYYY, DD/MM/YYYY or YYYY/MM/DD"
    )


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2999, 12, 31)))
def test_every_date_round_trips_through_each_layout(day: date) -> None:
    for layout in ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%Y/%m/%d"):
        assert v.parse_date(day.strftime(layout)) == day


def test_timestamps_without_offset_are_utc_and_dates_are_midnight_utc() -> None:
    assert v.parse_datetime("2024-05-31T14:30:00") == datetime(2024, 5, 31, 14, 30, tzinfo=UTC)
    assert v.parse_datetime("2024-05-31T14:30:00+02:00") == datetime(
        2024, 5, 31, 12, 30, tzinfo=UTC
    )
    assert v.parse_datetime("31.05.2024") == datetime(2024, 5, 31, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234.5", Decimal("1234.50")),
        ("1 234,50", Decimal("1234.50")),
        ("1,234.50", Decimal("1234.50")),
        ("1.234,50", Decimal("1234.50")),
        ("€1234.5", Decimal("1234.50")),
        ("1234.50 EUR", Decimal("1234.50")),
        ("0.005", Decimal("0.01")),
        ("12'345", Decimal("12345.00")),
    ],
)
def test_amounts_ignore_thousands_separators_and_currency(text: str, expected: Decimal) -> None:
    assert v.parse_amount(text) == expected


def test_negative_and_non_numeric_amounts_are_refused() -> None:
    with pytest.raises(v.CellError, match=r"^'-50' is negative; amounts must be 0 or more$"):
        v.parse_amount("-50")
    with pytest.raises(v.CellError, match=r"^'abc' is not a number; write e.g. 1234.50$"):
        v.parse_amount("abc")


def test_emails_are_validated_by_email_validator_and_lower_cased() -> None:
    assert v.parse_email("Ada@Alpha-Telematik.DE") == "ada@alpha-telematik.de"
    with pytest.raises(v.CellError) as info:
        v.parse_email("dora@beta")
    assert str(info.value) == (
        "'dora@beta' is not a valid email address: The part after the @-sign is not valid. "
        "It should have a period."
    )


def test_the_same_domain_is_checked_once_and_still_rejects_bad_local_parts() -> None:
    assert v.parse_email("a@gamma-bau.de") == "a@gamma-bau.de"
    assert v.parse_email("b@gamma-bau.de") == "b@gamma-bau.de"
    with pytest.raises(v.CellError, match="is not a valid email address"):
        v.parse_email("a..b@gamma-bau.de")


def test_national_phone_numbers_are_read_in_the_default_region_and_given_in_e164() -> None:
    assert v.parse_phone("030 1234567", "DE") == "+49301234567"
    assert v.parse_phone("+49 (151) 2345-6789", "DE") == "+4915123456789"
    assert v.parse_phone("020 7946 0958", "GB") == "+442079460958"


def test_invalid_phone_numbers_say_what_is_wrong() -> None:
    with pytest.raises(v.CellError) as info:
        v.parse_phone("12345", "DE")
    assert str(info.value) == (
        "'12345' is not a valid phone number (read in region DE); write it in international "
        "form, e.g. +49 30 1234567"
    )
    with pytest.raises(v.CellError, match=r"^'call me' is not a phone number: "):
        v.parse_phone("call me", "DE")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Decision maker", "decision_maker"),
        ("decision-maker", "decision_maker"),
        ("DM", "decision_maker"),
        ("Accounts payable", "billing"),
        ("IT", "technical"),
        ("Legal", "legal"),
    ],
)
def test_contact_roles_accept_forgiving_spellings(text: str, expected: str) -> None:
    assert CONTACT_ROLE(text) == expected


def test_an_unknown_role_lists_the_roles() -> None:
    with pytest.raises(v.CellError) as info:
        CONTACT_ROLE("janitor")
    assert str(info.value) == (
        "'janitor' is not a known contact role; use one of: decision_maker, billing, "
        "technical, legal, other"
    )


def test_products_and_consents_accept_synonyms() -> None:
    assert PRODUCT("SMS gateway") == "sms_gateway"
    assert PRODUCT("Colocation") == "data_center"
    assert PRODUCT("MPLS") == "vpn"
    assert CONSENT_STATUS("yes") == "granted"
    assert CONSENT_STATUS("opt-out") == "withdrawn"
    assert CONSENT_STATUS("no") == "denied"


def test_bands_are_read_by_name_with_any_dash_or_by_number() -> None:
    assert EMPLOYEE_BAND("1\u20139") == "1-9"
    assert EMPLOYEE_BAND("10 - 49") == "10-49"
    assert EMPLOYEE_BAND("120") == "50-249"
    assert EMPLOYEE_BAND("1 000") == "1000+"
    assert EMPLOYEE_BAND("over 1000") == "1000+"
    assert REVENUE_BAND("3500000") == "1M-10M"
    assert REVENUE_BAND("under 1m") == "<1M"
    with pytest.raises(v.CellError) as info:
        EMPLOYEE_BAND("lots")
    assert str(info.value) == (
        "'lots' is not a known employee band; use one of: 1-9, 10-49, 50-249, 250-999, 1000+ "
        "or a plain number"
    )


def test_booleans_languages_timezones_industry_codes_and_handles() -> None:
    assert v.parse_bool("Yes") is True
    assert v.parse_bool("0") is False
    assert v.parse_language("EN_gb") == "en-GB"
    assert v.parse_timezone("europe/berlin") == "Europe/Berlin"
    assert v.parse_industry_code("61.10") == "61.10"
    assert v.parse_industry_code("j") == "J"
    assert v.parse_handle("@ada_l") == "@ada_l"
    assert v.parse_handle("https://hooks.example.com/x") == "https://hooks.example.com/x"
    with pytest.raises(v.CellError, match=r"^'maybe' is not yes/no"):
        v.parse_bool("maybe")
    with pytest.raises(v.CellError, match=r"^'english' is not a language tag"):
        v.parse_language("english")
    with pytest.raises(v.CellError, match=r"^'Mars/Olympus' is not an IANA time zone"):
        v.parse_timezone("Mars/Olympus")
    with pytest.raises(v.CellError, match=r"^'XX.YY' is not a NACE industry code"):
        v.parse_industry_code("XX.YY")


def test_multi_line_text_points_at_an_unbalanced_quote() -> None:
    with pytest.raises(v.CellError) as info:
        v.parse_text("Acme\nORG-2", max_length=100)
    assert str(info.value) == (
        "the value spans several lines; a quote is probably unbalanced in this row"
    )
