"""The minute's schedule: enqueue what is due, take over expired leases, follow uploaded files until
Frame.io has transcoded them, and flush the Status batch. The safety net behind the jobs."""

import logging

from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from frameio import jobs
from frameio.auth import (
    build_client,
    effective_target,
)
from frameio.client import FrameioClient
from frameio.models import Upload
from frameio.uploads.claims import AFTER_PENDING
from frameio.uploads.states import upload_mark_ready
from frameio.uploads.status_field import flush_review_status, pending_status
from ingest.models import Render

logger = logging.getLogger(__name__)


def uploads_reconcile(*, client: FrameioClient | None = None) -> dict[str, int]:
    """The schedule's job: enqueue what is due, follow uploaded files, flush the Status batch."""
    now = timezone.now()
    sending = Upload.objects.filter(render=OuterRef("pk"), state__in=Upload.ACTIVE, checksum=OuterRef("checksum"))
    orphans = list(
        Render.objects.filter(state=Render.State.QUEUED).filter(~Exists(sending)).values_list("pk", flat=True)
    )
    for render_id in orphans:
        jobs.enqueue_upload_render(render_id)
    due = Upload.objects.filter(
        Q(state__in=Upload.ACTIVE, render__state=Render.State.QUEUED, render__checksum=F("checksum")) | AFTER_PENDING
    ).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now),
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
    )
    due_ids = list(due.values_list("pk", flat=True))
    for upload_id in due_ids:
        jobs.enqueue_upload_run(upload_id)
    followed = 0
    if Upload.objects.filter(state=Upload.State.UPLOADED).exists() or pending_status().exists():
        client = client or build_client()
        followed = _follow_transcoding(client)
        flush_review_status(client)
    return {"renders": len(orphans), "uploads": len(due_ids), "followed": followed}


def _follow_transcoding(client: FrameioClient) -> int:
    account_id = effective_target().account_id
    ready = 0
    for upload in Upload.objects.filter(state=Upload.State.UPLOADED).select_related("render")[:50]:
        try:
            file = client.show_file(account_id=account_id, file_id=upload.frameio_file_id)
        except Exception:  # one file gone or failing must not stop the others
            logger.exception("upload %s: cannot read Frame.io file %s", upload.pk, upload.frameio_file_id)
            continue
        if file.status == "transcoded":
            ready += upload_mark_ready(file_id=upload.frameio_file_id)
    return ready
