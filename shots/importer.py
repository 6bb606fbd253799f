"""Shot-list import: sheet rows -> validated ShotRows -> a plan against the database -> apply.

The plan is computed in full before anything is written, so `--dry-run` shows exactly what
an import would do, and an import with invalid rows writes nothing unless asked to skip them.
Every cell is bounded before it is looked at: no longer than its column holds (FIELD_MAX_LENGTH),
no control characters, so a value the database would refuse is a report line, not a failed write.
"""

import hashlib
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from postflow import realtime
from postflow.lib.text import control_problem, excerpt
from postflow.lib.timecode import frames_to_timecode, timecode_to_frames
from shots.edl import ConformShot, EdlEvent, Mismatch, conform
from shots.models import Project, Scene, Shot, ShotEvent, SourceFile
from shots.sheet import CANONICAL_FIELDS, Sheet, SheetRow

# Fields compared on re-import, in report order: all but the identity. Timecodes are frame counts.
COMPARED_FIELDS = tuple(name for name in CANONICAL_FIELDS if name != "shot_number")
TIMECODE_FIELDS = ("source_in", "source_out", "timeline_in", "timeline_out", "duration")
BULK_BATCH = 500
TIMECODE_LENGTH = len("HH:MM:SS:FF")  # a duration written as a frame count is no longer either
NOTES_MAX_LENGTH = 10_000  # notes are a TextField, unbounded in the database: a page of text is plenty
# Derived from the columns, so the check and the database never disagree.
FIELD_MAX_LENGTH: dict[str, int] = {
    "shot_number": Shot._meta.get_field("shot_number").max_length,
    "nomenclature": Shot._meta.get_field("nomenclature").max_length,
    "scene": Scene._meta.get_field("name").max_length,
    "source_file": SourceFile._meta.get_field("name").max_length,
    "notes": NOTES_MAX_LENGTH,
    **dict.fromkeys(TIMECODE_FIELDS, TIMECODE_LENGTH),
}
MULTILINE_FIELDS = ("notes",)  # may hold line breaks and tabs


@dataclass(frozen=True)
class Problem:
    line: int
    column: str  # the header as written in the sheet
    value: str
    reason: str


@dataclass(frozen=True)
class ShotRow:
    line: int
    shot_number: str
    nomenclature: str
    scene: str
    source_file: str
    source_in: int | None
    source_out: int | None
    timeline_in: int | None
    timeline_out: int | None
    duration: int | None
    notes: str

    def values(self) -> dict:
        return {name: getattr(self, name) for name in COMPARED_FIELDS}


@dataclass
class Plan:
    rows: list[ShotRow]
    invalid: list[Problem]
    create: list[ShotRow] = field(default_factory=list)
    update: list[tuple[int, ShotRow, dict]] = field(default_factory=list)  # (shot id, row, {field: (old, new)})
    unchanged: list[ShotRow] = field(default_factory=list)
    omit: list[tuple[int, str]] = field(default_factory=list)  # (shot id, shot number)
    restore: set[int] = field(default_factory=set)  # shot ids back in the list after being omitted


@dataclass
class ImportReport:
    file: str
    encoding: str
    delimiter: str
    columns: dict[str, str]
    ignored_columns: list[str]
    fps: float
    rows: int
    created: int
    updated: int
    unchanged: int
    omitted: int
    invalid: list[dict]
    shots: int
    scenes: int
    unique_sources: int
    shots_sharing_source: int
    missing_nomenclature: int
    missing_nomenclature_lines: list[int]
    conform: list[dict] | None
    edl_events: int | None
    applied: bool
    changes: dict

    def as_dict(self) -> dict:
        return asdict(self)


# --- rows ------------------------------------------------------------------------------


