"""From uploaded bytes to numbered lines of text cells.

CSV files are decoded by :func:`decode` (UTF-8, UTF-8 with BOM, UTF-16 with BOM,
Windows-1251 or Windows-1252, detected or chosen), their delimiter is sniffed from the
header, and every record after the header is yielded with the physical line it starts
on.  A record that a stray quote stretched over several lines and that does not have the
header's number of cells is reported as broken on its first line, and the lines it
swallowed are read again on their own, so one bad quote never hides the rows after it.

XLSX files are read with openpyxl in read-only mode from the first worksheet; the line
number is the sheet's row number.  Trailing empty lines (and rows) are not counted.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time

ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "cp1251", "cp1252", "latin-1")
ENCODING_LABELS = {
    "auto": "Detect automatically",
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with BOM",
    "utf-16": "UTF-16 (with BOM)",
    "cp1251": "Windows-1251 (Cyrillic)",
    "cp1252": "Windows-1252 (Western European)",
    "latin-1": "ISO-8859-1 (Latin-1)",
}
DELIMITERS = (",", ";", "\t", "|")


class FileReadError(ValueError):
    """The file as a whole cannot be read; the message says what to do about it."""


@dataclass(slots=True)
class RawLine:
    """One record of the file: its first physical line number and its cells.

    ``problem`` is set when the line cannot be split into the header's columns (it is
    then rejected as it stands); ``empty`` when every cell is blank.
    """

    number: int
    cells: list[str]
    problem: str | None = None

    @property
    def empty(self) -> bool:
        return self.problem is None and not "".join(self.cells).strip()


@dataclass
class Table:
    """A readable file: its header and a way to iterate its data lines."""

    file_format: str  # "csv" | "xlsx"
    headers: list[str]
    encoding: str | None = None
    delimiter: str | None = None
    estimated_lines: int = 0
    _text: str = field(default="", repr=False)
    _content: bytes = field(default=b"", repr=False)

    def lines(self) -> Iterator[RawLine]:
        """Every data line after the header, empty ones included, trailing ones not."""
        if self.file_format == "csv":
            return _drop_trailing_empty(_csv_lines(self._text, self.delimiter or ",", self.headers))
        return _drop_trailing_empty(_xlsx_lines(self._content, len(self.headers)))


def file_format_for(filename: str) -> str:
    lowered = filename.lower()
    if lowered.endswith((".csv", ".txt", ".tsv")):
        return "csv"
    if lowered.endswith(".xlsx"):
        return "xlsx"
    if lowered.endswith(".xls"):
        raise FileReadError(
            f"{filename!r} is an old Excel 97-2003 file; save it as .xlsx or .csv and upload again"
        )
    raise FileReadError(f"{filename!r} is neither .csv nor .xlsx; export the data as CSV or XLSX")


def open_table(content: bytes, filename: str, encoding: str | None = None) -> Table:
    """The file's header and lines; ``encoding`` (CSV only) overrides detection."""
    if not content.strip():
        raise FileReadError(f"{filename!r} is empty; export the data again")
    file_format = file_format_for(filename)
    if file_format == "xlsx":
        return _open_xlsx(content, filename)
    text, used = decode(content, encoding)
    first_line = text.split("\n", 1)[0].rstrip("\r")
    if not first_line.strip():
        raise FileReadError("the first line is empty; it must hold the column names")
    delimiter = sniff_delimiter(first_line)
    header_cells = next(csv.reader([first_line], delimiter=delimiter))
    headers = _clean_headers(header_cells)
    estimated = max(text.count("\n") - (0 if text.endswith("\n") else -1) - 1, 0)
    return Table(
        "csv", headers, encoding=used, delimiter=delimiter, estimated_lines=estimated, _text=text
    )


# -- decoding ---------------------------------------------------------------------------


