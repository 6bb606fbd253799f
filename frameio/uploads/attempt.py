"""One attempt of an upload, from the claim to the steps after the bytes; every step saved the moment
it is done, so that the next attempt resumes from there."""

import logging
import time
from collections.abc import Callable

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from frameio.auth import build_client, target_or_connect
from frameio.client import FrameioClient, FrameioError
from frameio.crypto import encrypt
from frameio.models import Upload, UploadPart
from frameio.structure import in_scene_folder
from frameio.uploads import claims, pull, stacking, status_field, transfer
from frameio.uploads.errors import RenderUnreadable, Stopped, UploadFailed, UrlsExpired
from frameio.uploads.states import (
    Job,
    attempt_record,
    upload_attempt_failed,
    upload_for_render,
    upload_mark_processing,
    upload_mark_uploaded,
    upload_mark_uploading,
    upload_requeue_for_new_file,
)
from ingest.models import Render
from ingest.selectors import review_file
from ingest.services import render_check_unchanged, render_return_to_watcher
from postflow.lib import shutdown
from shots.services import shot_catch_up
from shots.workflow import Status

logger = logging.getLogger(__name__)


STATUS_POLL = (0.5, 8.0)  # first and longest wait between upload-status polls


def upload_render(*, render_id: int, **options) -> Upload | None:
    """The job the watcher enqueues: make sure the render's Upload exists, then run it."""
    upload = upload_for_render(render_id=render_id)
    return upload_run(upload_id=upload.pk, **options) if upload else None


def upload_run(
    *,
    upload_id: int,
    client: FrameioClient | None = None,
    on_progress: Callable[[transfer.Progress], None] | None = None,
) -> Upload:
    """Run one attempt of an upload, if this worker can claim it. Never raises for Frame.io or I/O
    trouble: the attempt is recorded (last_error, next_attempt_at) and the reconciler retries."""
    owner = claims.new_owner()
    if shutdown.requested():  # a worker stopping takes nothing new: the reconciler enqueues it again
        logger.info("upload %s not started: the worker is stopping", upload_id)
        return Upload.objects.get(pk=upload_id)
    if not claims.claim(upload_id, owner):
        return Upload.objects.get(pk=upload_id)
    keeper = claims.LeaseKeeper(upload_id, owner)
    keeper.start()
    worker_stopped = False
    try:
        _attempt(upload_id, owner, client or build_client(), keeper, on_progress or transfer.store_progress)
    except Stopped:
        worker_stopped = shutdown.requested()
        logger.info("upload %s stopped (cancelled, restarted, render changed, lease lost, worker stopping)", upload_id)
    except RenderUnreadable as exc:
        _return_to_watcher(upload_id, exc)
        upload_attempt_failed(upload_id, owner, exc)
    except (UploadFailed, FrameioError, OSError, requests.RequestException) as exc:
        upload_attempt_failed(upload_id, owner, exc)
    except Exception as exc:  # a bug or a database error: still an attempt, counted and backed off
        logger.exception("upload %s: unexpected error", upload_id)
        upload_attempt_failed(upload_id, owner, exc)
    finally:
        keeper.stop()
        claims.release(upload_id, owner, give_back_attempt=worker_stopped)
        claims.start_next_waiting()  # the slot this attempt held is free: not a minute's wait for the reconciler
    return Upload.objects.get(pk=upload_id)


def _return_to_watcher(upload_id: int, exc: RenderUnreadable) -> None:
    """The file is not the one verified any more: the watcher takes the render back (gone, or to be
    verified again), and this upload fails; new content is queued afresh by the watcher."""
    upload = Upload.objects.only("render_id", "checksum").get(pk=upload_id)
    render_return_to_watcher(render_id=upload.render_id, checksum=upload.checksum, reason=str(exc))


def _render_current(render: Render, upload: Upload) -> None:
    """The render must still be the verified content this upload sends: the watcher may have reset the
    row (new stat, DISCOVERED) or queued new content; its re-queue starts the upload over."""
    if render.state != Render.State.QUEUED or render.checksum != upload.checksum:
        logger.info("upload %s: render %s changed (%s); left to its re-queue", upload.pk, render.pk, render.state)
        raise Stopped()


def _attempt(upload_id: int, owner: str, client: FrameioClient, keeper: claims.LeaseKeeper, on_progress) -> None:
    upload = Upload.objects.select_related("render__shot__scene__project").get(pk=upload_id)
    render = upload.render
    if upload.state in Upload.ACTIVE:
        _render_current(render, upload)
    if upload.state in (Upload.State.QUEUED, Upload.State.UPLOADING):
        changed = render_check_unchanged(render_id=render.pk)
        if changed:
            raise RenderUnreadable(f"{render.path}: {changed}")
    target = target_or_connect()
    if not target.account_id:
        raise UploadFailed("Frame.io is not connected (or no account chosen): open /frameio/connect/")
    # The render's own file, or its review proxy (an image sequence, or a movie POSTFLOW_PROXY_FOR names).
    job = Job(upload, render, render.shot, client, target.account_id, review_file(render), owner)
    if upload.orphan_file_id:
        _delete_orphan(job)
    if upload.state in (Upload.State.QUEUED, Upload.State.UPLOADING):
        _send(job, keeper, on_progress)
    if job.upload.state == Upload.State.PROCESSING:
        _wait_complete(job)
    if job.upload.state in Upload.IN_FRAMEIO:
        _after_upload(job)


