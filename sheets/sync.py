"""Two-way sync of the shot list with a Google Sheet: pull the producers' columns, push postflow's.

Who wins, per column (docs/sheets.md):

- The sheet owns the producer columns, the importer's fields (shot number, nomenclature, scene, source
  file, timecodes, duration, notes) and the list of rows. Edits there come in through the importer's
  own `parse_rows` -> `make_plan` -> `apply_plan`, so a sheet row is validated exactly as a CSV line
  would be, and `Problem.line` is the sheet row number.
- postflow owns STATUS, STAGE, VERSION, FRAMEIO and LAST_NOTE (`PUSHED_ALIASES`): anything typed there is
  overwritten by the next sync. Status changes only through `shots.services`, never from a cell.

Unlike `import_shots`, a sync is unattended and repeats every few minutes, so:

- a row that fails validation is reported with its sheet row and left out; the other rows apply (as with
  `--skip-invalid`);
- a shot whose row left the sheet is NOT flagged omitted. A filter view, a half-pasted sort or a tab
  that holds part of the list would otherwise omit shots silently on the next tick; omitting stays a
  reviewed act (`import_shots` on a CSV export, whose plan lists every omission). A row that comes
  back restores an omitted shot, like a new row;
- a producer field whose column the sheet does not have keeps postflow's value instead of being
  cleared (import_shots reads a missing column as empty). A renamed header then costs a warning in
  the report, not the notes of every shot.

The push writes only the cells whose value changed, in one `values.batchUpdate` (one range per
column, from its first to its last changed row; unchanged cells inside are sent as null, which Sheets
skips), as RAW values. Rows are matched by shot number; postflow never adds or deletes rows.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F, OuterRef, Subquery
from gspread.utils import absolute_range_name, rowcol_to_a1

from frameio.models import ReviewNote, Upload
from ingest.models import Render
from postflow.lib.timecode import parse_fps
from sheets.client import Cell, RetryPolicy, SheetsClient, ValueRange, load_credentials
from shots.importer import COMPARED_FIELDS, Plan, apply_plan, make_plan, parse_rows
from shots.models import Project, Shot
from shots.sheet import (
    CANONICAL_FIELDS,
    PUSHED_ALIASES,
    Sheet,
    SheetError,
    SheetRow,
    map_by_alias,
    map_columns,
    normalize_header,
)
from shots.workflow import STAGE_OF, Status

logger = logging.getLogger(__name__)

ACTOR = "sheets"
PUSHED_FIELDS: tuple[str, ...] = tuple(PUSHED_ALIASES)
SETTING_NAMES = ("GOOGLE_SERVICE_ACCOUNT_FILE", "GOOGLE_SHEET_ID")
# The renders that count as a shot's versions (the same states as render_unique_shot_version).
COUNTED_RENDER_STATES = (
    Render.State.VERIFIED,
    Render.State.QUEUED,
    Render.State.UPLOADED,
    Render.State.DONE,
)
NOTE_MAX_CHARS = 2000  # a cell holds 50,000; a note longer than this is cut with "…"
LISTED = 20

_PUSHED_INDEX = {normalize_header(alias): name for name, aliases in PUSHED_ALIASES.items() for alias in aliases}


class SheetsNotConfigured(Exception):
    """The sync is off: the message names the variable(s) to set."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(
            f"Google Sheets sync is off: set {' and '.join(missing)} (see docs/sheets.md and .env.example)"
        )


@dataclass(frozen=True)
class SheetsConfig:
    credentials_file: Path
    spreadsheet_id: str
    worksheet: str  # '' = the first worksheet
    columns: dict[str, str]  # field -> header, overriding the aliases
    timeout: float
    max_attempts: int


def sheets_config() -> SheetsConfig:
    """The sync's settings; SheetsNotConfigured naming what is unset when the sync is off."""
    missing = [name for name in SETTING_NAMES if not getattr(settings, name)]
    if missing:
        raise SheetsNotConfigured(missing)
    return SheetsConfig(
        credentials_file=Path(settings.GOOGLE_SERVICE_ACCOUNT_FILE),
        spreadsheet_id=settings.GOOGLE_SHEET_ID,
        worksheet=settings.GOOGLE_SHEET_WORKSHEET,
        columns=dict(settings.GOOGLE_SHEET_COLUMNS),
        timeout=settings.GOOGLE_SHEETS_TIMEOUT_SECONDS,
        max_attempts=settings.GOOGLE_SHEETS_MAX_ATTEMPTS,
    )


