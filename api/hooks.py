"""Outgoing webhooks: what the lower apps report, queued for the endpoints subscribed to it.

Each receiver is connected to a lower app's signal (connect(), from api/apps.py) and runs inside the
sender's transaction: the messages commit with the change they report, or not at all, and are sent on
commit (api.webhooks). None raises into the sender: queueing runs in a savepoint, and a failure is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

from api import webhooks
from api.models import WebhookEndpoint, WebhookKind

logger = logging.getLogger(__name__)


def connect() -> None:
    from delivery import signals as delivery_signals
    from frameio import signals as frameio_signals
    from ingest import signals as ingest_signals
    from shots import signals as shots_signals

    for signal, hook in (
        (shots_signals.status_changed, status_changed),
        (ingest_signals.render_verified, render_verified),
        (frameio_signals.upload_finished, upload_finished),
        (frameio_signals.note_added, note_added),
        (delivery_signals.batch_finished, batch_finished),
    ):
        signal.connect(hook, dispatch_uid=f"api.{hook.__name__}")


def _queue(kind: str, build: Callable[[], dict | list[dict] | None]) -> None:
    """Build the payload(s) and queue them, in a savepoint of the caller's transaction; log, never raise."""
    try:
        with transaction.atomic():
            if not any(kind in (kinds or []) for kinds in WebhookEndpoint.objects.values_list("kinds", flat=True)):
                return  # nobody listens: no payload read
            built = build()
            for payload in built if isinstance(built, list) else [built] if built else []:
                webhooks.webhooks_queue(kind=kind, payload=payload)
    except Exception:
        logger.exception("could not queue the outgoing %s webhook", kind)


def _shot_facts(shot) -> dict:
    return {"shot": shot.nomenclature, "shot_number": shot.shot_number, "project": shot.project.code}


def status_changed(
    sender: object = None,
    *,
    shot_id: int,
    from_status: str,
    to_status: str,
    actor: str,
    event_id: int,
    **_signal: object,
) -> None:
    """shots.signals.status_changed: every step a move applies (transitions and overrides)."""

    def build() -> dict:
        from shots.models import Shot

        shot = Shot.objects.select_related("project").get(pk=shot_id)
        return {**_shot_facts(shot), "from": from_status, "to": to_status, "actor": actor, "event_id": event_id}

    _queue(WebhookKind.STATUS_CHANGED, build)


def _render_facts(render) -> dict:
    return {
        **(_shot_facts(render.shot) if render.shot_id else {"shot": "", "shot_number": "", "project": ""}),
        "render_id": render.pk,
        "version": render.version,
        "path": render.display_name,
        "checksum": render.checksum,
    }


def render_verified(sender: object = None, *, render_id: int, **_signal: object) -> None:
    """ingest.signals.render_verified: a render named, hashed and probed (before its folder's rule applies)."""

    def build() -> dict:
        from ingest.models import Render

        render = Render.objects.select_related("shot__project").get(pk=render_id)
        return {**_render_facts(render), "media": render.media}

    _queue(WebhookKind.VERSION_VERIFIED, build)


def upload_finished(sender: object = None, *, upload_id: int, **_signal: object) -> None:
    """frameio.signals.upload_finished: a version is in Frame.io."""

    def build() -> dict:
        from frameio.models import Upload

        upload = Upload.objects.select_related("render__shot__project").get(pk=upload_id)
        return {
            **_render_facts(upload.render),
            "frameio_file_id": upload.frameio_file_id,
            "view_url": upload.view_url,
        }

    _queue(WebhookKind.UPLOADED, build)


def note_added(sender: object = None, *, note_id: int, **_signal: object) -> None:
    """frameio.signals.note_added: a new Frame.io comment, placed in the cut."""

    def build() -> dict:
        from frameio.models import ReviewNote

        note = ReviewNote.objects.select_related("shot__project").get(pk=note_id)
        return {
            **_shot_facts(note.shot),
            "note_id": note.pk,
            "version": note.version,
            "frame": note.frame,
            "render_timecode": note.render_timecode,
            "record_timecode": note.record_timecode,
            "author": note.author,
            "text": note.text,
        }

    _queue(WebhookKind.NOTE_ADDED, build)


def batch_finished(sender: object = None, *, batch: str, delivery_ids: list[int], **_signal: object) -> None:
    """delivery.signals.batch_finished: one message per shot delivered in the run (failures are not news here)."""

    def build() -> list[dict]:
        from delivery.models import Delivery

        delivered = Delivery.objects.filter(pk__in=delivery_ids, state=Delivery.State.DELIVERED)
        return [
            {
                **_shot_facts(d.shot),
                "delivery_id": d.pk,
                "version": d.version,
                "folder": d.folder,
                "manifest": d.manifest,
                "files": d.files,
                "bytes": d.bytes,
                "checksum": d.approved_checksum,
            }
            for d in delivered.select_related("shot__project")
        ]

    _queue(WebhookKind.DELIVERED, build)
