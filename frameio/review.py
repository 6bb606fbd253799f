"""Review comes back from Frame.io: comments become notes placed in the cut, the Status field moves the shot.

Two ways in, one way through. The webhook job handles one resource right away; the reconciliation
(every few minutes) polls the files of the shots in review, oldest-polled first. Both read Frame.io's
current state and end in the same functions, which write only what changed. So duplicates, events
out of order, and a webhook that never came all end in the same state.

Where a comment lands:

- `frame` is Frame.io's timestamp, a frame number of the render counted from 1 (the docs' migration
  guide; `ms = (frame - 1) / fps * 1000`). The render's timecode is frame - 1 from 00:00:00:00 at the
  render's rate, as Frame.io shows it with `timestamp_as_timecode`.
- The record timecode is the shot's `timeline_in` plus the offset, in project frames. At the project's
  rate the offset is frame - 1. A render at another rate is flagged (`fps_mismatch`), and its offset
  goes through time: the project frame on screen when the render's frame starts,
  floor((frame - 1) x project rate / render rate), with exact NTSC rationals (24000/1001, not 23.976).
- A comment without a timestamp is a note on the whole shot, placed at its first frame.

The Status: the "Status" metadata field, found by name. Its option names map to shot statuses
(FRAMEIO_STATUS_MAP). Only a change of the option moves the shot, once. The last option seen is kept
per file (ReviewState, compare-and-set), and only the shot's latest uploaded version decides. The move
goes through `shot_try_transition`: a move the machine forbids is recorded as refused, not forced.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import datetime
from fractions import Fraction

import opentimelineio.opentime as otime
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from frameio import signals as frameio_signals
from frameio.auth import build_client, effective_target
from frameio.client import Comment, Endpoint, FrameioClient, FrameioError
from frameio.models import ReviewNote, ReviewState, Upload
from frameio.uploads.states import upload_mark_ready
from postflow import realtime
from postflow.lib.csv_safe import render_csv
from postflow.lib.timecode import fps_label, frames_to_timecode
from shots.models import Project, Shot
from shots.services import shot_try_transition
from shots.workflow import STAGE_STATUSES, Stage

logger = logging.getLogger(__name__)

# comments.show [frameio-v4.md §5]: the client has no call for one comment; the webhook job needs it.
COMMENT = Endpoint("comments.show", "GET", "/v4/accounts/{account_id}/comments/{comment_id}")
STATUS_FIELD = "status"  # the metadata field's name, compared without case
REVIEW_STATUSES = STAGE_STATUSES[Stage.REVIEW]
SAME_RATE_TOLERANCE = 0.01  # fps; as the render verification (23.976 and 24000/1001 are one rate)


# --- where a comment falls (pure) ---------------------------------------------------------------


def exact_rate(fps: float) -> Fraction:
    """The rational rate behind a float: 23.976 or 23.976024 -> 24000/1001, 25.0 -> 25."""
    return Fraction(otime.RationalTime.nearest_valid_timecode_rate(fps)).limit_denominator(1001)


def same_rate(a: float, b: float) -> bool:
    return abs(a - b) <= SAME_RATE_TOLERANCE


def offset_in_shot(frame: int | None, render_fps: float, project_fps: float) -> int | None:
    """Project frames from the shot's first frame to the render's frame `frame` (counted from 1).

    Frame.io's spec allows a timestamp of 0: it is the first frame too. None without a frame.
    """
    if frame is None:
        return None
    index = max(frame, 1) - 1
    if same_rate(render_fps, project_fps):
        return index
    return math.floor(Fraction(index) * exact_rate(project_fps) / exact_rate(render_fps))


def render_timecode(frame: int | None, render_fps: float) -> str:
    """The render's frame `frame` as a timecode from its start (frame 1 = 00:00:00:00), or ''."""
    if frame is None:
        return ""
    return frames_to_timecode(max(frame, 1) - 1, float(exact_rate(render_fps)))


# --- Frame.io reads -----------------------------------------------------------------------------


def _client(client: FrameioClient | None) -> FrameioClient:
    return client or build_client()


