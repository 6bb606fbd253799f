"""What the API answers, as pydantic models: the OpenAPI document is generated from them (django-ninja)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Schema
from pydantic import Field


class ErrorOut(Schema):
    """Every error: a stable code to branch on, and a sentence for a person."""

    error: str = Field(description="A stable code: not_found, invalid_request, illegal_move, forbidden, ...")
    detail: str
    allowed: list[str] | None = Field(None, description="illegal_move: the legal next statuses.")
    valid: list[str] | None = Field(None, description="unknown_status / unknown_stage: the valid values.")
    fields: list[str] | None = Field(None, description="invalid_request: the fields at fault (body.to, query.page).")
    last_id: int | None = Field(
        None, description="events_lost: the newest event id, to follow from after reading the state."
    )


class Timecode(Schema):
    frames: int | None = Field(description="Frames at the project's rate; null when not known.")
    timecode: str = Field(description="HH:MM:SS:FF at the project's rate; empty when not known.")


class SceneOut(Schema):
    number: int
    name: str


class ShotOut(Schema):
    nomenclature: str
    shot_number: str
    project: str = Field(description="The project's code.")
    fps: float = Field(description="The project's rate: every frame count and timecode of the shot is at it.")
    scene: SceneOut
    record_in: Timecode
    record_out: Timecode = Field(description="Exclusive, as in an EDL.")
    source_in: Timecode
    source_out: Timecode
    duration: Timecode
    source_file: str
    status: str
    status_label: str
    stage: str
    allowed_moves: list[str] = Field(description="The statuses a plain (not forced) move may go to from here.")
    omitted: bool
    latest_version: int | None = Field(description="The highest version of a render that counts (verified and on).")
    frameio_url: str = Field(description="The Frame.io link of its latest version in Frame.io; empty if none.")
    frameio_version: int | None
    frameio_version_stack_id: str
    open_notes: int = Field(description="Review notes neither completed nor deleted.")
    updated_at: datetime


class ShotPage(Schema):
    count: int
    page: int
    page_size: int
    next: str | None = Field(description="The next page's URL, or null on the last page.")
    results: list[ShotOut]


class UploadOut(Schema):
    state: str
    frameio_file_id: str
    view_url: str
    uploaded_at: datetime | None
    ready_at: datetime | None


class VersionOut(Schema):
    id: int
    version: int | None
    state: str
    reason: str
    path: str = Field(description="Relative to its watch root; a sequence's pattern with its range.")
    root: str
    kind: str
    frames: str = Field(description='A sequence\'s frame count and gaps ("143 frames"); empty for a movie.')
    size: int
    checksum: str = Field(description="xxh3-128, hex.")
    media: dict[str, Any] = Field(description="What the probe read: codec, fps, width, height, frames, ...")
    first_seen: datetime
    verified_at: datetime | None
    upload: UploadOut | None = Field(description="Its upload to Frame.io, once queued.")


class NoteOut(Schema):
    id: int
    frameio_comment_id: str
    version: int | None
    frame: int | None = Field(description="Frame.io's frame of the render, from 1.")
    render_timecode: str = Field(description="From the render's start, at the render's rate.")
    record_frame: int | None
    record_timecode: str = Field(description="In the cut: the shot's record in plus the note's offset.")
    author: str
    text: str
    completed: bool
    fps_mismatch: bool
    commented_at: datetime | None


class StatusIn(Schema):
    to: str = Field(description="The status to move to, e.g. ae_in_progress.")
    reason: str = Field("", max_length=2000, description="Kept in the shot's history; required to force.")
    force: bool = Field(False, description="An override off the legal moves: needs shots.force_status and a reason.")


class StatusOut(Schema):
    shot: ShotOut
    from_status: str
    to_status: str
    forced: bool


class EventOut(Schema):
    id: int
    kind: str = Field(description="shot.status, render.state, review.note, upload.progress, alert.opened, ...")
    payload: dict[str, Any]
    at: datetime


class EventPage(Schema):
    events: list[EventOut] = Field(description="Oldest first, ids strictly increasing; empty when `wait` ran out.")
    last_id: int = Field(description="Ask with after=last_id next: nothing is skipped, nothing repeated.")
