"""Every change of Upload.state, each named after its transition: the one writer of that state.

An attempt (frameio.uploads.attempt) writes through a `Job`, only while it holds the lease: a restart
or a takeover clears or changes `lease_owner`, and the attempt's next write raises Stopped. The moves
made outside an attempt (a producer's retry or cancel, new content, Frame.io's transcode) are
compare-and-set UPDATEs on the state they leave.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from frameio import jobs
from frameio import signals as frameio_signals
from frameio.client import FrameioClient, FrameioError
from frameio.models import Upload, UploadPart
from frameio.uploads.errors import Stopped, UploadFailed
from ingest.models import Render
from ingest.selectors import ReviewFile, review_file
from ingest.services import render_mark_uploaded
from shots.models import Shot

logger = logging.getLogger(__name__)


@dataclass
class Job:
    """One attempt at an upload: what it sends, where, and the lease it holds."""

    upload: Upload
    render: Render
    shot: Shot
    client: FrameioClient
    account_id: str
    file: ReviewFile  # what goes to Frame.io: the render's file, or its review proxy
    owner: str  # the lease owner of this attempt: writes to the Upload require it still holds the lease

    @property
    def path(self) -> Path:
        return self.file.path


def upload_for_render(*, render_id: int) -> Upload | None:
    """The render's Upload, created on first call. A render queued again after its file changed
    (the watcher verified new content) gets its finished or failed upload started over. A failed or
    cancelled upload of the same content stays so (a person retries it) unless the watcher queued the
    render again since it ended: a job delivered late, or the reconciler, never starts it over."""
    render = Render.objects.filter(pk=render_id).first()
    existing = Upload.objects.filter(render_id=render_id).first()
    if render is None or render.state != Render.State.QUEUED:
        return existing  # uploaded already, or changed meanwhile: nothing to start
    if existing is None:
        upload, created = Upload.objects.get_or_create(
            render=render, defaults={"bytes_total": review_file(render).size, "checksum": render.checksum}
        )
        if created:
            return upload
        existing = upload
    if existing.checksum != render.checksum:
        _restart(existing, render)
    elif existing.state in Upload.ENDED and _queued_since_it_ended(render, existing):
        upload_requeue(upload_id=existing.pk)
        existing.refresh_from_db()
    elif existing.state in Upload.IN_FRAMEIO:  # these bytes are in Frame.io already
        render_mark_uploaded(render_id=render.pk, checksum=existing.checksum)
    return existing


@transaction.atomic
def upload_retry(*, upload_id: int) -> bool:
    """A producer's retry: a failed or cancelled upload starts again (parts already sent are kept)."""
    retried = upload_requeue(upload_id=upload_id)
    if retried:
        transaction.on_commit(lambda: jobs.enqueue_upload_run(upload_id))
    return retried


def upload_requeue(*, upload_id: int) -> bool:
    """failed or cancelled -> queued, its attempts counted from 0 again. True if it moved."""
    return bool(
        Upload.objects.filter(pk=upload_id, state__in=Upload.ENDED).update(
            state=Upload.State.QUEUED, attempts=0, next_attempt_at=None, last_error=""
        )
    )


def upload_cancel(*, upload_id: int) -> bool:
    """Stop an upload that has not finished; a worker sending its parts stops at the next part. It
    stays cancelled until a person retries it or the watcher queues new content."""
    return bool(
        Upload.objects.filter(pk=upload_id, state__in=Upload.ACTIVE).update(
            state=Upload.State.CANCELLED, last_error="cancelled", updated_at=timezone.now()
        )
    )


def _queued_since_it_ended(render: Render, upload: Upload) -> bool:
    """The watcher verified and queued the render after the upload failed or was cancelled (ENDED
    moves stamp updated_at): the file is worth another try without a person."""
    return render.queued_at is not None and render.queued_at > upload.updated_at


def _restart(upload: Upload, render: Render) -> None:
    """New content for the same render (the watcher verified it again): start over. A Frame.io file
    of the old content that never finished uploading is deleted by the next attempt; a finished one
    stays in Frame.io as what was reviewed."""
    UploadPart.objects.filter(upload=upload).delete()
    finished = upload.state in Upload.IN_FRAMEIO
    Upload.objects.filter(pk=upload.pk).update(
        state=Upload.State.QUEUED,
        checksum=render.checksum,
        frameio_file_id="",
        orphan_file_id="" if finished else upload.frameio_file_id,
        bytes_total=review_file(render).size,
        bytes_done=0,
        attempts=0,
        last_error="",
        next_attempt_at=None,
        lease_owner="",  # a worker still sending the old content stops at its next write
        lease_until=None,
        stacked_at=None,
        status_field_set_at=None,
        shot_moved_at=None,
        uploaded_at=None,
        ready_at=None,
    )
    upload.refresh_from_db()


