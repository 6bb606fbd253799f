"""Shot-list exports, shared by `manage.py export_shots` and the admin actions.

Each format is a pure function from a project and a queryset of its shots to file contents
(bytes); writing them (stdout, a directory, an HTTP download) is the caller's business.
Rows follow the cut: ordered by record in (shots not placed in the cut last), then shot number.

Rules the formats share:

- Timecodes are HH:MM:SS:FF at the project rate; a missing value is `null` in JSON, empty in CSV.
- IS_DUPLICATE / `is_duplicate`: the shot's source file is also used by another shot of the
  project that is still in the cut (not omitted). An omitted shot does not make a live shot a
  duplicate: it is no longer cut from that source.
- READY_FOR_EDIT: TRUE when the shot's status is `review_approved` or `final_delivery`, i.e. the
  review has approved the shot and the editor can conform it; every earlier status, including
  `revision_requested`, is FALSE.
- CSV files are UTF-8 *with* a byte order mark, comma-separated, CRLF line ends (RFC 4180).
  Excel, notably in French locale, reads UTF-8 without a BOM as cp1252 and mangles accented
  scene names; Google Sheets, LibreOffice and Python's `utf-8-sig` all accept the BOM. Every
  cell goes through `postflow.lib.csv_safe`, so a note such as `=HYPERLINK(...)` stays text.
- JSON files are UTF-8 without a BOM, indented, keys in a fixed order, ending with a newline.
- Nothing is time-dependent except the shots' and events' own timestamps, so the same data
  always gives the same bytes.
"""

import io
import json
import os
import re
import secrets
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils.text import slugify

from postflow.lib.csv_safe import Cell, render_csv
from shots.models import Project, Scene, Shot, ShotEvent
from shots.selectors import CUT_ORDER, with_shares_source
from shots.workflow import Status

READY_FOR_EDIT_STATUSES: frozenset[str] = frozenset({Status.REVIEW_APPROVED, Status.FINAL_DELIVERY})
TIMECODE_FIELDS: tuple[str, ...] = ("source_in", "source_out", "timeline_in", "timeline_out", "duration")

PRODUCTION_CSV_HEADER: tuple[str, ...] = (
    "NOMENCLATURE",
    "SHOT_NUMBER",
    "SCENE",
    "TIMELINE_IN",
    "TIMELINE_OUT",
    "DURATION",
    "SOURCE_FILE",
    "IS_DUPLICATE",
    "READY_FOR_EDIT",
)
# The importer's canonical headers come first, so a flat export can be read back by import_shots.
FLAT_CSV_HEADER: tuple[str, ...] = (
    "SHOT_NUMBER",
    "NOMENCLATURE",
    "SCENE",
    "SOURCE_FILE",
    "SOURCE_IN",
    "SOURCE_OUT",
    "TIMELINE_IN",
    "TIMELINE_OUT",
    "DURATION",
    "NOTES",
    "PROJECT",
    "SCENE_NUMBER",
    "STATUS",
    "STAGE",
    "OMITTED",
    "IS_DUPLICATE",
    "CREATED_AT",
    "UPDATED_AT",
)

_CSV_TYPE = "text/csv; charset=utf-8"
_JSON_TYPE = "application/json"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ExportFormat(StrEnum):
    AE_JSON = "ae-json"
    PRODUCTION_CSV = "production-csv"
    FLAT_CSV = "flat-csv"
    DETAILED_JSON = "detailed-json"
    SCENE_JSON = "scene-json"

    @property
    def is_multi_file(self) -> bool:
        return self is ExportFormat.SCENE_JSON


@dataclass(frozen=True)
class ExportFile:
    name: str  # a bare file name (no directory part), safe to join to an output directory
    content: bytes
    content_type: str


# --- querysets -------------------------------------------------------------------------


def shots_for_export(project: Project, *, include_omitted: bool = False) -> QuerySet[Shot]:
    shots = Shot.objects.filter(project=project)
    return shots if include_omitted else shots.filter(omitted=False)


def _prepared(project: Project, shots: QuerySet[Shot]) -> QuerySet[Shot]:
    # Shots of another project are dropped, so that a file never mixes two frame rates.
    shots = shots.filter(project=project).select_related("project", "scene", "source_file")
    return with_shares_source(shots).order_by(*CUT_ORDER)


