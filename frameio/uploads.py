"""Verified renders to Frame.io, exactly once: structure, resumable parallel parts, version stacks.

The way of one render (every step saved the moment it is done, so a crash resumes from there):

1. The Upload row exists (one per render) and a worker claims it with a lease (a compare-and-set
   UPDATE); a second delivery of the same job finds the lease taken and returns.
2. The scene's folder exists in the production's Frame.io project (ids cached on Project, Scene).
3. `local_upload` creates the Frame.io file; its id and the part plan are saved before any PUT.
4. Parts go up in parallel, streamed from disk (bounded memory), each recorded when it lands.
   Expired part URLs (403 "Request has expired") lead to a new Frame.io file, the orphan deleted.
5. Frame.io says upload_complete; the file is stacked onto the shot's previous version, the shot
   moves to review_uploaded (when the machine allows), and the Status field is set in batches.
6. A reconciler (every minute) re-enqueues what is due, takes over expired leases, follows uploaded
   files until transcoded, and flushes the Status batch.
"""

import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import requests
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from frameio import jobs
from frameio import signals as frameio_signals
from frameio.auth import (
    build_client,
    connect_server_to_server,
    connection_set_target,
    effective_target,
    target_with_project,
)
from frameio.client import FrameioClient, FrameioError, redact, redact_url
from frameio.crypto import decrypt, encrypt
from frameio.models import Upload, UploadPart
from ingest.models import Render
from ingest.services import render_check_unchanged, render_mark_uploaded
from postflow import realtime
from shots.models import Project, Scene, Shot
from shots.services import shot_try_transition
from shots.workflow import Status

logger = logging.getLogger(__name__)

PART_TIMEOUT = (10, 300)  # connect, read (per socket operation) for part PUTs
STATUS_POLL = (0.5, 8.0)  # first and longest wait between upload-status polls
METADATA_BATCH = 100  # files per Status bulk update (the endpoint allows 10 calls a minute)


class UploadFailed(Exception):
    """This attempt failed; `permanent` ones are not tried again automatically."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class UrlsExpired(Exception):
    """A part URL answered 403 "Request has expired": the Frame.io file must be created again."""


class Stopped(Exception):
    """The lease was lost or the upload cancelled while parts were going up."""


# --- entry points (jobs and the admin call these) --------------------------------------------


def upload_render(*, render_id: int, **options) -> Upload | None:
    """The job the watcher enqueues: make sure the render's Upload exists, then run it."""
    upload = upload_for_render(render_id=render_id)
    return upload_run(upload_id=upload.pk, **options) if upload else None


def upload_for_render(*, render_id: int) -> Upload | None:
    """The render's Upload, created on first call. A render queued again after its file changed
    (the watcher verified new content) gets its finished or failed upload started over."""
    render = Render.objects.filter(pk=render_id).first()
    existing = Upload.objects.filter(render_id=render_id).first()
    if render is None or render.state != Render.State.QUEUED:
        return existing  # uploaded already, or changed meanwhile: nothing to start
    if existing is None:
        upload, created = Upload.objects.get_or_create(
            render=render, defaults={"bytes_total": render.size, "checksum": render.checksum}
        )
        if created:
            return upload
        existing = upload
    if existing.checksum != render.checksum:
        _restart(existing, render)
    elif existing.state in (Upload.State.FAILED, Upload.State.CANCELLED):  # same bytes queued again: try again
        Upload.objects.filter(pk=existing.pk, state=existing.state).update(
            state=Upload.State.QUEUED, attempts=0, next_attempt_at=None, last_error=""
        )
        existing.refresh_from_db()
    elif existing.state in (Upload.State.UPLOADED, Upload.State.READY):  # these bytes are in Frame.io already
        render_mark_uploaded(render_id=render.pk, checksum=existing.checksum)
    return existing