def parse_rows(
    sheet: Sheet, *, rate: float, nomenclature_regex: str | None = None
) -> tuple[list[ShotRow], list[Problem]]:
    """Validate every row. A row with any problem is left out of the returned rows."""
    pattern = re.compile(nomenclature_regex or settings.POSTFLOW_NOMENCLATURE_REGEX)
    rows: list[ShotRow] = []
    problems: list[Problem] = []
    first_line_of_number: dict[str, int] = {}
    first_owner_of_nomenclature: dict[str, tuple[str, int]] = {}
    for sheet_row in sheet.rows:
        row_problems: list[Problem] = []

        def problem(name: str, reason: str, _row: SheetRow = sheet_row, _acc: list = row_problems) -> None:
            _acc.append(Problem(_row.line, sheet.header_of(name), excerpt(_row.cells.get(name, "")), reason))

        cells = sheet_row.cells
        unusable = _check_text(cells, problem)
        for name in ("shot_number", "scene"):
            if not cells.get(name):
                problem(name, f"{name} is required")
        number = cells.get("shot_number", "")
        if number in first_line_of_number:
            problem("shot_number", f"shot number {number} is already on line {first_line_of_number[number]}")
        elif number and "shot_number" not in unusable:
            first_line_of_number[number] = sheet_row.line

        nomenclature = cells.get("nomenclature", "") if "nomenclature" not in unusable else ""
        if nomenclature and not pattern.match(nomenclature):
            problem(
                "nomenclature",
                f"does not match the naming rule {pattern.pattern} (POSTFLOW_NOMENCLATURE_REGEX)",
            )
        elif nomenclature:
            owner = first_owner_of_nomenclature.setdefault(nomenclature, (number, sheet_row.line))
            if owner[0] != number:
                problem("nomenclature", f"already used by shot {owner[0]} on line {owner[1]}")

        usable = {name: "" if name in unusable else cells.get(name, "") for name in TIMECODE_FIELDS}
        frames = {name: _frames(usable[name], rate, name, problem) for name in TIMECODE_FIELDS}
        _check_ranges(frames, problem)
        if not row_problems:
            rows.append(_shot_row(sheet_row, frames))
        problems.extend(row_problems)
    return rows, problems


def _check_text(cells: dict[str, str], problem) -> set[str]:
    """Report each cell over its column's bound or holding a control character, and return their
    fields: nothing else is checked of such a value (a 5,000-character shot number is not also
    'already on line 2')."""
    unusable = set()
    for name, text in cells.items():
        limit = FIELD_MAX_LENGTH[name]
        if len(text) > limit:
            problem(name, f"is {len(text):,} characters long; at most {limit:,} fit")
        elif reason := control_problem(text, multiline=name in MULTILINE_FIELDS):
            problem(name, f"has {reason}")
        else:
            continue
        unusable.add(name)
    return unusable


def _frames(text: str, rate: float, name: str, problem) -> int | None:
    if not text:
        return None
    if name == "duration" and text.isascii() and text.isdigit():  # a duration may be written as a frame count
        # As long as a timecode can say at most; that also keeps the count in an IntegerField.
        if int(text) >= _frames_in_a_day(rate):
            problem(name, f"is {int(text):,} frames, more than 24 hours at the project rate")
            return None
        return int(text)
    try:
        return timecode_to_frames(text, rate)
    except ValueError as exc:
        problem(name, f"bad timecode: {exc}")
        return None


def _frames_in_a_day(rate: float) -> int:
    return 24 * 3600 * round(rate)


def _check_ranges(frames: dict[str, int | None], problem) -> None:
    """Out after in, and the duration equal to the record range (else the source range)."""
    complete = {}
    for start, end in (("timeline_in", "timeline_out"), ("source_in", "source_out")):
        if frames[start] is not None and frames[end] is not None:
            complete[(start, end)] = frames[end] - frames[start]
            if frames[end] <= frames[start]:
                problem(end, f"{end} is not after {start}")
    duration = frames["duration"]
    if duration is None or not complete:
        return
    (start, end), expected = next(iter(complete.items()))
    if expected > 0 and duration != expected:
        problem("duration", f"is {duration} frames but {end} - {start} is {expected} frames")


