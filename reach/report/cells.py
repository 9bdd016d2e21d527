"""Spreadsheet cells that cannot run code: the one rule every CSV and XLSX writer applies.

A comms team opens the exports in Excel or LibreOffice, which read a text starting with `=`, `+`,
`-` or `@` (and, after a tab or carriage return, whatever follows) as a formula. OWASP's
CSV-injection guidance: prefix such a text with a single quote in CSV, write it as a string cell in
XLSX. Numbers are left alone, so a negative count stays a number.
"""

from typing import Any

# What a spreadsheet may read as the start of a formula (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _looks_like_formula(text: str) -> bool:
    # Quotes already in front are counted too, so that escaping can be undone exactly:
    # "'=x" is written "''=x" and reads back as "'=x".
    return text.lstrip("'").startswith(FORMULA_STARTS)


def csv_cell(value: Any) -> Any:
    """A value for a CSV cell: text that could start a formula gets a leading quote."""
    if isinstance(value, str) and _looks_like_formula(value):
        return "'" + value
    return value


def csv_uncell(text: str) -> str:
    """The inverse of `csv_cell` for text read back from a CSV file we wrote."""
    if text.startswith("'") and _looks_like_formula(text[1:]):
        return text[1:]
    return text


def xlsx_append(sheet: Any, values: list[Any]) -> None:
    """Append a row to an openpyxl sheet, every text written as a string cell, never a formula."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    # openpyxl refuses control characters a crawled post may carry; they print as nothing anyway.
    sheet.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in values])
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"  # openpyxl makes "=..." a formula and "#N/A" an error otherwise
