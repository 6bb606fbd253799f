"""Text someone else wrote: a file's bytes as text, a value quoted short, control characters.

Pure helpers with no models, for the readers of files people hand us (the shot list, the EDL).
"""

import codecs
import re

QUOTE_LIMIT = 200  # characters of a value shown in a message: enough to recognise it, never a whole file

# Checked longest first: a UTF-32-LE mark starts with the UTF-16-LE one.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Files people pick by mistake, named so that the message says what was picked.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx or .ods workbook?)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (.xls)"),
)
# C0 controls (NUL included), DEL and C1 controls: invisible in a sheet, and PostgreSQL refuses NUL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINE_BREAKS_AND_TABS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class NotText(ValueError):
    """The bytes are not text we can read; the message says what they look like."""


def decode_text(data: bytes) -> tuple[str, str]:
    """Text and the encoding it was read with: UTF-8/16/32 by their byte-order mark, else UTF-8,
    else Windows-1252. NotText for a known binary format, for UTF-16/32 without a mark (their NUL
    bytes would otherwise read as Windows-1252), and for bytes that are neither."""
    for mark, encoding in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            return _decode(data[len(mark) :], encoding), encoding
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            raise NotText(f"this is {kind}, not text")
    if b"\x00" in data.split(b"\n", 1)[0]:
        raise NotText("its first line has NUL bytes: UTF-16 or UTF-32 without a byte-order mark, or not text")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        raise NotText(f"byte {exc.start} is neither UTF-8 nor Windows-1252 text") from None


def _decode(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise NotText(f"it starts with a {encoding.upper()} byte-order mark, but byte {exc.start} is not") from None


def excerpt(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text` itself when short; else its first `limit` characters, and how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def find_control(text: str, *, multiline: bool = False) -> int | None:
    """Index of the first control character in `text`, or None. `multiline` text (notes) may hold
    line breaks and tabs."""
    pattern = _CONTROL_BUT_LINE_BREAKS_AND_TABS if multiline else _CONTROL
    found = pattern.search(text)
    return None if found is None else found.start()


def control_problem(text: str, *, multiline: bool = False) -> str | None:
    """'a control character (U+0000) at character 6', or None when there is none."""
    at = find_control(text, multiline=multiline)
    if at is None:
        return None
    kind = "a line break" if text[at] in "\r\n" else "a control character"
    return f"{kind} (U+{ord(text[at]):04X}) at character {at + 1}"


def web_link(url: str | None) -> str:
    """`url` if it is an http(s) address, else "": a link from elsewhere (Frame.io's view_url) never
    becomes `javascript:` in a page or a tool's UI."""
    return url if url and url.lower().startswith(("https://", "http://")) else ""