# --- field helpers ---------------------------------------------------------------------


def _tc(shot: Shot, field: str) -> str | None:
    return shot.timecode(field) or None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _bool_cell(value: bool) -> str:
    return "TRUE" if value else "FALSE"


def _is_ready_for_edit(shot: Shot) -> bool:
    return shot.status in READY_FOR_EDIT_STATUSES


def _source_name(shot: Shot) -> str | None:
    return shot.source_file.name if shot.source_file else None


def _project_json(project: Project) -> dict[str, Any]:
    return {"code": project.code, "name": project.name, "fps": project.fps}


def _scene_json(scene: Scene) -> dict[str, Any]:
    return {"number": scene.number, "name": scene.name}


def _dump_json(data: Any) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _encode_csv(text: str) -> bytes:
    return text.encode("utf-8-sig")


# --- formats ---------------------------------------------------------------------------


def _ae_shot(shot: Shot) -> dict[str, Any]:
    return {
        "nomenclature": shot.nomenclature,
        "shot_number": shot.shot_number,
        "scene": shot.scene.name,
        "source_file": _source_name(shot),
        "timeline_in": _tc(shot, "timeline_in"),
        "timeline_out": _tc(shot, "timeline_out"),
        "duration": _tc(shot, "duration"),
    }


def ae_json(project: Project, shots: QuerySet[Shot]) -> bytes:
    """After Effects JSON: {"project": {code, name, fps}, "shots": [...]}."""
    return _dump_json({"project": _project_json(project), "shots": [_ae_shot(s) for s in _prepared(project, shots)]})


def _production_row(shot: Shot) -> list[Cell]:
    return [
        shot.nomenclature,
        shot.shot_number,
        shot.scene.name,
        shot.timecode("timeline_in"),
        shot.timecode("timeline_out"),
        shot.timecode("duration"),
        _source_name(shot) or "",
        _bool_cell(shot.shares_source),
        _bool_cell(_is_ready_for_edit(shot)),
    ]


def production_csv(project: Project, shots: QuerySet[Shot]) -> bytes:
    rows = (_production_row(shot) for shot in _prepared(project, shots))
    return _encode_csv(render_csv(PRODUCTION_CSV_HEADER, rows))


def _flat_row(shot: Shot) -> list[Cell]:
    return [
        shot.shot_number,
        shot.nomenclature,
        shot.scene.name,
        _source_name(shot) or "",
        *(shot.timecode(field) for field in TIMECODE_FIELDS),
        shot.notes,
        shot.project.code,
        shot.scene.number,
        shot.status,
        shot.stage.value,
        _bool_cell(shot.omitted),
        _bool_cell(shot.shares_source),
        _iso(shot.created_at),
        _iso(shot.updated_at),
    ]


def flat_csv(project: Project, shots: QuerySet[Shot]) -> bytes:
    """Every field of every shot, one row each."""
    rows = (_flat_row(shot) for shot in _prepared(project, shots))
    return _encode_csv(render_csv(FLAT_CSV_HEADER, rows))


def _event_json(event: ShotEvent) -> dict[str, Any]:
    return {
        "at": _iso(event.created_at),
        "kind": event.kind,
        "from_status": event.from_status or None,
        "to_status": event.to_status or None,
        "actor": event.actor,
        "reason": event.reason,
        "details": event.details,
    }


def _detailed_shot(shot: Shot) -> dict[str, Any]:
    return {
        "shot_number": shot.shot_number,
        "nomenclature": shot.nomenclature,
        "scene": _scene_json(shot.scene),
        "source_file": {"name": shot.source_file.name} if shot.source_file else None,
        **{field: _tc(shot, field) for field in TIMECODE_FIELDS},
        "frames": {field: getattr(shot, field) for field in TIMECODE_FIELDS},
        "notes": shot.notes,
        "status": shot.status,
        "stage": shot.stage.value,
        "omitted": shot.omitted,
        "is_duplicate": shot.shares_source,
        "ready_for_edit": _is_ready_for_edit(shot),
        "created_at": _iso(shot.created_at),
        "updated_at": _iso(shot.updated_at),
        "events": [_event_json(event) for event in shot.events.all()],
    }