def _shot_row(sheet_row: SheetRow, frames: dict[str, int | None]) -> ShotRow:
    cells = sheet_row.cells
    duration = frames["duration"]
    if duration is None and frames["timeline_in"] is not None and frames["timeline_out"] is not None:
        duration = frames["timeline_out"] - frames["timeline_in"]
    return ShotRow(
        line=sheet_row.line,
        shot_number=cells["shot_number"],
        nomenclature=cells.get("nomenclature", ""),
        scene=cells["scene"],
        source_file=cells.get("source_file", ""),
        source_in=frames["source_in"],
        source_out=frames["source_out"],
        timeline_in=frames["timeline_in"],
        timeline_out=frames["timeline_out"],
        duration=duration,
        notes=cells.get("notes", ""),
    )


# --- plan ------------------------------------------------------------------------------


def _existing_shots(project: Project | None) -> dict[str, dict]:
    """shot number -> the shot's compared fields, with scene and source file by name."""
    if project is None:
        return {}
    plain_fields = [name for name in COMPARED_FIELDS if name not in ("scene", "source_file")]
    rows = Shot.objects.filter(project=project).values(
        "id", "shot_number", "omitted", "scene__name", "source_file__name", *plain_fields
    )
    existing = {}
    for row in rows:
        row["scene"] = row.pop("scene__name")
        row["source_file"] = row.pop("source_file__name") or ""
        existing[row["shot_number"]] = row
    return existing


def make_plan(
    *, project: Project | None, rows: list[ShotRow], invalid: list[Problem], sheet: Sheet, rate: float
) -> Plan:
    """Compare valid rows with the project's shots. Rows that would break the database's
    rules (a nomenclature held by a shot that leaves the list) become invalid here."""
    existing = _existing_shots(project)
    listed_numbers = {row.cells.get("shot_number", "") for row in sheet.rows}
    plan = Plan(rows=[], invalid=list(invalid))
    kept_nomenclatures = {
        shot["nomenclature"]: number for number, shot in existing.items() if number not in listed_numbers
    }
    for row in rows:
        holder = kept_nomenclatures.get(row.nomenclature) if row.nomenclature else None
        if holder is not None:
            plan.invalid.append(
                Problem(
                    row.line,
                    sheet.header_of("nomenclature"),
                    row.nomenclature,
                    f"held by shot {holder}, which is no longer in the sheet; clear it on that shot in the admin first",
                )
            )
            continue
        plan.rows.append(row)
        shot = existing.get(row.shot_number)
        if shot is None:
            plan.create.append(row)
            continue
        changes = {
            name: (_show(name, shot[name], rate), _show(name, new, rate))
            for name, new in row.values().items()
            if shot[name] != new
        }
        if shot["omitted"]:
            plan.restore.add(shot["id"])
        if changes or shot["omitted"]:
            plan.update.append((shot["id"], row, changes))
        else:
            plan.unchanged.append(row)
    plan.omit = [
        (shot["id"], number)
        for number, shot in existing.items()
        if number not in listed_numbers and not shot["omitted"]
    ]
    plan.invalid.sort(key=lambda problem: problem.line)
    return plan


def _show(name: str, value, rate: float):
    if name in TIMECODE_FIELDS and value is not None:
        return frames_to_timecode(value, rate)
    return value


# --- apply -----------------------------------------------------------------------------


