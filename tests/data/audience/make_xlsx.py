"""Writes organisations_bad.xlsx, the XLSX twin of organisations_bad.csv.

Run it again after changing the rows: ``.venv/bin/python tests/data/audience/make_xlsx.py``.
Cells use spreadsheet types where a real export would: dates as date cells, amounts and
head counts as numbers, a phone-like id as a number.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from openpyxl import Workbook

HEADERS = [
    "Customer ID", "Company name", "NACE", "Region", "Employees", "Revenue", "Key account",
    "Account manager", "Contract start", "Contract end", "Monthly spend",
]  # fmt: skip
ROWS: list[list[object]] = [
    # 2: valid; date cells, a float amount, an integer head count
    ["X-001", "Alpha Telematik GmbH", "61.10", "Bayern", 120, "1M-10M", True,
     "manager@example.com", date(2021, 3, 1), datetime(2026, 12, 31), 1234.5],
    # 3: valid; dates written as text in two layouts
    ["X-002", "Beta Logistik AG", "49.41", "Hessen", "10-49", "<1M", "no", None,
     "15.06.2020", "2027/06/14", "980"],
    # 4: empty row
    [None] * 11,
    # 5: duplicate external id of row 2
    ["X-001", "Alpha Again GmbH", "61.10", "Bayern", 5, "<1M", False, None, None, None, 1],
    # 6: account manager is not a valid email
    ["X-003", "Gamma Bau KG", "41.20", "Berlin", 3, "<1M", False, "not-an-email", None, None, 0],
    # 7: account manager is no user
    ["X-004", "Delta Software GmbH", "62.01", "Hamburg", 3, "<1M", False,
     "nobody@example.com", None, None, 0],
    # 8: a value beyond the last named column
    ["X-005", "Epsilon GmbH", "47.19", "Sachsen", 3, "<1M", False, None, None, None, 0, "stray"],
    # 9: region missing
    ["X-006", "Zeta Kanzlei", "69.10", None, 3, "<1M", False, None, None, None, 0],
    # 10: valid; a numeric external id and 5000 employees
    [7, "Eta Energie SE", "35.11", "Thüringen", 5000, "250M+", "yes", None,
     date(2018, 1, 1), date(2028, 12, 31), 99999.999],
    # 11: contract end is a number that is no date
    ["X-008", "Theta GmbH", "62.01", "Bayern", 3, "<1M", False, None, None, 45000, 0],
]  # fmt: skip


def main() -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Customers"
    sheet.append(HEADERS)
    for row in ROWS:
        sheet.append(row)
    # Formatting below the data makes the sheet report more rows than it holds;
    # those trailing empty rows are not lines of the import.
    sheet.cell(row=40, column=1).number_format = "0.00"
    sheet.cell(row=40, column=1).value = None
    workbook.save(Path(__file__).with_name("organisations_bad.xlsx"))


if __name__ == "__main__":
    main()