def upload_run(
    *, upload_id: int, client: FrameioClient | None = None, on_progress: Callable[["Progress"], None] | None = None
) -> Upload:
    """Run one attempt of an upload, if this worker can claim it. Never raises for Frame.io or I/O
    trouble: the attempt is recorded (last_error, next_attempt_at) and the reconciler retries."""
    owner = uuid.uuid4().hex
    if not _claim(upload_id, owner):
        return Upload.objects.get(pk=upload_id)
    keeper = _LeaseKeeper(upload_id, owner)
    keeper.start()
    try:
        _attempt(upload_id, owner, client or build_client(), keeper, on_progress or _store_progress)
    except Stopped:
        logger.info("upload %s stopped (cancelled, restarted, render changed or lease lost)", upload_id)
    except (UploadFailed, FrameioError, OSError, requests.RequestException) as exc:
        _attempt_failed(upload_id, owner, exc)
    except Exception as exc:  # a bug or a database error: still an attempt, counted and backed off
        logger.exception("upload %s: unexpected error", upload_id)
        _attempt_failed(upload_id, owner, exc)
    finally:
        keeper.stop()
        Upload.objects.filter(pk=upload_id, lease_owner=owner).update(lease_owner="", lease_until=None)
    return Upload.objects.get(pk=upload_id)


@transaction.atomic
def upload_retry(*, upload_id: int) -> bool:
    """A producer's retry: a failed or cancelled upload starts again (parts already sent are kept)."""
    retried = Upload.objects.filter(pk=upload_id, state__in=[Upload.State.FAILED, Upload.State.CANCELLED]).update(
        state=Upload.State.QUEUED, attempts=0, next_attempt_at=None, last_error=""
    )
    if retried:
        transaction.on_commit(lambda: jobs.enqueue_upload_run(upload_id))
    return bool(retried)


def upload_cancel(*, upload_id: int) -> bool:
    """Stop an upload that has not finished; a worker sending its parts stops at the next part."""
    return bool(
        Upload.objects.filter(pk=upload_id, state__in=Upload.ACTIVE).update(
            state=Upload.State.CANCELLED, last_error="cancelled"
        )
    )


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
        Q(state__in=Upload.ACTIVE, render__state=Render.State.QUEUED, render__checksum=F("checksum")) | _AFTER_PENDING
    ).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now),
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
    )
    due_ids = list(due.values_list("pk", flat=True))
    for upload_id in due_ids:
        jobs.enqueue_upload_run(upload_id)
    followed = 0
    if Upload.objects.filter(state=Upload.State.UPLOADED).exists() or _pending_status().exists():
        client = client or build_client()
        followed = _follow_transcoding(client)
        _flush_review_status(client)
    return {"renders": len(orphans), "uploads": len(due_ids), "followed": followed}


# --- claiming -------------------------------------------------------------------------------

# Uploaded, but the steps after the bytes (stack, shot move) are not all done: retried like an attempt.
_AFTER_PENDING = Q(state__in=[Upload.State.UPLOADED, Upload.State.READY]) & (
    Q(stacked_at__isnull=True) | Q(shot_moved_at__isnull=True)
)


# Any fixed number: the PostgreSQL advisory lock under which a worker counts the slots and takes one.
_SLOTS_LOCK = 0x706F7374666C6F77  # "postflow"


def _claim(upload_id: int, owner: str) -> bool:
    """Take the lease if the upload is active, unleased (or its lease expired), a slot is free and
    no other version of its shot must go first (two versions stacking at once would each create a
    version stack, and Frame.io has no call to delete the empty one). A waiting upload is enqueued
    again by the reconciler.

    Counting the slots and taking one must not interleave with another worker doing the same, or
    both could take the last slot. On SQLite the transaction takes the write lock at BEGIN; on
    PostgreSQL claims queue on an advisory lock held until commit (progress writes never wait).
    """
    now = timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SLOTS_LOCK])
            now = timezone.now()  # the lock may have waited: leases are read as of now
        running = Upload.objects.filter(lease_until__gt=now).exclude(pk=upload_id)
        busy = running.count()
        if busy >= settings.MAX_CONCURRENT_UPLOADS:
            logger.info("upload %s waits: %s uploads running (MAX_CONCURRENT_UPLOADS)", upload_id, busy)
            return False
        waits_for = _earlier_or_running_version(upload_id, running)
        if waits_for:
            logger.info("upload %s waits: %s", upload_id, waits_for)
            return False
        free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
        return bool(
            Upload.objects.filter(free, Q(state__in=Upload.ACTIVE) | _AFTER_PENDING, pk=upload_id).update(
                lease_owner=owner, lease_until=now + _lease(), attempts=F("attempts") + 1, started_at=now
            )
        )