@transaction.atomic
def apply_plan(*, plan: Plan, project: Project, actor: str, source: str) -> None:
    """Write the plan: bulk creates and updates, one ShotEvent per shot touched."""
    scenes = _ensure_scenes(project, [row.scene for row in plan.rows])
    sources = _ensure_sources(project, {row.source_file for row in plan.rows if row.source_file})
    now = timezone.now()
    details = {"source": source}
    events: list[ShotEvent] = []
    # Nomenclatures are unique per project: clear the ones that change first, so that two shots
    # swapping names, or a new shot taking a renamed shot's name, never collide half-way.
    renamed = [shot_id for shot_id, _row, changes in plan.update if "nomenclature" in changes]
    for start in range(0, len(renamed), BULK_BATCH):
        Shot.objects.filter(pk__in=renamed[start : start + BULK_BATCH]).update(nomenclature="")

    created = Shot.objects.bulk_create(
        [Shot(project=project, **_fields(row, scenes, sources)) for row in plan.create], batch_size=BULK_BATCH
    )
    if created and created[0].pk is None:  # backends without RETURNING: fetch the ids
        ids = dict(
            Shot.objects.filter(project=project, shot_number__in=[r.shot_number for r in plan.create]).values_list(
                "shot_number", "id"
            )
        )
        for shot in created:
            shot.pk = ids[shot.shot_number]
    events += [ShotEvent(shot=shot, kind=ShotEvent.Kind.CREATED, actor=actor, details=details) for shot in created]

    _update_shots(plan, scenes, sources, now)
    for shot_id, _row, changes in plan.update:
        if changes:
            events.append(
                ShotEvent(
                    shot_id=shot_id, kind=ShotEvent.Kind.UPDATED, actor=actor, details={**details, "changes": changes}
                )
            )
        if shot_id in plan.restore:
            events.append(ShotEvent(shot_id=shot_id, kind=ShotEvent.Kind.RESTORED, actor=actor, details=details))

    omit_ids = [shot_id for shot_id, _ in plan.omit]
    for start in range(0, len(omit_ids), BULK_BATCH):
        Shot.objects.filter(pk__in=omit_ids[start : start + BULK_BATCH]).update(omitted=True, updated_at=now)
    events += [
        ShotEvent(shot_id=shot_id, kind=ShotEvent.Kind.OMITTED, actor=actor, details=details) for shot_id in omit_ids
    ]
    ShotEvent.objects.bulk_create(events, batch_size=BULK_BATCH)
    _publish_import(project, actor, Counter(event.kind for event in events))


def _publish_import(project: Project, actor: str, kinds: Counter) -> None:
    """One live event for the whole import (not one per shot): open dashboards offer a reload."""
    if not kinds:
        return
    counts = {kind: kinds[kind] for kind in ("created", "updated", "omitted", "restored")}
    realtime.publish("shots.imported", {"project_id": project.pk, "project": project.code, "actor": actor, **counts})


def _update_shots(plan: Plan, scenes: dict[str, Scene], sources: dict[str, SourceFile], now) -> None:
    if not plan.update:
        return
    shots = [
        Shot(pk=shot_id, omitted=False, updated_at=now, **_fields(row, scenes, sources))
        for shot_id, row, _ in plan.update
    ]
    update_fields = [*COMPARED_FIELDS, "omitted", "updated_at"]
    Shot.objects.bulk_update(shots, update_fields, batch_size=BULK_BATCH)


def _fields(row: ShotRow, scenes: dict[str, Scene], sources: dict[str, SourceFile]) -> dict:
    values = row.values()
    values["scene"] = scenes[row.scene]
    values["source_file"] = sources.get(row.source_file)
    values["shot_number"] = row.shot_number
    return values


def _ensure_scenes(project: Project, names_in_order: list[str]) -> dict[str, Scene]:
    scenes = {scene.name: scene for scene in Scene.objects.filter(project=project)}
    number = max((scene.number for scene in scenes.values()), default=0)
    new = []
    for name in dict.fromkeys(names_in_order):  # first appearance order
        if name not in scenes:
            number += 1
            scenes[name] = Scene(project=project, name=name, number=number)
            new.append(scenes[name])
    Scene.objects.bulk_create(new)
    if new and new[0].pk is None:
        scenes = {scene.name: scene for scene in Scene.objects.filter(project=project)}
    return scenes


def _ensure_sources(project: Project, names: set[str]) -> dict[str, SourceFile]:
    sources = {source.name: source for source in SourceFile.objects.filter(project=project)}
    missing = sorted(names - sources.keys())
    SourceFile.objects.bulk_create([SourceFile(project=project, name=name) for name in missing], batch_size=BULK_BATCH)
    if missing:
        sources = {source.name: source for source in SourceFile.objects.filter(project=project)}
    return sources