def sheets_client(config: SheetsConfig) -> SheetsClient:
    return SheetsClient(
        credentials=load_credentials(config.credentials_file),
        spreadsheet_id=config.spreadsheet_id,
        timeout=config.timeout,
        policy=RetryPolicy(max_attempts=config.max_attempts),
    )


# --- the report -----------------------------------------------------------------------------


@dataclass
class SyncReport:
    spreadsheet_id: str
    spreadsheet: str  # its title
    worksheet: str
    header_row: int
    rows: int  # non-blank rows under the header
    columns: dict[str, str]  # producer field -> header
    pushed_columns: dict[str, str]  # postflow field -> header
    missing_pushed_columns: list[str]
    ignored_columns: list[str]
    unlisted_fields: list[str]  # producer fields with no column: postflow's values are kept
    created: int
    updated: int
    unchanged: int
    restored: int
    invalid: list[dict]  # {row, column, value, reason}
    changes: dict
    pull_applied: bool
    push_ranges: list[str]
    push_cells: int
    push_applied: bool
    shots_not_in_sheet: list[str]
    dry_run: bool

    def as_dict(self) -> dict:
        return asdict(self)


# --- the worksheet as a shot list ---------------------------------------------------------------


@dataclass
class Layout:
    sheet: Sheet
    header_row: int  # sheet row number
    number_column: int  # 0-based
    pushed: dict[str, int] = field(default_factory=dict)  # postflow field -> 0-based column


def read_layout(grid: list[list[str]], *, label: str, overrides: dict[str, str]) -> Layout:
    """The worksheet's rows as a `shots.sheet.Sheet` (each SheetRow.line is its sheet row number) and
    where postflow's columns are. The header is the first non-blank row. Raises SheetError."""
    header_index = next((i for i, row in enumerate(grid) if any(cell.strip() for cell in row)), None)
    if header_index is None:
        raise SheetError("the worksheet is empty; its first row must hold the headers")
    headers = [cell.strip() for cell in grid[header_index]]
    _check_duplicates(headers)
    try:
        mapping, ignored = map_columns(headers, {k: v for k, v in overrides.items() if k in CANONICAL_FIELDS})
    except SheetError as exc:
        raise SheetError(str(exc).replace("--columns", "GOOGLE_SHEET_COLUMNS")) from None
    pushed = map_pushed_columns(
        headers, {k: v for k, v in overrides.items() if k in PUSHED_FIELDS}, taken=set(mapping.values())
    )
    sheet = Sheet(
        path=Path(label),
        encoding="utf-8",
        delimiter="",
        headers=headers,
        mapping=mapping,
        ignored_headers=[header for header in ignored if header and header not in pushed.values()],
    )
    index = {name: headers.index(header) for name, header in mapping.items()}
    for i in range(header_index + 1, len(grid)):
        cells = {name: _cell(grid[i], col).strip() for name, col in index.items()}
        if any(cells.values()):
            sheet.rows.append(SheetRow(line=i + 1, cells=cells))
    return Layout(
        sheet=sheet,
        header_row=header_index + 1,
        number_column=index["shot_number"],
        pushed={name: headers.index(header) for name, header in pushed.items()},
    )


def map_pushed_columns(headers: list[str], overrides: dict[str, str], *, taken: set[str]) -> dict[str, str]:
    """Postflow field -> header, by `PUSHED_ALIASES` (or GOOGLE_SHEET_COLUMNS). None is required."""
    mapping = map_by_alias(headers, overrides, _PUSHED_INDEX, option="GOOGLE_SHEET_COLUMNS", taken=frozenset(taken))
    shared = sorted(set(mapping.values()) & taken)
    if shared:
        raise SheetError(f"column {shared[0]!r} cannot be both a producer column and one postflow writes")
    return mapping


def _check_duplicates(headers: list[str]) -> None:
    seen: set[str] = set()
    for header in headers:
        if header and header in seen:
            raise SheetError(f"the header {header!r} appears twice; rename one of the columns")
        seen.add(header)