def _account_id() -> str:
    account_id = effective_target().account_id
    if not account_id:
        raise FrameioError(None, False, "Frame.io is not connected (no account chosen)", "review")
    return account_id


def _comment_from(data: dict, *, parent: Comment | None = None) -> Comment:
    owner = data.get("owner") if isinstance(data.get("owner"), dict) else {}
    return Comment(
        id=str(data["id"]),
        file_id=data.get("file_id") or (parent.file_id if parent else None),
        text=data.get("text"),
        # A reply keeps its own timestamp (usually none), as the webhook job, which reads it alone, sees it.
        timestamp=data.get("timestamp"),
        duration=data.get("duration"),
        completed_at=data.get("completed_at"),
        created_at=data.get("created_at"),
        owner_id=owner.get("id"),
        owner_name=owner.get("name") or owner.get("email"),
        raw=data,
    )


def show_comment(client: FrameioClient, *, account_id: str, comment_id: str) -> Comment:
    resp = client.request(COMMENT, params={"include": "owner"}, account_id=account_id, comment_id=comment_id)
    try:
        data = resp.json()["data"]
    except (ValueError, KeyError, TypeError):
        raise FrameioError(resp.status_code, False, "comment answer has no 'data'", COMMENT.op) from None
    return _comment_from(data)


def list_file_comments(client: FrameioClient, *, account_id: str, file_id: str) -> Iterator[Comment]:
    """Every comment of the file, replies included (flattened after the comment they answer)."""
    for comment in client.list_comments(account_id=account_id, file_id=file_id, include=("owner", "replies")):
        parent = _comment_from(comment.raw) if comment.raw else comment
        yield parent
        for reply in comment.raw.get("replies") or []:
            if isinstance(reply, dict) and reply.get("id"):
                yield _comment_from(reply, parent=parent)


def status_option(client: FrameioClient, *, account_id: str, file_id: str) -> str:
    """The display name of the file's "Status" option ('' when unset), the field found by name."""
    for value in client.file_metadata(account_id=account_id, file_id=file_id):
        if (value.field_definition_name or "").strip().lower() != STATUS_FIELD:
            continue
        names = {o.get("id"): o.get("display_name", "") for o in value.raw.get("field_options") or []}
        for item in value.value or []:
            if isinstance(item, dict):
                return str(item.get("display_name") or names.get(item.get("id"), ""))
            if isinstance(item, str):  # an option id only
                return names.get(item, "")
        return ""
    return ""


# --- notes --------------------------------------------------------------------------------------


def _upload_for_file(file_id: str | None) -> Upload | None:
    if not file_id:
        return None
    return (
        Upload.objects.filter(frameio_file_id=file_id, render__shot__isnull=False)
        .select_related("render__shot__project", "render__shot__scene")
        .first()
    )