def decode(content: bytes, encoding: str | None = None) -> tuple[str, str]:
    """The text of ``content`` and the encoding used.

    Without ``encoding`` (or with ``"auto"``): a byte order mark decides, else strict
    UTF-8, else Windows-1251 when the bytes above 0x7F mostly come in runs (Cyrillic
    words) and Windows-1252 when they stand alone among ASCII letters (accents).  A
    chosen encoding that does not fit the bytes is an error naming the first bad line,
    never a silent replacement character.
    """
    if encoding and encoding != "auto":
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise FileReadError(
                f"unknown encoding {encoding!r}; choose one of: {', '.join(ENCODINGS)}"
            ) from None
        return _strict_decode(content, encoding), encoding
    if content.startswith(codecs.BOM_UTF8):
        return _strict_decode(content, "utf-8-sig"), "utf-8-sig"
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _strict_decode(content, "utf-16"), "utf-16"
    if b"\x00" in content:
        line = content[: content.index(b"\x00")].count(b"\n") + 1
        raise FileReadError(
            f"line {line} contains NUL bytes: the file is binary or UTF-16 without a byte "
            "order mark; export it as CSV in UTF-8"
        )
    try:
        return content.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        _refuse_mixed_utf8(content, exc)
    guess = "cp1251" if _looks_cyrillic(content) else "cp1252"
    try:
        return content.decode(guess), guess
    except UnicodeDecodeError:
        return content.decode("latin-1"), "latin-1"


def _strict_decode(content: bytes, encoding: str) -> str:
    try:
        return content.decode(encoding)
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        bad = content[exc.start : exc.start + 1].hex()
        raise FileReadError(
            f"the file is not valid {encoding}: byte 0x{bad} on line {line} cannot be read; "
            "choose the file's real encoding (or 'Detect automatically') or save it as UTF-8"
        ) from None


_NON_ASCII = re.compile("[^\x00-\x7f]")


def _refuse_mixed_utf8(content: bytes, error: UnicodeDecodeError) -> None:
    """A file that is mostly valid UTF-8 but has some bytes that are not was edited in
    two encodings; reading it as Windows-1252 would garble every correct character."""
    text = content.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = len(_NON_ASCII.findall(text)) - bad
    if good > 4 * bad:
        line = content[: error.start].count(b"\n") + 1
        raise FileReadError(
            f"the file is UTF-8 except for byte 0x{content[error.start]:02x} on line {line}: "
            "it mixes two encodings; correct that line (or choose the encoding) and upload again"
        )


def _looks_cyrillic(content: bytes) -> bool:
    high = paired = 0
    previous_high = False
    for index, byte in enumerate(content):
        is_high = byte >= 0xC0
        if is_high:
            high += 1
            next_high = index + 1 < len(content) and content[index + 1] >= 0xC0
            if previous_high or next_high:
                paired += 1
        previous_high = is_high
    return high > 0 and paired * 2 >= high


def double_encoded(text: str) -> str | None:
    """The corrected text when ``text`` is UTF-8 that was decoded as a single-byte
    encoding and saved again ("MÃ¼ller" for "Müller"), else ``None``.

    Genuine Windows-1252/1251 text almost never re-encodes into valid multi-byte UTF-8
    (an accented or Cyrillic letter is not followed by continuation bytes), so a clean
    round trip is strong evidence of double encoding.
    """
    if text.isascii():
        return None
    for single_byte in ("cp1252", "cp1251", "latin-1"):
        try:
            fixed = text.encode(single_byte).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if fixed != text:
            return fixed
    return None


# -- CSV --------------------------------------------------------------------------------


def sniff_delimiter(header_line: str) -> str:
    """The delimiter the header uses most: comma, semicolon, tab or pipe."""
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _clean_headers(cells: list[str]) -> list[str]:
    headers: list[str] = []
    seen: dict[str, int] = {}
    for position, cell in enumerate(cells, start=1):
        name = cell.strip().lstrip("\ufeff").strip() or f"column {position}"
        key = name.lower()
        if key in seen:
            raise FileReadError(
                f"the column name {name!r} appears twice (columns {seen[key]} and {position}); "
                "rename one of them"
            )
        seen[key] = position
        headers.append(name)
    while headers and headers[-1].startswith("column ") and len(headers) > 1:
        headers.pop()  # trailing delimiters after the last named column
    return headers