def _cell(row: list[str], col: int) -> str:
    return row[col] if col < len(row) else ""


# --- pull: the importer's plan, minus omissions -------------------------------------------------


def unlisted_fields(sheet: Sheet) -> tuple[str, ...]:
    """Producer fields the sheet has no column for (duration counts as listed when the importer can
    derive it from the record in and out)."""
    listed = set(sheet.mapping)
    if {"timeline_in", "timeline_out"} <= listed:
        listed.add("duration")
    return tuple(name for name in COMPARED_FIELDS if name not in listed)


def pull(*, sheet: Sheet, project_code: str, rate: float, dry_run: bool, source: str) -> tuple[Plan, bool]:
    """Plan the sheet's rows against the project and, unless dry_run, apply the valid ones.

    The project row is locked while planning and applying, so two syncs (the schedule and a person's
    `sheets_sync`) never both create the same new shot. Returns the plan and whether it was applied.
    """
    with nullcontext() if dry_run else transaction.atomic():
        projects = Project.objects.filter(code=project_code)
        project = (projects if dry_run else projects.select_for_update()).first()
        rows, problems = parse_rows(sheet, rate=rate)
        plan = make_plan(project=project, rows=rows, invalid=problems, sheet=sheet, rate=rate)
        plan.omit = []  # a sync never omits (module doc)
        _keep_unlisted_fields(plan, project, unlisted_fields(sheet))
        apply = not dry_run and bool(plan.create or plan.update)
        if apply:
            if project is None:
                project = Project.objects.create(code=project_code, name=_project_name(project_code), fps=rate)
            apply_plan(plan=plan, project=project, actor=ACTOR, source=source)
    return plan, apply


def _keep_unlisted_fields(plan: Plan, project: Project | None, unlisted: tuple[str, ...]) -> None:
    """Give planned updates postflow's current value for the fields the sheet has no column for."""
    if not unlisted or not plan.update or project is None:
        return
    plain = [name for name in unlisted if name not in ("scene", "source_file")]
    current = {row["id"]: row for row in Shot.objects.filter(project=project).values("id", "source_file__name", *plain)}
    replaced: dict[str, object] = {}
    update = []
    for shot_id, row, changes in plan.update:
        kept = {name: current[shot_id][name] for name in plain}
        if "source_file" in unlisted:
            kept["source_file"] = current[shot_id]["source_file__name"] or ""
        row = replaced[row.shot_number] = replace(row, **kept)
        changes = {name: change for name, change in changes.items() if name not in unlisted}
        if changes or shot_id in plan.restore:
            update.append((shot_id, row, changes))
        else:
            plan.unchanged.append(row)
    plan.update = update
    plan.rows = [replaced.get(row.shot_number, row) for row in plan.rows]


def project_rate(project_code: str) -> float:
    project = Project.objects.filter(code=project_code).first()
    return project.fps if project else parse_fps(settings.POSTFLOW_FPS)


def _project_name(project_code: str) -> str:
    return settings.POSTFLOW_PROJECT_NAME if project_code == settings.POSTFLOW_PROJECT_CODE else project_code


# --- push: postflow's columns ---------------------------------------------------------------------


def shot_cells(project: Project | None) -> dict[str, dict[str, Cell]]:
    """Shot number -> the values of postflow's columns, in one query."""
    if project is None:
        return {}
    renders = Render.objects.filter(shot=OuterRef("pk"), state__in=COUNTED_RENDER_STATES, version__isnull=False)
    links = Upload.objects.filter(render__shot=OuterRef("pk")).exclude(view_url="")
    notes = ReviewNote.objects.filter(shot=OuterRef("pk"), deleted_at__isnull=True).order_by(
        F("commented_at").desc(nulls_last=True), "-id"
    )
    shots = (
        Shot.objects.filter(project=project)
        .order_by()
        .annotate(
            latest_version=Subquery(renders.order_by("-version").values("version")[:1]),
            frameio_link=Subquery(links.order_by("-render__version", "-id").values("view_url")[:1]),
            note_text=Subquery(notes.values("text")[:1]),
            note_author=Subquery(notes.values("author")[:1]),
            note_version=Subquery(notes.values("version")[:1]),
        )
        .values_list(
            "shot_number", "status", "latest_version", "frameio_link", "note_text", "note_author", "note_version"
        )
    )
    cells = {}
    for number, status, version, link, text, author, note_version in shots:
        cells[number] = {
            "status": Status(status).label,
            "stage": STAGE_OF[Status(status)].label,
            "version": version if version is not None else "",
            "frameio": link or "",
            "last_note": note_cell(text, author, note_version),
        }
    return cells


