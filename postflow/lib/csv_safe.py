"""CSV that a spreadsheet opens as data, never as formulas (CSV injection, CWE-1236).

Rule, after OWASP "CSV Injection" and ASVS 5.0 1.2.10: a *string* cell that starts with
``=``, ``+``, ``-``, ``@``, tab, carriage return or NUL is prefixed with a single quote, so
Excel, LibreOffice and Google Sheets show it as text. Quoting alone does not stop evaluation,
and stripping the first ``=`` (django-import-export's way) lets ``==1+1`` through.

Every such string is neutralised, including ones that look like plain negative numbers
("-12" becomes "'-12"): the exports hold no signed numbers as text, and guessing which
strings are "really" numbers is exactly what an attacker would aim at. Python ``int`` and
``float`` values are not strings and are written as they are.

A leading space is not a trigger: spreadsheets read " =1+1" as text.
"""

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r", "\0")

Cell = str | int | float | None


def neutralise(value: Cell) -> Cell:
    """The value, with a leading single quote if it is a string a spreadsheet would evaluate."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def render_csv(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    """RFC 4180 text (CRLF line ends, minimal quoting) with every cell neutralised; None is ''."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(cell) for cell in header])
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
    return buffer.getvalue()
