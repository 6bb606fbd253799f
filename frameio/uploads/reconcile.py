"""The minute's schedule: enqueue what is due, take over expired leases, follow uploaded files until
Frame.io has transcoded them, and flush the Status batch. The safety net behind the jobs."""

import logging

from django.db.models import Exists, OuterRef, Q

from frameio import jobs
from frameio.auth import (
    build_client,
    effective_target,
)
from frameio.client import FrameioClient, FrameioError
from frameio.models import Upload
from frameio.uploads.claims import start_next_waiting
from frameio.uploads.states import upload_mark_ready
from frameio.uploads.status_field import flush_review_status, pending_status
from ingest.models import Render

logger = logging.getLogger(__name__)


def uploads_reconcile(*, client: FrameioClient | None = None) -> dict[str, int]:
    """The schedule's job: enqueue what is due, follow uploaded files, flush the Status batch."""
    # A queued render whose upload is sending, or failed or was cancelled since the render was queued,
    # is not an orphan: failed and cancelled wait for a person. One the watcher queued again after its
    # upload ended is, if its job was lost.
    has_upload = Upload.objects.filter(render=OuterRef("pk"), checksum=OuterRef("checksum")).filter(
        Q(state__in=Upload.ACTIVE) | Q(state__in=Upload.ENDED, updated_at__gte=OuterRef("queued_at"))
    )
    orphans = list(
        Render.objects.filter(state=Render.State.QUEUED).filter(~Exists(has_upload)).values_list("pk", flat=True)
    )
    for render_id in orphans:
        jobs.enqueue_upload_render(render_id)
    due_ids = start_next_waiting()  # what is due, up to the free slots: leases expired, back-offs over
    followed = 0
    if Upload.objects.filter(state=Upload.State.UPLOADED).exists() or pending_status().exists():
        client = client or build_client()
        followed = _follow_transcoding(client)
        try:
            flush_review_status(client)
        except FrameioError as exc:  # the next run tries again; what was enqueued above stands
            logger.warning("the Status field batch failed: %s", exc)
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