def note_cell(text: str | None, author: str | None, version: int | None) -> str:
    """'v3 · Alice: Sky too bright' (the parts that are known), at most NOTE_MAX_CHARS."""
    if text is None:
        return ""
    prefix = " · ".join(part for part in (f"v{version}" if version else "", author or "") if part)
    cell = f"{prefix}: {text.strip()}" if prefix else text.strip()
    return cell if len(cell) <= NOTE_MAX_CHARS else cell[: NOTE_MAX_CHARS - 1] + "…"


def plan_push(
    grid: list[list[str]], layout: Layout, values: dict[str, dict[str, Cell]], *, worksheet: str
) -> tuple[list[ValueRange], int]:
    """The ranges to write and how many cells change. A row gets its shot's values (the first row of
    a shot number, if twice); any other row under the header gets empty postflow cells."""
    changed: dict[str, dict[int, Cell]] = {name: {} for name in layout.pushed}
    seen: set[str] = set()
    for i in range(layout.header_row, len(grid)):
        row = grid[i]
        number = _cell(row, layout.number_column).strip()
        wanted = values.get(number) if number not in seen else None
        seen.add(number)
        for name, col in layout.pushed.items():
            value = wanted[name] if wanted else ""
            if _text(value) != _cell(row, col):
                changed[name][i + 1] = value
    ranges = []
    for name, col in layout.pushed.items():
        rows = changed[name]
        if not rows:
            continue
        first, last = min(rows), max(rows)
        a1 = rowcol_to_a1(first, col + 1) + (f":{rowcol_to_a1(last, col + 1)}" if last > first else "")
        ranges.append(ValueRange(absolute_range_name(worksheet, a1), [rows.get(r) for r in range(first, last + 1)]))
    return ranges, sum(len(rows) for rows in changed.values())


def _text(value: Cell) -> str:
    """How Sheets shows a value written RAW (formatted value, Automatic format)."""
    return "" if value is None else str(value)


# --- the whole sync -------------------------------------------------------------------------------


def sync_sheet(
    *,
    project_code: str,
    dry_run: bool = False,
    config: SheetsConfig | None = None,
    client: SheetsClient | None = None,
) -> SyncReport:
    """Read the worksheet, pull the producers' edits, push postflow's columns. Raises
    SheetsNotConfigured when off, SheetsError when Google fails, SheetError when the sheet's headers
    cannot be read. dry_run: the same reads and plan, no database write, no Sheets write."""
    config = config or sheets_config()
    client = client or sheets_client(config)
    spreadsheet = client.spreadsheet()
    worksheet = spreadsheet.worksheet(config.worksheet)
    grid = client.read(worksheet.title)
    layout = read_layout(grid, label=f"{spreadsheet.title}/{worksheet.title}", overrides=config.columns)
    source = f"google-sheet:{config.spreadsheet_id}/{worksheet.title}"

    plan, pulled = pull(
        sheet=layout.sheet, project_code=project_code, rate=project_rate(project_code), dry_run=dry_run, source=source
    )
    project = Project.objects.filter(code=project_code).first()
    values = shot_cells(project)
    ranges, cells = plan_push(grid, layout, values, worksheet=worksheet.title)
    pushed = bool(ranges) and not dry_run
    if pushed:
        client.write(ranges)

    listed = {row.cells.get("shot_number", "") for row in layout.sheet.rows}
    live = Shot.objects.filter(project=project, omitted=False).values_list("shot_number", flat=True)
    report = SyncReport(
        spreadsheet_id=config.spreadsheet_id,
        spreadsheet=spreadsheet.title,
        worksheet=worksheet.title,
        header_row=layout.header_row,
        rows=len(layout.sheet.rows),
        columns=layout.sheet.mapping,
        pushed_columns={name: layout.sheet.headers[col] for name, col in layout.pushed.items()},
        missing_pushed_columns=[name for name in PUSHED_FIELDS if name not in layout.pushed],
        ignored_columns=layout.sheet.ignored_headers,
        unlisted_fields=list(unlisted_fields(layout.sheet)),
        created=len(plan.create),
        updated=len(plan.update),
        unchanged=len(plan.unchanged),
        restored=len(plan.restore),
        invalid=[{"row": p.line, "column": p.column, "value": p.value, "reason": p.reason} for p in plan.invalid],
        changes={
            "created": [row.shot_number for row in plan.create],
            "updated": [{"shot_number": row.shot_number, "fields": changes} for _id, row, changes in plan.update],
        },
        pull_applied=pulled,
        push_ranges=[value_range.range for value_range in ranges],
        push_cells=cells,
        push_applied=pushed,
        shots_not_in_sheet=sorted(number for number in (live if project else []) if number not in listed),
        dry_run=dry_run,
    )
    logger.info(
        "sheets sync %s/%s: %d created, %d updated, %d invalid, %d cell(s) pushed%s",
        spreadsheet.title,
        worksheet.title,
        report.created,
        report.updated,
        len(report.invalid),
        cells if pushed else 0,
        " (dry run)" if dry_run else "",
    )
    return report


