"""Reading uploaded files: encodings, delimiters, broken lines, XLSX, and column mapping."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from app.audience.imports.fields import mapping_problems, suggest_mapping
from app.audience.imports.reading import (
    FileReadError,
    RawLine,
    decode,
    double_encoded,
    open_table,
    sniff_delimiter,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "audience"


def test_utf8_with_and_without_bom_is_detected() -> None:
    text = "Name\nMüller GmbH\n"
    assert decode(text.encode("utf-8")) == (text, "utf-8")
    assert decode(codecs.BOM_UTF8 + text.encode("utf-8")) == (text, "utf-8-sig")
    assert decode(text.encode("utf-16")) == (text, "utf-16")


def test_cyrillic_windows_1251_is_told_apart_from_western_windows_1252() -> None:
    assert decode("ООО Ромашка;Москва".encode("cp1251")) == ("ООО Ромашка;Москва", "cp1251")
    assert decode("Müller;Société Générale".encode("cp1252")) == (
        "Müller;Société Générale",
        "cp1252",
    )


def test_a_cp1251_file_is_read_with_its_russian_headers_mapped() -> None:
    table = open_table((DATA / "organisations_cp1251.csv").read_bytes(), "orgs.csv")
    assert table.encoding == "cp1251"
    assert table.delimiter == ";"
    lines = list(table.lines())
    assert lines[0].cells == ["RU-1", "ООО Ромашка", "62.01", "Москва", "10-49", "1M-10M"]


def test_a_chosen_encoding_that_does_not_fit_is_an_error_naming_the_line() -> None:
    content = "id,name\n1,Acme\n2,Müller\n".encode("cp1252")
    with pytest.raises(FileReadError) as info:
        open_table(content, "orgs.csv", "utf-8")
    assert str(info.value) == (
        "the file is not valid utf-8: byte 0xfc on line 3 cannot be read; choose the file's "
        "real encoding (or 'Detect automatically') or save it as UTF-8"
    )


def test_a_utf8_file_with_a_stray_windows_byte_is_refused_as_mixed() -> None:
    content = "id,name\n1,Müller GmbH\n2,Société Générale\n".encode() + b"3,Caf\xe9 Hansa\n"
    with pytest.raises(FileReadError) as info:
        open_table(content, "orgs.csv")
    assert str(info.value) == (
        "the file is UTF-8 except for byte 0xe9 on line 4: it mixes two encodings; correct "
        "that line (or choose the encoding) and upload again"
    )


def test_utf16_without_byte_order_mark_is_refused_not_garbled() -> None:
    content = "id,name\n1,Acme\n".encode("utf-16-le")
    with pytest.raises(FileReadError) as info:
        open_table(content, "orgs.csv")
    assert str(info.value) == (
        "line 1 contains NUL bytes: the file is binary or UTF-16 without a byte order mark; "
        "export it as CSV in UTF-8"
    )


def test_double_encoded_text_is_recognised_and_plain_text_is_not() -> None:
    assert double_encoded("Jan MÃ¼ller") == "Jan Müller"
    assert double_encoded("Привет".encode().decode("cp1252")) == "Привет"
    assert double_encoded("Привет".encode().decode("cp1251")) == "Привет"
    assert double_encoded("Привет".encode().decode("latin-1")) == "Привет"
    assert double_encoded("Müller") is None
    assert double_encoded("Привет") is None
    assert double_encoded("plain ascii") is None


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [("a,b,c", ","), ("a;b;c", ";"), ("a\tb\tc", "\t"), ("a|b|c", "|"), ("single", ",")],
)
def test_the_delimiter_is_sniffed_from_the_header(header: str, delimiter: str) -> None:
    assert sniff_delimiter(header) == delimiter


def test_files_that_cannot_be_tables_are_refused_with_what_to_do() -> None:
    with pytest.raises(FileReadError, match=r"^'orgs.xls' is an old Excel 97-2003 file; save"):
        open_table(b"x", "orgs.xls")
    with pytest.raises(FileReadError, match=r"^'orgs.pdf' is neither .csv nor .xlsx"):
        open_table(b"x", "orgs.pdf")
    with pytest.raises(FileReadError, match=r"^'orgs.csv' is empty; export the data again$"):
        open_table(b" \n", "orgs.csv")
    with pytest.raises(FileReadError, match=r"^the first line is empty; it must hold"):
        open_table(b"\nid,name\n", "orgs.csv")
    with pytest.raises(FileReadError) as info:
        open_table(b"id,Name,name\n", "orgs.csv")
    assert str(info.value) == (
        "the column name 'name' appears twice (columns 2 and 3); rename one of them"
    )
    with pytest.raises(FileReadError, match=r"^'orgs.xlsx' is not a readable .xlsx workbook"):
        open_table(b"not a zip file", "orgs.xlsx")


def test_an_unbalanced_quote_costs_one_line_and_the_lines_after_it_are_read() -> None:
    content = b'id,name,x\n1,"Acme,2\n3,b,c\n\n4,"multi\nline",z\n5,a\n6,a,b,c,d\n7,a,\n\n\n'
    assert list(open_table(content, "a.csv").lines()) == [
        RawLine(
            2,
            ['1,"Acme,2'],
            "a quoted value is not closed on this line (unbalanced quote); the lines after it "
            "were read on their own",
        ),
        RawLine(3, ["3", "b", "c"]),
        RawLine(4, []),
        RawLine(5, ["4", "multi\nline", "z"]),
        RawLine(
            7,
            ["5", "a"],
            "the line has 2 values but the header has 3 columns; a value or delimiter is missing",
        ),
        RawLine(
            8,
            ["6", "a", "b", "c", "d"],
            "the line has 5 values but the header has 3 columns; a value holds an unquoted "
            "delimiter",
        ),
        RawLine(9, ["7", "a", ""]),
    ]


def test_a_trailing_delimiter_after_the_last_column_is_not_a_broken_line() -> None:
    lines = list(open_table(b"id,name,\n1,Acme,\n", "a.csv").lines())
    assert lines == [RawLine(2, ["1", "Acme"])]


def test_xlsx_cells_become_text_and_trailing_formatted_rows_are_not_lines() -> None:
    table = open_table((DATA / "organisations_bad.xlsx").read_bytes(), "orgs.xlsx")
    lines = list(table.lines())
    assert table.file_format == "xlsx"
    assert [line.number for line in lines] == list(range(2, 12))
    assert lines[0].cells[4:11] == [
        "120", "1M-10M", "true", "manager@example.com", "2021-03-01", "2026-12-31", "1234.5",
    ]  # fmt: skip
    assert lines[2].empty
    assert lines[6].problem == (
        "the row has values beyond the last named column (column 11); name their column or "
        "remove them"
    )
    assert lines[8].cells[0] == "7"


def test_the_mapping_is_suggested_from_english_and_german_headers() -> None:
    headers = ["Customer ID", "Company", "VAT", "NACE", "Bundesland", "Mitarbeiter", "Umsatz",
               "Key account", "Account manager", "Vertragsende", "Monthly spend"]  # fmt: skip
    assert suggest_mapping("organisations", headers) == {
        "Customer ID": "external_id",
        "Company": "legal_name",
        "VAT": "tax_id",
        "NACE": "industry_code",
        "Bundesland": "region",
        "Mitarbeiter": "employee_band",
        "Umsatz": "revenue_band",
        "Key account": "is_key_account",
        "Account manager": "account_manager",
        "Vertragsende": "",
        "Monthly spend": "monthly_spend",
    }


def test_a_contacts_file_maps_consent_and_organisation_columns() -> None:
    headers = ["Company ID", "Name", "E-Mail", "Consent email", "consent_sms", "Company name"]
    assert suggest_mapping("contacts", headers) == {
        "Company ID": "organisation_external_id",
        "Name": "full_name",
        "E-Mail": "email",
        "Consent email": "consent_email",
        "consent_sms": "consent_sms",
        "Company name": "organisation.legal_name",
    }


def test_missing_and_doubly_mapped_columns_are_named() -> None:
    problems = mapping_problems(
        "contacts", ["org", "mail", "mail2"], {"org": "", "mail": "email", "mail2": "email"}
    )
    assert problems == {
        "email": "Email is mapped from both 'mail' and 'mail2'; map it from one column",
        "organisation_external_id": (
            "the file has no column for Organisation external id (organisation_external_id), "
            "which every row needs; map one of the file's columns to it"
        ),
    }
    assert mapping_problems("contacts", ["org", "x"], {"org": "organisation_external_id"}) == {
        "email": "map a column to email or phone: a contact is identified by them"
    }
    assert mapping_problems("organisations", ["id"], {"id": "colour"}) == {
        "id": "'colour' is not a field of a organisations import",
        "external_id": (
            "the file has no column for External id (external_id), which every row needs; map "
            "one of the file's columns to it"
        ),
    }