def detailed_json(project: Project, shots: QuerySet[Shot]) -> bytes:
    """Every field of every shot, its scene, source, duplicate flag and event history (oldest first)."""
    history = Prefetch("events", queryset=ShotEvent.objects.order_by("created_at", "id"))
    shots = _prepared(project, shots).prefetch_related(history)
    return _dump_json({"project": _project_json(project), "shots": [_detailed_shot(s) for s in shots]})


def stale_scene_files(out_dir: Path, written: list[Path]) -> list[Path]:
    """Scene files in `out_dir` that this export did not write: left by an older one (a scene renamed
    or gone). Reported, never deleted: the folder is the user's."""
    current = {path.name for path in written}
    return sorted(
        path for path in out_dir.glob("scene_*.json") if _SCENE_FILE.match(path.name) and path.name not in current
    )


_SCENE_FILE = re.compile(r"^scene_\d{3}_[a-z0-9][a-z0-9_-]*\.json$")


def scene_file_name(scene: Scene) -> str:
    """`scene_007_reveil-hopital-jour.json`: built from the number and a slug, never a path from data."""
    slug = slugify(scene.name)[:60].strip("-_") or "scene"
    return f"scene_{scene.number:03d}_{slug}.json"


def scene_json(project: Project, shots: QuerySet[Shot]) -> list[ExportFile]:
    """One file per scene that has shots in `shots`, in scene order."""
    by_scene: dict[int, tuple[Scene, list[dict[str, Any]]]] = {}
    for shot in _prepared(project, shots):
        by_scene.setdefault(shot.scene_id, (shot.scene, []))[1].append(_ae_shot(shot))
    files = []
    for scene, scene_shots in sorted(by_scene.values(), key=lambda item: item[0].number):
        data = {"project": _project_json(project), "scene": _scene_json(scene), "shots": scene_shots}
        files.append(ExportFile(name=scene_file_name(scene), content=_dump_json(data), content_type=_JSON_TYPE))
    return files


# --- one entry point -------------------------------------------------------------------

_SINGLE_FILE: dict[ExportFormat, tuple[Callable[[Project, QuerySet[Shot]], bytes], str, str]] = {
    ExportFormat.AE_JSON: (ae_json, "after_effects.json", _JSON_TYPE),
    ExportFormat.PRODUCTION_CSV: (production_csv, "production.csv", _CSV_TYPE),
    ExportFormat.FLAT_CSV: (flat_csv, "shots_flat.csv", _CSV_TYPE),
    ExportFormat.DETAILED_JSON: (detailed_json, "shots_detailed.json", _JSON_TYPE),
}


def safe_code(project: Project) -> str:
    """The project code reduced to characters that are safe in a file name."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", project.code).strip("_") or "project"


def export_shots(project: Project, shots: QuerySet[Shot], fmt: ExportFormat) -> list[ExportFile]:
    """The files of one export: one for every format but scene-json, one per scene for it."""
    if fmt.is_multi_file:
        return scene_json(project, shots)
    render, suffix, content_type = _SINGLE_FILE[fmt]
    name = f"{safe_code(project)}_{suffix}"
    return [ExportFile(name=name, content=render(project, shots), content_type=content_type)]


# --- writing ---------------------------------------------------------------------------


def write_atomic(path: Path, content: bytes) -> None:
    """Write through a temporary file in the same directory and rename it over `path`.

    A reader (an AE script, a sync client) sees the old file or the new one, never half of it.
    The file is created with mode 0666 minus the umask, like any other file the user writes.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_files(files: Iterable[ExportFile], out_dir: Path) -> list[Path]:
    """Write each file atomically into `out_dir`; refuse any name that is not a bare, safe file name."""
    written = []
    for export in files:
        if not _SAFE_NAME.match(export.name):
            raise ValueError(f"unsafe export file name {export.name!r}")
        path = out_dir / export.name
        write_atomic(path, export.content)
        written.append(path)
    return written


def zip_archive(files: Iterable[ExportFile]) -> bytes:
    """The files in one zip (for a browser download); fixed member dates keep it reproducible."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for export in files:
            member = zipfile.ZipInfo(export.name, date_time=(1980, 1, 1, 0, 0, 0))
            member.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(member, export.content)
    return buffer.getvalue()
