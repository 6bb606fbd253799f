"""Reading a shot-list spreadsheet export: encoding, delimiter, header mapping.

Pure functions, no models. Handles Google Sheets CSV exports and Excel exports in French
locale (`;`, cp1252, CRLF, BOM), and UTF-16/32 files with their byte-order mark. Column headers
are matched to canonical fields through aliases in English and French, ignoring case, accents
and punctuation. A header quoted in a message is cut short: the file is anyone's.
"""

import csv
import io
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from postflow.lib.text import NotText, decode_text, excerpt

REQUIRED_FIELDS = ("shot_number", "scene")
CANONICAL_FIELDS = (
    "shot_number",
    "nomenclature",
    "scene",
    "source_file",
    "source_in",
    "source_out",
    "timeline_in",
    "timeline_out",
    "duration",
    "notes",
)

# Header spellings seen in productions' sheets; compared after `normalize_header`.
ALIASES: dict[str, tuple[str, ...]] = {
    "shot_number": (
        "shot_number",
        "shot number",
        "shot no",
        "shot #",
        "shot",
        "n° plan",
        "no plan",
        "numéro de plan",
        "numéro plan",
        "num plan",
        "plan",
    ),
    "nomenclature": ("nomenclature", "shot name", "shot code", "nom du plan", "nom plan", "code plan"),
    "scene": ("scene", "scène", "séquence", "sequence", "seq", "séq"),
    "source_file": (
        "source_file",
        "source file",
        "source",
        "clip name",
        "clip",
        "fichier source",
        "fichier",
        "rush",
        "média source",
        "media source",
    ),
    "source_in": ("source_in", "source in", "src in", "tc in source", "tc source in", "entrée source"),
    "source_out": ("source_out", "source out", "src out", "tc out source", "tc source out", "sortie source"),
    "timeline_in": (
        "timeline_in",
        "timeline in",
        "record in",
        "rec in",
        "tc in montage",
        "tc in timeline",
        "entrée montage",
    ),
    "timeline_out": (
        "timeline_out",
        "timeline out",
        "record out",
        "rec out",
        "tc out montage",
        "tc out timeline",
        "sortie montage",
    ),
    "duration": ("duration", "durée", "duree", "length", "longueur"),
    "notes": ("notes", "note", "comments", "comment", "commentaires", "commentaire", "remarques"),
}

# --- Google Sheets sync (sheets/): the columns postflow writes, never reads back ---
# Kept apart from ALIASES so that import_shots still lists these columns as ignored.
PUSHED_ALIASES: dict[str, tuple[str, ...]] = {
    "status": ("status", "shot status", "statut", "état", "etat", "statut du plan"),
    "stage": ("stage", "pipeline stage", "étape", "etape", "phase"),
    "version": ("version", "latest version", "last version", "dernière version", "derniere version", "vers"),
    "frameio": ("frameio", "frame.io", "frame.io link", "frameio link", "review link", "lien frame.io", "lien review"),
    "last_note": (
        "last_note",
        "last note",
        "last review note",
        "review note",
        "dernière note",
        "derniere note",
        "dernier commentaire",
        "note review",
    ),
}
# --- end Google Sheets sync ---

_DELIMITERS = (",", ";", "\t")
HEADERS_LISTED = 10  # headers named in a message; a sheet may have thousands
HEADER_QUOTED = 60  # characters of each


class SheetError(Exception):
    """The file cannot be read as a shot list; the message says why and what to do."""


@dataclass(frozen=True)
class SheetRow:
    line: int  # physical line in the file where the record starts (1 = header)
    cells: dict[str, str]  # canonical field -> raw cell text (stripped)


@dataclass
class Sheet:
    path: Path
    encoding: str
    delimiter: str
    headers: list[str]
    mapping: dict[str, str]  # canonical field -> header as written in the sheet
    ignored_headers: list[str]
    rows: list[SheetRow] = field(default_factory=list)

    def header_of(self, canonical: str) -> str:
        return self.mapping.get(canonical, canonical)


def normalize_header(text: str) -> str:
    """'N° Plan' -> 'nplan', 'TC In montage' -> 'tcinmontage', 'Séquence' -> 'sequence'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed.lower() if ch.isalnum() and not unicodedata.combining(ch))


_ALIAS_INDEX: dict[str, str] = {normalize_header(alias): name for name, aliases in ALIASES.items() for alias in aliases}


def decode(data: bytes) -> tuple[str, str]:
    """Text and the encoding it was read with: UTF-8/16/32 by their BOM, else UTF-8, else Windows-1252."""
    try:
        return decode_text(data)
    except NotText as exc:
        raise SheetError(f"{exc}; export the sheet again as CSV (UTF-8)") from None


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the header line into the most columns (`,` `;` or tab)."""
    numbered = enumerate(text.splitlines(), 1)
    line, header = next(((number, content) for number, content in numbered if content.strip()), (1, ""))
    counts = {delim: _count_cells(header, delim) for delim in _DELIMITERS}
    if not any(counts.values()):
        raise SheetError(
            f"line {line}: a cell over {csv.field_size_limit():,} characters whatever the delimiter; "
            "is it a shot list? check the quoting of that line"
        )
    return max(_DELIMITERS, key=lambda delim: counts[delim])  # ties go to ",", the first