def _earlier_or_running_version(upload_id: int, running) -> str:
    """Why this upload must wait for another version of its shot, or "": the versions of a shot go
    up one at a time and oldest first, so each finds the one before it to stack onto. An earlier
    version counts while its render is still queued (a render the watcher reset, or a failed or
    cancelled upload, holds nobody up) or while its steps after the bytes are pending."""
    mine = Upload.objects.filter(pk=upload_id).values("render__shot_id", "render__version").first()
    if mine is None or mine["render__shot_id"] is None:
        return ""
    siblings = Upload.objects.filter(render__shot_id=mine["render__shot_id"]).exclude(pk=upload_id)
    if running.filter(pk__in=siblings.values("pk")).exists():
        return "another version of its shot is uploading"
    on_the_way = Q(state__in=Upload.ACTIVE, render__state=Render.State.QUEUED) | _AFTER_PENDING
    if siblings.filter(on_the_way, render__version__lt=mine["render__version"]).exists():
        return "an earlier version of its shot goes first"
    return ""


def _lease() -> timedelta:
    return timedelta(seconds=settings.FRAMEIO_UPLOAD_LEASE_SECONDS)


class _LeaseKeeper(threading.Thread):
    """Renews the lease while the attempt runs; notices a cancel or a lost lease."""

    def __init__(self, upload_id: int, owner: str) -> None:
        super().__init__(daemon=True, name=f"lease-{upload_id}")
        self.upload_id, self.owner = upload_id, owner
        self.halt = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        lease_until = timezone.now() + _lease()  # at most what the claim took
        try:
            while not self.halt.wait(_lease().total_seconds() / 4):
                until = timezone.now() + _lease()
                try:
                    renewed = self._renew(until)
                except Exception:  # a database hiccup: try again next tick, while the lease lasts
                    logger.exception("upload %s: cannot renew the lease", self.upload_id)
                    connection.close()  # a broken connection is opened again on the next query
                    if timezone.now() >= lease_until:
                        self.lost.set()
                        return
                    continue
                if not renewed:
                    self.lost.set()
                    return
                lease_until = until
        finally:
            connection.close()

    def _renew(self, until) -> int:
        return (
            Upload.objects.filter(pk=self.upload_id, lease_owner=self.owner)
            .exclude(state__in=[Upload.State.FAILED, Upload.State.CANCELLED])
            .update(lease_until=until)
        )

    def check(self) -> None:
        if self.lost.is_set():
            raise Stopped()

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=5)


# --- one attempt ----------------------------------------------------------------------------


@dataclass
class _Job:
    upload: Upload
    render: Render
    shot: Shot
    client: FrameioClient
    account_id: str
    path: Path
    owner: str  # the lease owner of this attempt: writes to the Upload require it still holds the lease


def _render_current(render: Render, upload: Upload) -> None:
    """The render must still be the verified content this upload sends: the watcher may have reset the
    row (new stat, DISCOVERED) or queued new content; its re-queue starts the upload over."""
    if render.state != Render.State.QUEUED or render.checksum != upload.checksum:
        logger.info("upload %s: render %s changed (%s); left to its re-queue", upload.pk, render.pk, render.state)
        raise Stopped()


def _attempt(upload_id: int, owner: str, client: FrameioClient, keeper: _LeaseKeeper, on_progress) -> None:
    upload = Upload.objects.select_related("render__shot__scene__project").get(pk=upload_id)
    render = upload.render
    if upload.state in Upload.ACTIVE:
        _render_current(render, upload)
    if upload.state in (Upload.State.QUEUED, Upload.State.UPLOADING):
        changed = render_check_unchanged(render_id=render.pk)
        if changed:
            raise UploadFailed(f"{render.path}: {changed}; the watcher will verify it again", permanent=True)
    target = _target_or_connect()
    if not target.account_id:
        raise UploadFailed("Frame.io is not connected (or no account chosen): open /frameio/connect/")
    job = _Job(upload, render, render.shot, client, target.account_id, Path(render.root) / render.path, owner)
    if upload.orphan_file_id:
        _delete_orphan(job)
    if upload.state in (Upload.State.QUEUED, Upload.State.UPLOADING):
        _send(job, keeper, on_progress)
    if job.upload.state == Upload.State.PROCESSING:
        _wait_complete(job)
    if job.upload.state in (Upload.State.UPLOADED, Upload.State.READY):
        _after_upload(job)