def upload_mark_ready(*, file_id: str) -> bool:
    """uploaded -> ready: Frame.io has transcoded the file (file.ready, or the reconciler polling).
    True if an upload moved."""
    now = timezone.now()
    return bool(
        Upload.objects.filter(frameio_file_id=file_id, state=Upload.State.UPLOADED).update(
            state=Upload.State.READY, ready_at=now, updated_at=now
        )
    )


# --- an attempt's moves: written only while the attempt holds the lease ---------------------------


def upload_mark_uploading(job: Job, *, file_id: str, media_type: str, view_url: str) -> None:
    """-> uploading: the Frame.io file exists and its parts are planned (saved with the plan)."""
    _write(
        job,
        state=Upload.State.UPLOADING,
        frameio_file_id=file_id,
        media_type=media_type,
        view_url=view_url,
        file_checksum=job.file.checksum,
        bytes_total=job.file.size,
        bytes_done=0,
    )


def upload_mark_processing(job: Job) -> None:
    """uploading -> processing: every part sent; Frame.io has yet to say upload_complete."""
    _write(job, state=Upload.State.PROCESSING)


def upload_requeue_for_new_file(job: Job) -> None:
    """-> queued: Frame.io reports the upload failed; the next attempt starts a new file."""
    _write(job, state=Upload.State.QUEUED)


def upload_mark_uploaded(job: Job) -> None:
    """processing -> uploaded, with the render, the live event and the listeners' writes (the "render
    uploaded" message) in one transaction: a crash cannot leave an uploaded render whose message was
    never queued."""
    with transaction.atomic():
        _write(job, state=Upload.State.UPLOADED, uploaded_at=timezone.now(), bytes_done=job.upload.bytes_total)
        render_mark_uploaded(render_id=job.render.pk, checksum=job.upload.checksum)
        frameio_signals.upload_finished.send(sender=Upload, upload_id=job.upload.pk)


def attempt_record(job: Job, **fields: object) -> None:
    """Save fields of this attempt's upload other than its state (file ids, steps done)."""
    if "state" in fields:
        raise ValueError("Upload.state changes through a named transition of frameio.uploads.states")
    _write(job, **fields)


def _write(job: Job, **fields: object) -> None:
    """Save fields of this attempt's upload, only while it holds the lease (a restart or a takeover
    clears or changes lease_owner: then this attempt stops) and nobody cancelled it (a cancel is never
    overwritten by the attempt's next step: the attempt stops)."""
    mine = Upload.objects.filter(pk=job.upload.pk, lease_owner=job.owner).exclude(state__in=Upload.ENDED)
    if not mine.update(**fields, updated_at=timezone.now()):
        raise Stopped()
    for name, value in fields.items():
        setattr(job.upload, name, value)


def upload_attempt_failed(upload_id: int, owner: str, exc: BaseException) -> None:  # -> failed, or a back-off
    """Record a failed attempt, only while this attempt still holds the lease (a restart meanwhile
    owns the row now). An upload whose bytes are in Frame.io (its later steps failed) never becomes
    FAILED: it keeps backing off, up to an hour."""
    upload = Upload.objects.get(pk=upload_id)
    if upload.lease_owner != owner:
        logger.info("upload %s: attempt failed after losing its lease (%s)", upload_id, exc)
        return
    permanent = isinstance(exc, UploadFailed | FrameioError) and exc.permanent
    reason = str(exc) or type(exc).__name__
    mine = Upload.objects.filter(pk=upload_id, lease_owner=owner)
    if upload.state in Upload.ACTIVE and (permanent or upload.attempts >= settings.FRAMEIO_UPLOAD_MAX_ATTEMPTS):
        mine.filter(state__in=Upload.ACTIVE).update(
            state=Upload.State.FAILED, last_error=reason, next_attempt_at=None, updated_at=timezone.now()
        )
        logger.error("upload %s failed after %s attempt(s): %s", upload_id, upload.attempts, reason)
        return
    delay = timedelta(seconds=min(3600, 30 * 2 ** (max(upload.attempts, 1) - 1)))
    mine.update(last_error=reason, next_attempt_at=timezone.now() + delay)
    logger.warning("upload %s attempt %s failed (%s); next try in %s", upload_id, upload.attempts, reason, delay)