def _count_cells(line: str, delimiter: str) -> int:
    """Cells of `line` split by `delimiter`; 0 when a cell is over the csv module's limit that way
    (a `;` header is one huge cell to `,`)."""
    try:
        return len(next(csv.reader([line], delimiter=delimiter)))
    except csv.Error:
        return 0


def map_columns(headers: list[str], overrides: Mapping[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """Canonical field -> header. Raises SheetError listing the headers seen when a required
    column is missing, or when two columns claim the same field."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(CANONICAL_FIELDS))
    if unknown:
        raise SheetError(f"--columns names unknown fields {_list(unknown)}; fields are: {', '.join(CANONICAL_FIELDS)}")
    mapping = map_by_alias(headers, overrides, _ALIAS_INDEX, option="--columns")
    missing = [name for name in REQUIRED_FIELDS if name not in mapping]
    if missing:
        raise SheetError(
            f"no column for required field(s) {', '.join(missing)}; headers seen: {_list(headers)}; "
            f'map them with --columns, e.g. \'{{"{missing[0]}": "Your header"}}\''
        )
    ignored = [header for header in headers if header not in mapping.values()]
    return mapping, ignored


def map_by_alias(
    headers: list[str],
    overrides: Mapping[str, str],
    index: Mapping[str, str],
    *,
    option: str,
    taken: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """Field -> header: the `overrides` first, then each header whose normalized form is an alias
    in `index`; headers in `taken` belong to something else. Two headers claiming one field, or an
    override naming no header, raise SheetError saying how to fix it with `option`."""
    mapping: dict[str, str] = {}
    for field_name, header in overrides.items():
        if header not in headers:
            raise SheetError(
                f"{option} maps {field_name} to {_quote(header)}, which is not a header; headers seen: {_list(headers)}"
            )
        mapping[field_name] = header
    claimed = set(mapping.values()) | taken
    for header in headers:
        field_name = index.get(normalize_header(header))
        if header in claimed or field_name is None or field_name in overrides:
            continue
        if field_name in mapping:
            raise SheetError(
                f"columns {_quote(mapping[field_name])} and {_quote(header)} both look like {field_name}; "
                f'say which one with {option} \'{{"{field_name}": "{excerpt(mapping[field_name], HEADER_QUOTED)}"}}\''
            )
        mapping[field_name] = header
    return mapping


def read_sheet(path: Path, overrides: Mapping[str, str] | None = None) -> Sheet:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SheetError(f"cannot read {path}: {exc.strerror}") from None
    text, encoding = decode(data)
    if not text.strip():
        raise SheetError(f"{path} is empty")
    delimiter = sniff_delimiter(text)
    records = _records(text, delimiter)
    _, header_cells = next(records)
    headers = [cell.strip() for cell in header_cells]
    _check_headers(headers)
    mapping, ignored = map_columns(headers, overrides)
    index = {canonical: headers.index(header) for canonical, header in mapping.items()}
    sheet = Sheet(path, encoding, delimiter, headers, mapping, ignored)
    for line, cells in records:
        values = {name: (cells[i].strip() if i < len(cells) else "") for name, i in index.items()}
        sheet.rows.append(SheetRow(line=line, cells=values))
    if not sheet.rows:  # importing it would flag every shot of the project omitted
        raise SheetError(f"{path} has a header but no rows under it; is it the shot list?")
    return sheet


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(starting line, cells) for each non-blank record; quoted cells may span lines. Strict: a
    quote never closed would otherwise take every row below into one cell."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                yield start, cells
            start = reader.line_num + 1
    except csv.Error as exc:
        if str(exc) == "unexpected end of data":
            raise SheetError(f"line {start}: a quoted cell opened on this row is never closed") from None
        raise SheetError(f"line {reader.line_num}: {exc}; check the quoting of that row") from None


def _check_headers(headers: list[str]) -> None:
    seen: set[str] = set()
    for header in headers:
        if header and header in seen:
            raise SheetError(f"the header {_quote(header)} appears twice; rename one of the columns")
        seen.add(header)


def _quote(header: str) -> str:
    return repr(excerpt(header, HEADER_QUOTED))


def _list(headers: list[str]) -> str:
    named = [header for header in headers if header]
    more = f", … and {len(named) - HEADERS_LISTED} more" if len(named) > HEADERS_LISTED else ""
    return ", ".join(_quote(header) for header in named[:HEADERS_LISTED]) + more or "(none)"