def _target_or_connect():
    """The Frame.io target; with Server-to-Server, which needs nobody to sign in, connect on first use.

    IMS and Frame.io are called outside any transaction. Two uploads starting together may both
    connect; the first connection stored is kept, so the second never resets what the first chose.
    """
    target = effective_target()
    if target.account_id or settings.FRAMEIO_AUTH != "s2s":
        return target
    connect_server_to_server(keep_existing=True)
    return effective_target()


def _send(job: _Job, keeper: _LeaseKeeper, on_progress) -> None:
    if not job.upload.frameio_file_id:
        _create_remote_file(job)
    try:
        _put_parts(job, keeper, on_progress)
    except UrlsExpired:
        logger.warning("upload %s: part URLs expired; creating the Frame.io file again", job.upload.pk)
        _delete_remote_file(job)
        _create_remote_file(job)
        try:
            _put_parts(job, keeper, on_progress)
        except UrlsExpired:
            raise UploadFailed("part URLs expired again on a new Frame.io file") from None
    _render_current(Render.objects.get(pk=job.render.pk), job.upload)
    _set(job, state=Upload.State.PROCESSING)


def _create_remote_file(job: _Job) -> None:
    folder_id = scene_folder(job.client, account_id=job.account_id, scene=job.shot.scene)
    created = job.client.create_local_upload(
        account_id=job.account_id, folder_id=folder_id, name=job.path.name, file_size=job.render.size
    )
    plan = _part_plan([url.size for url in created.upload_urls], job.render.size)
    with transaction.atomic():  # the file id and the plan are saved before the first byte goes up
        UploadPart.objects.filter(upload=job.upload).delete()
        UploadPart.objects.bulk_create(
            UploadPart(upload=job.upload, index=i, offset=offset, size=size, url_enc=encrypt(url.url))
            for i, ((offset, size), url) in enumerate(zip(plan, created.upload_urls, strict=True))
        )
        _set(
            job,
            state=Upload.State.UPLOADING,
            frameio_file_id=created.file.id,
            media_type=created.file.media_type or "application/octet-stream",
            view_url=created.file.view_url or "",
            bytes_total=job.render.size,
            bytes_done=0,
        )
    logger.info("upload %s: Frame.io file %s, %s parts", job.upload.pk, created.file.id, len(plan))


def _part_plan(sizes: list[int], total: int) -> list[tuple[int, int]]:
    if not sizes or sum(sizes) != total:
        raise UploadFailed(f"Frame.io planned {len(sizes)} parts of {sum(sizes)} bytes for a {total}-byte file")
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]
    return list(zip(offsets, sizes, strict=True))


def _delete_remote_file(job: _Job) -> None:
    _delete_if_present(job, job.upload.frameio_file_id)
    _set(job, frameio_file_id="")


def _delete_orphan(job: _Job) -> None:
    """A Frame.io file left by an earlier content of this render, or by an expired attempt."""
    _delete_if_present(job, job.upload.orphan_file_id)
    _set(job, orphan_file_id="")


def _delete_if_present(job: _Job, file_id: str) -> None:
    """Delete a Frame.io file; one already gone (a retry after the delete landed) is fine."""
    try:
        job.client.delete_file(account_id=job.account_id, file_id=file_id)
    except FrameioError as exc:
        if exc.status != 404:
            raise


def _set(job: _Job, **fields) -> None:
    """Save fields of this attempt's upload, only while it holds the lease (a restart or a takeover
    clears or changes lease_owner: then this attempt stops)."""
    if not Upload.objects.filter(pk=job.upload.pk, lease_owner=job.owner).update(**fields, updated_at=timezone.now()):
        raise Stopped()
    for name, value in fields.items():
        setattr(job.upload, name, value)


# --- parts ----------------------------------------------------------------------------------