def _when(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


def _note_fields(upload: Upload, comment: Comment) -> dict:
    render = upload.render
    shot = render.shot
    project_fps = shot.project.fps
    render_fps = float((render.media or {}).get("fps") or project_fps)
    frame = comment.timestamp if isinstance(comment.timestamp, int) and comment.timestamp >= 0 else None
    return {
        "frameio_file_id": comment.file_id or upload.frameio_file_id,
        "shot_id": shot.pk,
        "render_id": render.pk,
        "version": render.version,
        "text": comment.text or "",
        "author": (comment.owner_name or comment.owner_id or "")[:255],
        "author_id": (comment.owner_id or "")[:64],
        "frame": frame,
        "duration_frames": comment.duration if isinstance(comment.duration, int) else None,
        "render_fps": render_fps,
        "offset_frames": offset_in_shot(frame, render_fps, project_fps),
        "fps_mismatch": not same_rate(render_fps, project_fps),
        "commented_at": _when(comment.created_at),
        "edited_at": _when(comment.raw.get("text_edited_at")),
        "completed_at": _when(comment.completed_at),
        "deleted_at": None,
    }


def _change_kind(changed: dict) -> str:
    if "deleted_at" in changed:
        return "restored"
    if "completed_at" in changed and len(changed) == 1:
        return "completed" if changed["completed_at"] else "reopened"
    return "updated"


def note_upsert(*, upload: Upload, comment: Comment) -> tuple[ReviewNote, str]:
    """Create or update the comment's note; returns it and what happened (created, updated,
    completed, reopened, restored, unchanged). Only a change is written and published."""
    fields = _note_fields(upload, comment)
    for _attempt in range(2):  # two first sightings at once: the loser updates the winner's row
        try:
            with transaction.atomic():
                note = ReviewNote.objects.select_for_update().filter(frameio_comment_id=comment.id).first()
                if note is None:
                    note = ReviewNote.objects.create(frameio_comment_id=comment.id, **fields)
                    action = "created"
                else:
                    changed = {k: v for k, v in fields.items() if getattr(note, k) != v}
                    if not changed:
                        return note, "unchanged"
                    action = _change_kind(changed)
                    ReviewNote.objects.filter(pk=note.pk).update(**changed, updated_at=timezone.now())
                    for name, value in changed.items():
                        setattr(note, name, value)
                note.shot = upload.render.shot
                _publish(note, action)
                return note, action
        except IntegrityError:
            continue
    raise IntegrityError(f"comment {comment.id}: its note could not be written")


def note_delete(*, comment_id: str) -> str:
    """The comment is gone from Frame.io: its note stays, marked deleted (once)."""
    with transaction.atomic():
        deleted = ReviewNote.objects.filter(frameio_comment_id=comment_id, deleted_at__isnull=True).update(
            deleted_at=timezone.now(), updated_at=timezone.now()
        )
        if not deleted:
            return f"comment {comment_id}: no open note to delete"
        note = ReviewNote.objects.select_related("shot__project").get(frameio_comment_id=comment_id)
        _publish(note, "deleted")
    return f"note {note.pk} deleted"


def _publish(note: ReviewNote, action: str) -> None:
    shot = note.shot
    realtime.publish(
        "review.note",
        {
            "action": action,
            "note_id": note.pk,
            "comment_id": note.frameio_comment_id,
            "shot_id": shot.pk,
            "shot": str(shot),
            "project_id": shot.project_id,
            "scene_id": shot.scene_id,
            "version": note.version,
            "text": note.text,
            "author": note.author,
            "frame": note.frame,
            "render_timecode": note.render_timecode,
            "record_timecode": note.record_timecode,
            "fps_mismatch": note.fps_mismatch,
            "completed": note.completed,
            "deleted": note.deleted_at is not None,
        },
    )


def comment_sync(*, comment_id: str, deleted: bool = False, client: FrameioClient | None = None) -> str:
    """One comment, as Frame.io has it now (the webhook job's way). Returns what happened."""
    if deleted:
        return note_delete(comment_id=comment_id)
    try:
        comment = show_comment(_client(client), account_id=_account_id(), comment_id=comment_id)
    except FrameioError as exc:
        if exc.status == 404:  # deleted since: the comment.deleted event may come later, or never
            return note_delete(comment_id=comment_id)
        raise
    upload = _upload_for_file(comment.file_id)
    if upload is None:
        return f"comment {comment_id} is on file {comment.file_id}, not a postflow render: ignored"
    note, action = note_upsert(upload=upload, comment=comment)
    return f"note {note.pk} {action}"


# --- Status -------------------------------------------------------------------------------------


def status_map() -> dict[str, str]:
    """FRAMEIO_STATUS_MAP with option names lower-cased: {"approved": "review_approved", ...}."""
    return {name.strip().lower(): status for name, status in settings.FRAMEIO_STATUS_MAP.items()}


def _latest_file_id(shot_id: int) -> str | None:
    return (
        Upload.objects.filter(render__shot_id=shot_id, state__in=Upload.IN_FRAMEIO)
        .exclude(frameio_file_id="")
        .order_by("-render__version", "-pk")
        .values_list("frameio_file_id", flat=True)
        .first()
    )


def status_apply(*, upload: Upload, file_id: str, option: str) -> str:
    """Record the file's Status option; if it changed, move the shot to what it maps to.

    The compare-and-set on ReviewState makes the move happen once, whoever (webhook job or
    reconciliation) sees the change first; the two writes commit together.
    """
    shot = upload.render.shot
    with transaction.atomic():
        state, _ = ReviewState.objects.get_or_create(frameio_file_id=file_id, defaults={"upload": upload})
        changed = (
            ReviewState.objects.filter(pk=state.pk)
            .exclude(status_option=option)
            .update(status_option=option, status_seen_at=timezone.now())
        )
        if not changed:
            return f'Status "{option}" unchanged'
        target = status_map().get(option.strip().lower())
        if target is None:
            return f'Status "{option or "(none)"}": not mapped to a shot status (FRAMEIO_STATUS_MAP)'
        latest = _latest_file_id(shot.pk)
        if latest != file_id:
            return f'Status "{option}" on v{upload.render.version}, not the shot\'s latest version: not applied'
        current = Shot.objects.filter(pk=shot.pk).values_list("status", flat=True).first()
        if current == target:
            return f'Status "{option}": {shot} is already {target}'
        moved = shot_try_transition(
            shot_id=shot.pk,
            to_status=target,
            actor="frameio",
            reason=f'Frame.io Status "{option}" on v{upload.render.version}',
            details={"frameio_file_id": file_id, "status_option": option, "version": upload.render.version},
        )
        frameio_signals.review_decided.send(  # alerts: the Discord message, written in this transaction
            sender=Upload, shot_id=shot.pk, upload_id=upload.pk, to_status=target, moved=moved
        )
    return f'Status "{option}": {shot} {"moved to" if moved else "refused to move to"} {target}'


def status_sync(*, file_id: str, client: FrameioClient | None = None) -> str:
    """The file's Status as Frame.io has it now (metadata.value.updated)."""
    upload = _upload_for_file(file_id)
    if upload is None:
        return f"file {file_id} is not a postflow render: ignored"
    option = status_option(_client(client), account_id=_account_id(), file_id=file_id)
    return status_apply(upload=upload, file_id=file_id, option=option)


def file_ready(*, file_id: str) -> str:
    """file.ready: every transcode is done (the uploads reconciler would find out by polling)."""
    ready = upload_mark_ready(file_id=file_id)
    return f"file {file_id}: {'upload marked ready' if ready else 'nothing to do'}"


# --- reconciliation -----------------------------------------------------------------------------


def files_to_poll(limit: int) -> QuerySet[Upload]:
    """Uploaded files of the shots in review, the longest unpolled first (never polled: first of all)."""
    polled = ReviewState.objects.filter(frameio_file_id=OuterRef("frameio_file_id")).values("polled_at")[:1]
    return (
        Upload.objects.filter(state__in=Upload.IN_FRAMEIO, render__shot__status__in=REVIEW_STATUSES)
        .exclude(frameio_file_id="")
        .annotate(polled=Subquery(polled))
        .order_by(F("polled").asc(nulls_first=True), "pk")
        .select_related("render__shot__project", "render__shot__scene")[:limit]
    )


def file_reconcile(*, upload: Upload, client: FrameioClient, account_id: str) -> dict[str, int]:
    """One file: every comment upserted, notes of vanished comments deleted, the Status applied."""
    file_id = upload.frameio_file_id
    counts = {"notes_changed": 0, "notes_deleted": 0}
    seen: set[str] = set()
    for comment in list_file_comments(client, account_id=account_id, file_id=file_id):
        seen.add(comment.id)
        if comment.file_id and comment.file_id != file_id:
            continue
        _, action = note_upsert(upload=upload, comment=comment)
        counts["notes_changed"] += action != "unchanged"
    vanished = ReviewNote.objects.filter(frameio_file_id=file_id, deleted_at__isnull=True).exclude(
        frameio_comment_id__in=seen
    )
    for comment_id in list(vanished.values_list("frameio_comment_id", flat=True)):
        note_delete(comment_id=comment_id)
        counts["notes_deleted"] += 1
    outcome = status_apply(
        upload=upload, file_id=file_id, option=status_option(client, account_id=account_id, file_id=file_id)
    )
    _mark_polled(upload)
    logger.debug("review reconcile %s: %s, %s", file_id, counts, outcome)
    return counts


def _mark_polled(upload: Upload) -> None:
    state, _ = ReviewState.objects.get_or_create(frameio_file_id=upload.frameio_file_id, defaults={"upload": upload})
    ReviewState.objects.filter(pk=state.pk).update(polled_at=timezone.now())


def review_reconcile(*, client: FrameioClient | None = None, limit: int | None = None) -> dict[str, int]:
    """The schedule's job: poll a batch of files (FRAMEIO_REVIEW_RECONCILE_BATCH). Idempotent."""
    uploads = list(files_to_poll(limit or settings.FRAMEIO_REVIEW_RECONCILE_BATCH))
    totals = {"files": 0, "failed": 0, "notes_changed": 0, "notes_deleted": 0}
    if not uploads:
        return totals
    client = _client(client)
    account_id = _account_id()
    for upload in uploads:
        try:
            counts = file_reconcile(upload=upload, client=client, account_id=account_id)
        except FrameioError as exc:
            totals["failed"] += 1
            logger.warning("review reconcile of file %s failed: %s", upload.frameio_file_id, exc)
            if not exc.permanent:
                break  # Frame.io is struggling (or rate-limiting): the next run goes on
            _mark_polled(upload)  # gone or forbidden: to the back of the line, not first every run
            continue
        totals["files"] += 1
        for key, value in counts.items():
            totals[key] += value
    if totals["notes_changed"] or totals["notes_deleted"]:
        logger.info("review reconcile caught up: %s", totals)
    return totals


# --- exports for the editor -----------------------------------------------------------------------

NOTES_CSV_HEADER: tuple[str, ...] = (
    "SCENE",
    "NOMENCLATURE",
    "SHOT_NUMBER",
    "VERSION",
    "RECORD_TC",
    "RENDER_TC",
    "FRAME",
    "AUTHOR",
    "NOTE",
    "COMPLETED",
    "FPS_MISMATCH",
    "COMMENTED_AT",
    "FRAMEIO_COMMENT_ID",
)
EDL_REEL = "AX"  # the auxiliary source: the event only carries the markers
LOC_TEXT_LIMIT = 200


class NotesExportError(Exception):
    """What was asked for cannot be exported; the message says what to pass instead."""


def _scene_matches(scene, wanted: str) -> bool:
    token = wanted.strip()
    digits = re.fullmatch(r"(?i)(?:seq)?\s*0*(\d+)", token)
    if digits:
        return scene.number == int(digits.group(1))
    return scene.name.casefold() == token.casefold()


def notes_for_export(project: Project, *, scenes: Iterable[str] = (), open_only: bool = False) -> list[ReviewNote]:
    """The project's notes (deleted ones left out), in cut order: record position, then when written.

    `scenes`: numbers ("3", "03", "SEQ03") or names; NotesExportError names an unknown one.
    """
    notes = ReviewNote.objects.filter(shot__project=project, deleted_at__isnull=True).select_related(
        "shot__project", "shot__scene"
    )
    if open_only:
        notes = notes.filter(completed_at__isnull=True)
    wanted = [s for s in scenes if s.strip()]
    if wanted:
        all_scenes = list(project.scenes.all())
        chosen = set()
        for token in wanted:
            found = [s.pk for s in all_scenes if _scene_matches(s, token)]
            if not found:
                known = ", ".join(f"{s.number} ({s.name})" for s in all_scenes) or "none"
                raise NotesExportError(f"no scene {token!r} in {project.code}; scenes: {known}")
            chosen.update(found)
        notes = notes.filter(shot__scene_id__in=chosen)
    return sorted(notes, key=_cut_order)


def _cut_order(note: ReviewNote) -> tuple:
    record = note.record_frame
    return (
        record is None,
        record if record is not None else 0,
        note.shot.shot_number,
        note.commented_at or note.created_at,
        note.pk,
    )


def notes_csv(project: Project, notes: list[ReviewNote]) -> bytes:
    """UTF-8 with a BOM, CRLF, every cell through csv_safe (as the shot exports)."""
    rows = [
        (
            note.shot.scene.name,
            note.shot.nomenclature,
            note.shot.shot_number,
            note.version,
            note.record_timecode,
            note.render_timecode,
            note.frame,
            note.author,
            note.text,
            "TRUE" if note.completed else "FALSE",
            "TRUE" if note.fps_mismatch else "FALSE",
            note.commented_at.isoformat() if note.commented_at else "",
            note.frameio_comment_id,
        )
        for note in notes
    ]
    return render_csv(NOTES_CSV_HEADER, rows).encode("utf-8-sig")


def _edl_text(text: str) -> str:
    """One line of printable ASCII, upper case, as CMX comments are (and as OTIO writes them)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    flat = " ".join(ascii_text.split()).upper()
    return flat[:LOC_TEXT_LIMIT]


def _loc_name(note: ReviewNote) -> str:
    where = f"F{note.frame}" if note.frame is not None else "SHOT"
    mismatch = " FPS MISMATCH" if note.fps_mismatch else ""
    author = f" {note.author}:" if note.author else ""
    return _edl_text(f"V{note.version} {where}{mismatch}{author} {note.text}")


def _edl_tc(frames: int, rate: float) -> str:
    return frames_to_timecode(frames, rate)


def notes_edl(project: Project, notes: list[ReviewNote]) -> tuple[bytes, list[str]]:
    """A CMX 3600 EDL with one event per shot that has notes and a `* LOC:` line per note.

    The event's source timecodes equal its record timecodes, so a locator's timecode is the note's
    record timecode whichever side a reader takes it on (OTIO reads it in the clip's source time).
    Marker lines are written as otio-cmx3600-adapter writes them: `* LOC: <tc> <COLOR:7> <NAME>`;
    RED for an open note, GREEN for a completed one. Returns the EDL and the notes left out (shots
    not placed in the cut), as messages.
    """
    rate = project.fps
    by_shot: dict[int, list[ReviewNote]] = {}
    skipped: list[str] = []
    for note in notes:
        if note.shot.timeline_in is None:
            skipped.append(f"{note.shot}: not placed in the cut (no record in); its note {note.pk} left out")
            continue
        by_shot.setdefault(note.shot.pk, []).append(note)
    drop = ";" in _edl_tc(0, rate)
    lines = [f"TITLE: {_edl_text(project.code + ' REVIEW NOTES')}", f"FCM: {'DROP' if drop else 'NON-DROP'} FRAME", ""]
    shots = sorted((group[0].shot for group in by_shot.values()), key=lambda s: (s.timeline_in, s.shot_number))
    for index, shot in enumerate(shots, start=1):
        group = sorted(by_shot[shot.pk], key=_cut_order)
        record_in = shot.timeline_in
        record_out = shot.timeline_out if shot.timeline_out and shot.timeline_out > record_in else None
        record_out = record_out or record_in + max(shot.duration or 0, 1)
        # A note past the shot's end (a render a frame or two longer) widens the event, never into the next.
        next_in = shots[index].timeline_in if index < len(shots) else None
        widest = max(record_out, group[-1].record_frame + 1)
        record_out = widest if next_in is None else max(record_out, min(widest, next_in))
        tc_in, tc_out = _edl_tc(record_in, rate), _edl_tc(record_out, rate)
        lines.append(f"{index:03d}  {EDL_REEL:8} {'V':5} C        {tc_in} {tc_out} {tc_in} {tc_out}")
        lines.append(f"* FROM CLIP NAME:  {_edl_text(shot.nomenclature or 'SHOT ' + shot.shot_number)}")
        for note in group:
            color = "GREEN" if note.completed else "RED"
            lines.append(f"* LOC: {_edl_tc(note.record_frame, rate)} {color:7} {_loc_name(note)}")
        lines.append("")
    if not shots:
        logger.info("no placed notes to export for %s at %s fps", project.code, fps_label(rate))
    return ("\n".join(lines).rstrip("\n") + "\n").encode("ascii"), skipped