def _send(job: Job, keeper: claims.LeaseKeeper, on_progress) -> None:
    if job.upload.frameio_file_id and job.upload.file_checksum not in ("", job.file.checksum):
        # Parts planned for other bytes of the same content (a review proxy built again): a new file.
        logger.warning("upload %s: the file to send is not the one its parts were planned for", job.upload.pk)
        _delete_remote_file(job)
    if settings.FRAMEIO_UPLOAD_MODE == "pull":  # Frame.io fetches the file: nothing to send, a file to follow
        if not job.upload.frameio_file_id:
            pull.request_fetch(job)
        upload_mark_processing(job)
        return
    if not job.upload.frameio_file_id:
        _create_remote_file(job)
    try:
        transfer.put_parts(job, keeper, on_progress)
    except UrlsExpired:
        logger.warning("upload %s: part URLs expired; creating the Frame.io file again", job.upload.pk)
        _delete_remote_file(job)
        _create_remote_file(job)
        try:
            transfer.put_parts(job, keeper, on_progress)
        except UrlsExpired:
            raise UploadFailed("part URLs expired again on a new Frame.io file") from None
    _render_current(Render.objects.get(pk=job.render.pk), job.upload)
    upload_mark_processing(job)


def _create_remote_file(job: Job) -> None:
    created = in_scene_folder(  # a scene folder deleted in Frame.io is made again, once
        job.client,
        account_id=job.account_id,
        scene=job.shot.scene,
        call=lambda folder_id: job.client.create_local_upload(
            account_id=job.account_id, folder_id=folder_id, name=job.file.name, file_size=job.file.size
        ),
    )
    plan = _part_plan([url.size for url in created.upload_urls], job.file.size)
    with transaction.atomic():  # the file id and the plan are saved before the first byte goes up
        UploadPart.objects.filter(upload=job.upload).delete()
        UploadPart.objects.bulk_create(
            UploadPart(upload=job.upload, index=i, offset=offset, size=size, url_enc=encrypt(url.url))
            for i, ((offset, size), url) in enumerate(zip(plan, created.upload_urls, strict=True))
        )
        upload_mark_uploading(
            job,
            file_id=created.file.id,
            media_type=created.file.media_type or "application/octet-stream",
            view_url=created.file.view_url or "",
        )
    logger.info("upload %s: Frame.io file %s, %s parts", job.upload.pk, created.file.id, len(plan))


def _part_plan(sizes: list[int], total: int) -> list[tuple[int, int]]:
    if not sizes or sum(sizes) != total:
        raise UploadFailed(f"Frame.io planned {len(sizes)} parts of {sum(sizes)} bytes for a {total}-byte file")
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]
    return list(zip(offsets, sizes, strict=True))


def _delete_remote_file(job: Job) -> None:
    _delete_if_present(job, job.upload.frameio_file_id)
    attempt_record(job, frameio_file_id="")


def _delete_orphan(job: Job) -> None:
    """A Frame.io file left by an earlier content of this render, or by an expired attempt."""
    _delete_if_present(job, job.upload.orphan_file_id)
    attempt_record(job, orphan_file_id="")


def _delete_if_present(job: Job, file_id: str) -> None:
    """Delete a Frame.io file; one already gone (a retry after the delete landed) is fine."""
    try:
        job.client.delete_file(account_id=job.account_id, file_id=file_id)
    except FrameioError as exc:
        if exc.status != 404:
            raise


def _wait_complete(job: Job) -> None:
    deadline = time.monotonic() + settings.FRAMEIO_UPLOAD_COMPLETE_TIMEOUT
    delay = STATUS_POLL[0]
    while True:
        status = job.client.file_upload_status(account_id=job.account_id, file_id=job.upload.frameio_file_id)
        if status.upload_complete:
            break
        if status.upload_failed:
            _delete_remote_file(job)  # the next attempt starts a new file
            upload_requeue_for_new_file(job)
            raise UploadFailed("Frame.io reports the upload failed")
        if time.monotonic() + delay > deadline:
            raise UploadFailed(
                f"Frame.io did not report upload_complete within {settings.FRAMEIO_UPLOAD_COMPLETE_TIMEOUT:g} s"
            )
        if shutdown.sleep(delay):
            raise Stopped()  # still processing: the next attempt waits on
        delay = min(delay * 2, STATUS_POLL[1])
    upload_mark_uploaded(job)
    logger.info("upload %s complete: %s", job.upload.pk, job.upload.view_url)


def _after_upload(job: Job) -> None:
    now = timezone.now()
    if not job.upload.stacked_at:
        stacking.stack_version(job)
        attempt_record(job, stacked_at=now)
    if not job.upload.shot_moved_at:
        # The uploaded render is evidence: a shot behind it catches up; a v2 while in review changes nothing.
        shot_catch_up(
            shot_id=job.shot.pk,
            to_status=Status.REVIEW_UPLOADED,
            actor="frameio",
            evidence=job.render.path,
            details={"upload_id": job.upload.pk, "version": job.render.version, "view_url": job.upload.view_url},
        )
        attempt_record(job, shot_moved_at=now, last_error="")
    status_field.flush_soon(job.client)
