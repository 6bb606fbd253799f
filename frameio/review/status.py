"""Frame.io's Status field moves the shot: only a change of the option, once, and only on the shot's
latest uploaded version; a move the machine forbids is recorded as refused, not forced."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from frameio import signals as frameio_signals
from frameio.client import FrameioClient
from frameio.models import ReviewState, Upload
from frameio.review.reads import account_id_or_fail, client_or_default, status_option, upload_for_file
from frameio.uploads.states import upload_mark_ready
from shots.models import Shot
from shots.services import shot_try_transition

logger = logging.getLogger(__name__)


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
    upload = upload_for_file(file_id)
    if upload is None:
        return f"file {file_id} is not a postflow render: ignored"
    option = status_option(client_or_default(client), account_id=account_id_or_fail(), file_id=file_id)
    return status_apply(upload=upload, file_id=file_id, option=option)


def file_ready(*, file_id: str) -> str:
    """file.ready: every transcode is done (the uploads reconciler would find out by polling)."""
    ready = upload_mark_ready(file_id=file_id)
    return f"file {file_id}: {'upload marked ready' if ready else 'nothing to do'}"