def open_render(render: Render, path: Path) -> int:
    """A descriptor on the very file that was verified: opened without following a symlink, then
    checked (inode, size, mtime) on the descriptor itself, so a file swapped for a link to something
    else (a key, another render) after the check is never read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise UploadFailed(
            f"{render.path}: cannot open ({exc.strerror}); the watcher will look again", permanent=True
        ) from None
    stat = os.fstat(fd)
    if (stat.st_ino, stat.st_size, stat.st_mtime_ns) != (render.inode, render.size, render.mtime_ns):
        os.close(fd)
        raise UploadFailed(f"{render.path}: the file changed since it was verified", permanent=True)
    return fd


class PartBody:
    """A slice of an open file as a request body: read in small blocks with pread (parts in flight
    share one descriptor), with a length so that requests sends Content-Length (S3 refuses chunked
    PUTs). Memory stays at one block per part in flight."""

    def __init__(self, fd: int, offset: int, size: int, on_bytes: Callable[[int], None]) -> None:
        self._fd = fd
        self._position = offset
        self._left = size
        self._size = size
        self._on_bytes = on_bytes

    def __len__(self) -> int:
        return self._size

    def read(self, amount: int = -1) -> bytes:
        amount = self._left if amount is None or amount < 0 else min(amount, self._left)
        data = os.pread(self._fd, amount, self._position)
        self._position += len(data)
        self._left -= len(data)
        self._on_bytes(len(data))
        return data


class Progress:
    """Bytes sent (including parts in flight), the rate over the last seconds, and the ETA."""

    def __init__(self, upload_id: int, total: int, done: int, sink: Callable[["Progress"], None]) -> None:
        self.upload_id, self.total, self.sent = upload_id, total, done
        self._sink = sink
        self._lock = threading.Lock()
        self._samples: list[tuple[float, int]] = [(time.monotonic(), done)]
        self._last_emit = 0.0

    def add(self, amount: int) -> None:
        with self._lock:
            self.sent += amount
            now = time.monotonic()
            if now - self._last_emit < 0.5:  # two updates a second at most
                return
            self._last_emit = now
            self._samples = [(t, b) for t, b in self._samples if now - t < 5.0] + [(now, self.sent)]
        self._sink(self)

    def rewind(self, amount: int) -> None:  # a part that failed half-way is sent again
        with self._lock:
            self.sent -= amount

    @property
    def rate(self) -> float:
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        rate = self.rate
        return (self.total - self.sent) / rate if rate > 0 else None


def _store_progress(progress: Progress) -> None:
    """The live figure for the dashboard (the resume point is the parts' done_at, not this)."""
    realtime.publish(
        "upload.progress",
        {
            "upload_id": progress.upload_id,
            "bytes_sent": progress.sent,
            "bytes_total": progress.total,
            "rate_bps": round(progress.rate),
            "eta_seconds": None if progress.eta_seconds is None else round(progress.eta_seconds),
            "state": Upload.State.UPLOADING,
        },
    )


_thread_sessions = threading.local()


def _session() -> requests.Session:
    if not hasattr(_thread_sessions, "session"):
        _thread_sessions.session = requests.Session()
    return _thread_sessions.session


def _put_parts(job: _Job, keeper: _LeaseKeeper, on_progress) -> None:
    pending = list(UploadPart.objects.filter(upload=job.upload, done_at__isnull=True))
    if not pending:
        return
    progress = Progress(job.upload.pk, job.upload.bytes_total, job.upload.bytes_done, on_progress)
    stop = threading.Event()
    fd = open_render(job.render, job.path)

    def send(part: UploadPart) -> None:
        try:
            if stop.is_set():
                return
            keeper.check()
            _put_part(job, fd, part, progress, stop)
            now = timezone.now()
            with transaction.atomic():
                UploadPart.objects.filter(pk=part.pk).update(done_at=now)
                Upload.objects.filter(pk=job.upload.pk, lease_owner=job.owner).update(
                    bytes_done=F("bytes_done") + part.size
                )
        finally:
            connection.close()  # each pool thread has its own database connection

    try:
        with ThreadPoolExecutor(max_workers=settings.FRAMEIO_PART_CONCURRENCY, thread_name_prefix="part") as pool:
            futures = [pool.submit(send, part) for part in pending]
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            errors = [f.exception() for f in finished if f.exception() is not None]
            if errors:
                stop.set()  # the parts not started yet are left for the next attempt
                wait(futures)
                raise _first_of(errors)
    finally:
        os.close(fd)
    job.upload.refresh_from_db(fields=["bytes_done", "state"])
    if job.upload.state == Upload.State.CANCELLED:
        raise Stopped()


def _first_of(errors: list[BaseException]) -> BaseException:
    for kind in (Stopped, UrlsExpired):  # these decide what happens next
        for error in errors:
            if isinstance(error, kind):
                return error
    return errors[0]


def _put_part(job: _Job, fd: int, part: UploadPart, progress: Progress, stop: threading.Event) -> None:
    url = decrypt(part.url_enc)
    headers = {"Content-Type": job.upload.media_type, "x-amz-acl": "private"}
    for attempt in range(settings.FRAMEIO_PART_RETRIES):
        sent = 0

        def counted(amount: int) -> None:
            nonlocal sent
            sent += amount
            progress.add(amount)

        body = PartBody(fd, part.offset, part.size, counted)
        try:
            response = _session().put(url, data=body, headers=headers, timeout=PART_TIMEOUT)
        except requests.RequestException as exc:
            reason = f"part {part.index + 1}: {type(exc).__name__}"
        else:
            if response.ok:
                return
            if response.status_code == 403 and "Request has expired" in response.text:
                raise UrlsExpired()
            reason = f"part {part.index + 1}: HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code not in (408, 429):
                raise UploadFailed(f"{reason} from {redact_url(url)}: {redact(response.text[:200])}")
        progress.rewind(sent)
        if stop.is_set():
            raise Stopped()
        delay = random.uniform(0, min(30.0, 0.5 * 2**attempt))  # noqa: S311 - jitter, not crypto
        logger.info("upload %s %s; retrying in %.1f s", job.upload.pk, reason, delay)
        time.sleep(delay)
    raise UploadFailed(f"{reason} after {settings.FRAMEIO_PART_RETRIES} tries")


# --- after the bytes --------------------------------------------------------------------------


def _wait_complete(job: _Job) -> None:
    deadline = time.monotonic() + settings.FRAMEIO_UPLOAD_COMPLETE_TIMEOUT
    delay = STATUS_POLL[0]
    while True:
        status = job.client.file_upload_status(account_id=job.account_id, file_id=job.upload.frameio_file_id)
        if status.upload_complete:
            break
        if status.upload_failed:
            _delete_remote_file(job)  # the next attempt starts a new file
            _set(job, state=Upload.State.QUEUED)
            raise UploadFailed("Frame.io reports the upload failed")
        if time.monotonic() + delay > deadline:
            raise UploadFailed(
                f"Frame.io did not report upload_complete within {settings.FRAMEIO_UPLOAD_COMPLETE_TIMEOUT:g} s"
            )
        time.sleep(delay)
        delay = min(delay * 2, STATUS_POLL[1])
    now = timezone.now()
    # One transaction: the upload, its render and the "render uploaded" message commit together, so
    # a crash cannot leave an uploaded render whose message was never queued.
    with transaction.atomic():
        _set(job, state=Upload.State.UPLOADED, uploaded_at=now, bytes_done=job.upload.bytes_total)
        render_mark_uploaded(render_id=job.render.pk, checksum=job.upload.checksum)
        # Listeners (alerts: the Discord message in the outbox, the metric on commit) write in this transaction.
        frameio_signals.upload_finished.send(sender=Upload, upload_id=job.upload.pk)
    logger.info("upload %s complete: %s", job.upload.pk, job.upload.view_url)


def _after_upload(job: _Job) -> None:
    now = timezone.now()
    if not job.upload.stacked_at:
        _stack(job)
        _set(job, stacked_at=now)
    if not job.upload.shot_moved_at:
        shot_try_transition(
            shot_id=job.shot.pk,
            to_status=Status.REVIEW_UPLOADED,
            actor="frameio",
            details={"upload_id": job.upload.pk, "version": job.render.version, "view_url": job.upload.view_url},
        )
        _set(job, shot_moved_at=now, last_error="")
    _flush_review_status(job.client)


def _stack(job: _Job) -> None:
    """Stack the file onto the shot's previous version: the stack is created at the second
    version, later versions move into it. No transaction is held across the Frame.io calls: the
    stack id is saved with a compare-and-set on the shot, and an upload that created a stack
    concurrently with another moves its file into the one that was saved."""
    shot = Shot.objects.get(pk=job.shot.pk)
    stack_id = shot.frameio_version_stack_id or _stack_holding(job)
    if stack_id:
        moved = job.client.move_file(account_id=job.account_id, file_id=job.upload.frameio_file_id, parent_id=stack_id)
        logger.info("upload %s: v%s moved into version stack %s", job.upload.pk, job.render.version, moved.parent_id)
        Shot.objects.filter(pk=shot.pk, frameio_version_stack_id="").update(frameio_version_stack_id=stack_id)
        return
    previous = _previous_version_file(job)
    if previous is None:
        return  # the shot's first version stays a plain file
    folder_id = scene_folder(job.client, account_id=job.account_id, scene=job.shot.scene)
    stack = job.client.create_version_stack(
        account_id=job.account_id, folder_id=folder_id, file_ids=[previous, job.upload.frameio_file_id]
    )
    if Shot.objects.filter(pk=shot.pk, frameio_version_stack_id="").update(frameio_version_stack_id=stack.id):
        return
    winner = Shot.objects.values_list("frameio_version_stack_id", flat=True).get(pk=shot.pk)
    logger.warning("upload %s: version stack %s lost a race to %s; moving into it", job.upload.pk, stack.id, winner)
    for file_id in (previous, job.upload.frameio_file_id):
        job.client.move_file(account_id=job.account_id, file_id=file_id, parent_id=winner)


def _stack_holding(job: _Job) -> str:
    """If a crash came between creating the stack and saving its id, the file already sits in it."""
    file = job.client.show_file(account_id=job.account_id, file_id=job.upload.frameio_file_id)
    if not file.parent_id or file.parent_id == job.shot.scene.frameio_folder_id:
        return ""
    try:
        return job.client.show_version_stack(account_id=job.account_id, version_stack_id=file.parent_id).id
    except FrameioError:
        return ""


def _previous_version_file(job: _Job) -> str | None:
    return (
        Upload.objects.filter(
            render__shot=job.shot,
            render__version__lt=job.render.version,
            state__in=[Upload.State.UPLOADED, Upload.State.READY],
        )
        .exclude(frameio_file_id="")
        .order_by("-render__version")
        .values_list("frameio_file_id", flat=True)
        .first()
    )


def _pending_status():
    return Upload.objects.filter(
        state__in=[Upload.State.UPLOADED, Upload.State.READY], status_field_set_at__isnull=True
    ).exclude(frameio_file_id="")


def _flush_review_status(client: FrameioClient) -> int:
    """Set Frame.io's "Status" field to FRAMEIO_STATUS_NEEDS_REVIEW on every new upload, up to
    100 files a call (the bulk update allows 10 calls a minute)."""
    pending = list(
        _pending_status().values_list("pk", "frameio_file_id", "render__shot__project__frameio_project_id")[
            :METADATA_BATCH
        ]
    )
    if not pending:
        return 0
    account_id = effective_target().account_id
    field_id, option_id = _status_option(client, account_id)
    for project_id in {project for _, _, project in pending}:
        batch = [(pk, file_id) for pk, file_id, project in pending if project == project_id]
        client.update_metadata_values(
            account_id=account_id,
            project_id=project_id,
            file_ids=[file_id for _, file_id in batch],
            values=[{"field_definition_id": field_id, "value": [option_id]}],
        )
        Upload.objects.filter(pk__in=[pk for pk, _ in batch]).update(status_field_set_at=timezone.now())
    return len(pending)


_status_cache: dict[str, tuple[str, str]] = {}


def _status_option(client: FrameioClient, account_id: str) -> tuple[str, str]:
    """(field id, option id) of the Status field's "needs review" option, found by name once."""
    wanted = settings.FRAMEIO_STATUS_NEEDS_REVIEW
    key = f"{account_id}:{wanted}"
    if key not in _status_cache:
        fields = [f for f in client.list_field_definitions(account_id=account_id) if (f.name or "").lower() == "status"]
        if not fields:
            raise UploadFailed("Frame.io has no metadata field named Status in this account")
        options = {o.display_name.lower(): o.id for o in fields[0].options}
        if wanted.lower() not in options:
            known = ", ".join(o.display_name for o in fields[0].options)
            raise UploadFailed(
                f"the Status field has no option {wanted!r} (FRAMEIO_STATUS_NEEDS_REVIEW); it has {known}"
            )
        _status_cache[key] = (fields[0].id, options[wanted.lower()])
    return _status_cache[key]


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
            Upload.objects.filter(pk=upload.pk, state=Upload.State.UPLOADED).update(
                state=Upload.State.READY, ready_at=timezone.now()
            )
            ready += 1
    return ready


# --- structure ------------------------------------------------------------------------------


def ensure_project(client: FrameioClient, *, project: Project) -> Project:
    """The production's Frame.io project, found by name or created. The Frame.io calls run outside
    any transaction; the ids are saved with a compare-and-set, and a loser adopts the winner's ids."""
    if project.frameio_project_id and project.frameio_root_folder_id:
        return project
    project = Project.objects.get(pk=project.pk)
    if project.frameio_project_id and project.frameio_root_folder_id:
        return project
    target = effective_target()
    if target.project_id:
        remote = client.show_project(account_id=target.account_id, project_id=target.project_id)
    else:
        remote = next(
            (
                p
                for p in client.list_projects(account_id=target.account_id, workspace_id=target.workspace_id)
                if p.name == project.name
            ),
            None,
        ) or client.create_project(account_id=target.account_id, workspace_id=target.workspace_id, name=project.name)
    unset = Q(frameio_project_id="") | Q(frameio_root_folder_id="")
    won = Project.objects.filter(unset, pk=project.pk).update(
        frameio_project_id=remote.id, frameio_root_folder_id=remote.root_folder_id or ""
    )
    if won and not target.project_id:
        connection_set_target(target=target_with_project(target, remote))
    project.refresh_from_db(fields=["frameio_project_id", "frameio_root_folder_id"])
    return project


def scene_folder(client: FrameioClient, *, account_id: str, scene: Scene) -> str:
    """The scene's folder id, created once. No transaction is held across the Frame.io calls: a folder
    of that name is adopted (a crash after creating it, or another worker's), else one is created and
    saved with a compare-and-set; a worker that loses adopts the winner's and deletes its own."""
    frameio_signals.scene_folder_lookup.send(sender=Scene, cached=bool(scene.frameio_folder_id))  # cache hit rate
    if scene.frameio_folder_id:
        return scene.frameio_folder_id
    project = ensure_project(client, project=scene.project)
    current = Scene.objects.get(pk=scene.pk)
    if not current.frameio_folder_id:
        name = folder_name(current)
        existing = next(
            (
                c
                for c in client.list_children(account_id=account_id, folder_id=project.frameio_root_folder_id)
                if c.type == "folder" and c.name == name
            ),
            None,
        )
        folder = existing or client.create_folder(
            account_id=account_id, parent_id=project.frameio_root_folder_id, name=name
        )
        if not Scene.objects.filter(pk=scene.pk, frameio_folder_id="").update(frameio_folder_id=folder.id):
            current.refresh_from_db(fields=["frameio_folder_id"])
            if existing is None and current.frameio_folder_id != folder.id:
                _delete_new_folder(client, account_id, folder.id)  # empty: this worker just created it
        else:
            current.frameio_folder_id = folder.id
    scene.frameio_folder_id = current.frameio_folder_id
    return scene.frameio_folder_id


def _delete_new_folder(client: FrameioClient, account_id: str, folder_id: str) -> None:
    try:
        client.delete_folder(account_id=account_id, folder_id=folder_id)
    except FrameioError as exc:
        logger.warning("could not delete the duplicate Frame.io folder %s: %s", folder_id, exc)


def folder_name(scene: Scene) -> str:
    """`SEQ01 - REVEIL HOPITAL - JOUR`: sorts in scene order in Frame.io."""
    return f"SEQ{scene.number:02d} - {scene.name}"


# --- failures -------------------------------------------------------------------------------


def _attempt_failed(upload_id: int, owner: str, exc: BaseException) -> None:
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
        mine.filter(state__in=Upload.ACTIVE).update(state=Upload.State.FAILED, last_error=reason, next_attempt_at=None)
        logger.error("upload %s failed after %s attempt(s): %s", upload_id, upload.attempts, reason)
        return
    delay = timedelta(seconds=min(3600, 30 * 2 ** (max(upload.attempts, 1) - 1)))
    mine.update(last_error=reason, next_attempt_at=timezone.now() + delay)
    logger.warning("upload %s attempt %s failed (%s); next try in %s", upload_id, upload.attempts, reason, delay)


def _restart(upload: Upload, render: Render) -> None:
    """New content for the same render (the watcher verified it again): start over. A Frame.io file
    of the old content that never finished uploading is deleted by the next attempt; a finished one
    stays in Frame.io as what was reviewed."""
    UploadPart.objects.filter(upload=upload).delete()
    finished = upload.state in (Upload.State.UPLOADED, Upload.State.READY)
    Upload.objects.filter(pk=upload.pk).update(
        state=Upload.State.QUEUED,
        checksum=render.checksum,
        frameio_file_id="",
        orphan_file_id="" if finished else upload.frameio_file_id,
        bytes_total=render.size,
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