# --- report ----------------------------------------------------------------------------


def sheet_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_report(
    *,
    sheet: Sheet,
    plan: Plan,
    rate: float,
    mismatches: list[Mismatch] | None,
    events: list[EdlEvent] | None,
    applied: bool,
) -> ImportReport:
    source_counts = Counter(row.source_file for row in plan.rows if row.source_file)
    missing = [row.line for row in plan.rows if not row.nomenclature]
    return ImportReport(
        file=str(sheet.path),
        encoding=sheet.encoding,
        delimiter={"\t": "tab"}.get(sheet.delimiter, sheet.delimiter),
        columns=sheet.mapping,
        ignored_columns=sheet.ignored_headers,
        fps=rate,
        rows=len(sheet.rows),
        created=len(plan.create),
        updated=len(plan.update),
        unchanged=len(plan.unchanged),
        omitted=len(plan.omit),
        invalid=[asdict(problem) for problem in plan.invalid],
        shots=len(plan.rows),
        scenes=len({row.scene for row in plan.rows}),
        unique_sources=len(source_counts),
        shots_sharing_source=sum(count for count in source_counts.values() if count > 1),
        missing_nomenclature=len(missing),
        missing_nomenclature_lines=missing,
        conform=None if mismatches is None else [mismatch.as_dict() for mismatch in mismatches],
        edl_events=None if events is None else len(events),
        applied=applied,
        changes={
            "created": [row.shot_number for row in plan.create],
            "updated": [{"shot_number": row.shot_number, "fields": changes} for _id, row, changes in plan.update],
            "omitted": [number for _id, number in plan.omit],
        },
    )


def conform_rows(rows: list[ShotRow], events: list[EdlEvent], rate: float) -> list[Mismatch]:
    shots = [
        ConformShot(row.shot_number, row.nomenclature, row.source_file, row.timeline_in, row.timeline_out)
        for row in rows
    ]
    return conform(shots, events, rate)


# --- the whole import --------------------------------------------------------------------


class ImportRefused(Exception):
    """Invalid rows and no --skip-invalid: nothing was written. Carries the report."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        super().__init__(
            f"{len(report.invalid)} problem(s) in the sheet; nothing was written "
            "(fix the rows, or pass --skip-invalid to import the valid ones)"
        )


def import_shot_list(
    *,
    sheet: Sheet,
    project_code: str,
    project_name: str,
    rate: float,
    events: list[EdlEvent] | None = None,
    dry_run: bool = False,
    skip_invalid: bool = False,
    actor: str = "import",
) -> ImportReport:
    """Validate, plan and (unless dry_run) apply a shot list. Raises ImportRefused, having
    written nothing, when rows are invalid and skip_invalid is False."""
    rows, problems = parse_rows(sheet, rate=rate)
    with transaction.atomic():
        # Planned under the project's row lock: a concurrent import or sheet sync plans only once
        # this one has committed, never on the data this one is about to change.
        project = Project.objects.select_for_update().filter(code=project_code).first()
        plan = make_plan(project=project, rows=rows, invalid=problems, sheet=sheet, rate=rate)
        apply = not dry_run and (skip_invalid or not plan.invalid)
        if apply:
            if project is None:
                project = Project.objects.create(code=project_code, name=project_name, fps=rate)
            apply_plan(
                plan=plan,
                project=project,
                actor=actor,
                source=f"{sheet.path.name} sha256:{sheet_digest(sheet.path)[:16]}",
            )
    mismatches = None if events is None else conform_rows(plan.rows, events, rate)
    report = build_report(sheet=sheet, plan=plan, rate=rate, mismatches=mismatches, events=events, applied=apply)
    if plan.invalid and not skip_invalid and not dry_run:
        raise ImportRefused(report)
    return report