def _fit_cells(
    cells: list[str], width: int, *, spreadsheet: bool = False
) -> tuple[list[str], str | None]:
    if len(cells) > width and not any(c.strip() for c in cells[width:]):
        cells = cells[:width]
    if len(cells) == width:
        return cells, None
    if spreadsheet:
        return cells, (
            f"the row has values beyond the last named column (column {width}); name their "
            "column or remove them"
        )
    if len(cells) < width:
        problem = (
            f"the line has {len(cells)} values but the header has {width} columns; "
            "a value or delimiter is missing"
        )
    else:
        problem = (
            f"the line has {len(cells)} values but the header has {width} columns; "
            "a value holds an unquoted delimiter"
        )
    return cells, problem


def _csv_lines(text: str, delimiter: str, headers: list[str]) -> Iterator[RawLine]:
    width = len(headers)
    physical = list(io.StringIO(text, newline=""))  # lines as csv sees them
    start = 1  # index of the first physical line after the header
    while start < len(physical):
        reader = csv.reader(itertools.islice(physical, start, None), delimiter=delimiter)
        consumed = 0
        try:
            for cells in reader:
                first, consumed = start + consumed, reader.line_num
                number = first + 1
                if not cells:
                    yield RawLine(number, [])
                    continue
                fitted, problem = _fit_cells(cells, width)
                if problem and start + consumed - first > 1:
                    # A quote opened on this line swallowed the next ones: report this
                    # line and read the lines after it again, on their own.
                    yield RawLine(
                        number,
                        [physical[first].rstrip("\r\n")],
                        "a quoted value is not closed on this line (unbalanced quote); "
                        "the lines after it were read on their own",
                    )
                    start = first + 1
                    break
                yield RawLine(number, fitted, problem)
            else:
                return
        except csv.Error as exc:
            first = start + consumed
            yield RawLine(
                first + 1,
                [physical[first].rstrip("\r\n")],
                f"the line cannot be read: {exc}",
            )
            start = first + 1


def _drop_trailing_empty(lines: Iterator[RawLine]) -> Iterator[RawLine]:
    held: list[RawLine] = []
    for line in lines:
        if line.empty:
            held.append(line)
            continue
        yield from held
        held = []
        yield line


# -- XLSX -------------------------------------------------------------------------------


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value).strip()


def _load_sheet(content: bytes, filename: str):  # type: ignore[no-untyped-def]
    from zipfile import BadZipFile

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (BadZipFile, KeyError, OSError, ValueError) as exc:
        raise FileReadError(
            f"{filename!r} is not a readable .xlsx workbook ({exc}); save it again from "
            "your spreadsheet program or export it as CSV"
        ) from None
    return workbook, workbook.worksheets[0]


def _open_xlsx(content: bytes, filename: str) -> Table:
    workbook, sheet = _load_sheet(content, filename)
    try:
        first = next(sheet.iter_rows(max_row=1, values_only=True), None)
        if first is None or not any(_cell_text(v) for v in first):
            raise FileReadError("the first row is empty; it must hold the column names")
        headers = _clean_headers([_cell_text(v) for v in first])
        estimated = max((sheet.max_row or 1) - 1, 0)
    finally:
        workbook.close()
    return Table("xlsx", headers, estimated_lines=estimated, _content=content)


def _xlsx_lines(content: bytes, width: int) -> Iterator[RawLine]:
    workbook, sheet = _load_sheet(content, "the workbook")
    try:
        rows = sheet.iter_rows(min_row=2, values_only=True)
        for number, row in enumerate(rows, start=2):
            cells = [_cell_text(v) for v in row]
            if len(cells) < width:
                cells += [""] * (width - len(cells))
            fitted, problem = _fit_cells(cells, width, spreadsheet=True)
            yield RawLine(number, fitted, problem)
    finally:
        workbook.close()