def format_report(report: SyncReport) -> list[str]:
    """The human report of `sheets_sync`."""
    lines = [
        f"{report.spreadsheet!r} / {report.worksheet!r}: {report.rows} rows under the header (row {report.header_row})",
        "Producer columns (the sheet wins): " + ", ".join(f"{h} → {n}" for n, h in report.columns.items()),
        "postflow columns (postflow wins): "
        + (", ".join(f"{h} → {n}" for n, h in report.pushed_columns.items()) or "none"),
    ]
    if report.missing_pushed_columns:
        examples = ", ".join(f"{PUSHED_ALIASES[n][0].upper()}" for n in report.missing_pushed_columns)
        lines.append(f"  no column for {', '.join(report.missing_pushed_columns)} (add a header such as {examples})")
    if report.unlisted_fields:
        lines.append(f"  no column for {', '.join(report.unlisted_fields)}: postflow's values are kept")
    if report.ignored_columns:
        lines.append("Ignored columns: " + ", ".join(report.ignored_columns))
    lines.append(
        f"Pull: {report.created} to create, {report.updated} to update ({report.restored} back in the list), "
        f"{report.unchanged} unchanged; rows missing from the sheet are never flagged omitted"
    )
    created = report.changes["created"]
    if created:
        more = f" … and {len(created) - LISTED} more" if len(created) > LISTED else ""
        lines.append(f"  create: {', '.join(created[:LISTED])}{more}")
    for item in report.changes["updated"][:LISTED]:
        fields = "; ".join(f"{name} {old!r} → {new!r}" for name, (old, new) in item["fields"].items())
        lines.append(f"  update: {item['shot_number']}: {fields or 'back in the list'}")
    if report.invalid:
        lines.append(f"Invalid: {len(report.invalid)} problem(s); those rows were not applied")
        lines += [
            f"  row {p['row']}, column {p['column']!r}, value {p['value']!r}: {p['reason']}"
            for p in report.invalid[:LISTED]
        ]
    lines.append(
        f"Push: {report.push_cells} cell(s) in {len(report.push_ranges)} range(s)"
        + (f": {', '.join(report.push_ranges)}" if report.push_ranges else "")
    )
    if report.shots_not_in_sheet:
        numbers = report.shots_not_in_sheet
        more = f" … and {len(numbers) - LISTED} more" if len(numbers) > LISTED else ""
        lines.append(f"Shots with no row in the sheet (postflow adds none): {', '.join(numbers[:LISTED])}{more}")
    if report.dry_run:
        lines.append("Dry run: nothing was written (the push is computed against the database as it is now).")
    elif report.pull_applied or report.push_applied:
        lines.append("Applied." + (" Invalid rows were left out." if report.invalid else ""))
    else:
        lines.append("Nothing to change.")
    return lines
