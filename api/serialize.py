"""Rows as the API shows them (plain dicts, validated by api.schemas on the way out)."""

from __future__ import annotations

from frameio.models import ReviewNote
from ingest.models import Render
from postflow.lib.text import web_link
from shots.models import Shot
from shots.workflow import allowed_targets


def _timecode(shot: Shot, field: str) -> dict:
    return {"frames": getattr(shot, field), "timecode": shot.timecode(field)}


def shot_out(shot: Shot) -> dict:
    """A shot read by api.selectors.shots_with_facts (its annotations and related rows already there)."""
    return {
        "nomenclature": shot.nomenclature,
        "shot_number": shot.shot_number,
        "project": shot.project.code,
        "fps": shot.project.fps,
        "scene": {"number": shot.scene.number, "name": shot.scene.name},
        "record_in": _timecode(shot, "timeline_in"),
        "record_out": _timecode(shot, "timeline_out"),
        "source_in": _timecode(shot, "source_in"),
        "source_out": _timecode(shot, "source_out"),
        "duration": _timecode(shot, "duration"),
        "source_file": shot.source_file.name if shot.source_file_id else "",
        "status": shot.status,
        "status_label": shot.get_status_display(),
        "stage": shot.stage.value,
        "allowed_moves": [status.value for status in allowed_targets(shot.status)],
        "omitted": shot.omitted,
        "latest_version": shot.latest_version,
        "frameio_url": web_link(shot.frameio_link),
        "frameio_version": shot.frameio_version,
        "frameio_version_stack_id": shot.frameio_version_stack_id,
        "open_notes": shot.open_notes,
        "updated_at": shot.updated_at,
    }


def version_out(render: Render) -> dict:
    upload = getattr(render, "upload", None)
    return {
        "id": render.pk,
        "version": render.version,
        "state": render.state,
        "reason": render.reason,
        "path": render.display_name,
        "root": render.root,
        "kind": render.kind,
        "frames": render.frames_label,
        "size": render.size,
        "checksum": render.checksum,
        "media": render.media or {},
        "first_seen": render.first_seen,
        "verified_at": render.verified_at,
        "upload": None
        if upload is None
        else {
            "state": upload.state,
            "frameio_file_id": upload.frameio_file_id,
            "view_url": web_link(upload.view_url),
            "uploaded_at": upload.uploaded_at,
            "ready_at": upload.ready_at,
        },
    }


def note_out(note: ReviewNote) -> dict:
    return {
        "id": note.pk,
        "frameio_comment_id": note.frameio_comment_id,
        "version": note.version,
        "frame": note.frame,
        "render_timecode": note.render_timecode,
        "record_frame": note.record_frame,
        "record_timecode": note.record_timecode,
        "author": note.author,
        "text": note.text,
        "completed": note.completed,
        "fps_mismatch": note.fps_mismatch,
        "commented_at": note.commented_at,
    }
