"""Comments become notes placed in the cut: created, updated, completed, reopened, deleted, each change
written once and published live."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from frameio import signals
from frameio.client import Comment, FrameioClient, FrameioError
from frameio.models import ReviewNote, Upload
from frameio.review.reads import account_id_or_fail, client_or_default, upload_for_file
from postflow import realtime
from postflow.lib.timecode import offset_in_shot, same_rate

logger = logging.getLogger(__name__)


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
                if action == "created":
                    signals.note_added.send(sender=ReviewNote, note_id=note.pk)
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
        comment = client_or_default(client).show_comment(account_id=account_id_or_fail(), comment_id=comment_id)
    except FrameioError as exc:
        if exc.status == 404:  # deleted since: the comment.deleted event may come later, or never
            return note_delete(comment_id=comment_id)
        raise
    upload = upload_for_file(comment.file_id)
    if upload is None:
        return f"comment {comment_id} is on file {comment.file_id}, not a postflow render: ignored"
    note, action = note_upsert(upload=upload, comment=comment)
    return f"note {note.pk} {action}"
