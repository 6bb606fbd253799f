"""Who works on an upload: slots (MAX_CONCURRENT_UPLOADS), the order of a shot's versions, and the
lease a worker holds (renewed while it works) so that a job delivered twice does nothing."""

import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Greatest
from django.utils import timezone

from frameio import jobs
from frameio.models import Upload
from frameio.uploads.errors import Stopped
from ingest.models import Render
from postflow.lib import shutdown

logger = logging.getLogger(__name__)


# Uploaded, but the steps after the bytes (stack, shot move) are not all done: retried like an attempt.
# (A render without a shot any more, its new content quarantined, has no version stack or shot to finish.)
AFTER_PENDING = Q(state__in=Upload.IN_FRAMEIO, render__shot__isnull=False) & (
    Q(stacked_at__isnull=True) | Q(shot_moved_at__isnull=True)
)


# Any fixed number: the PostgreSQL advisory lock under which a worker counts the slots and takes one.
_SLOTS_LOCK = 0x706F7374666C6F77  # "postflow"


def new_owner() -> str:
    """A lease owner that says who holds it: `host:pid:token` (a message can name the machine and the
    process; the token tells two attempts of one process apart)."""
    host = socket.gethostname()[:40] or "host"
    return f"{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def waiting_uploads() -> QuerySet[Upload]:
    """Uploads a worker could start now, oldest verified first: active (or with steps after the bytes
    pending), unleased, due, and the render still the content they send."""
    now = timezone.now()
    return (
        Upload.objects.filter(
            Q(state__in=Upload.ACTIVE, render__state=Render.State.QUEUED, render__checksum=F("checksum"))
            | AFTER_PENDING
        )
        .filter(
            Q(lease_until__isnull=True) | Q(lease_until__lt=now),
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        )
        .order_by(F("render__verified_at").asc(nulls_last=True), "pk")
    )


# How far down the waiting line a freed slot looks for an upload that may go now.
_LOOKAHEAD = 50


def start_next_waiting() -> list[int]:
    """Enqueue the oldest waiting uploads that may go now, one per free slot, so that a batch goes up
    as fast as the slots allow (any worker of any machine takes the job), and never more jobs than
    slots (a long queue behind hour-long uploads would otherwise flood the workers every minute). An
    upload that must wait for an earlier version of its shot is passed over, so that it holds nobody
    else up. Called when an attempt frees its slot, and by the reconciler. A job that finds the slot
    taken meanwhile returns; the next freed slot enqueues again. Returns the upload ids enqueued."""
    running = Upload.objects.filter(lease_until__gt=timezone.now())
    free = settings.MAX_CONCURRENT_UPLOADS - running.count()
    if free <= 0:
        return []  # every slot taken: no need to read the waiting line
    ids: list[int] = []
    for upload_id in waiting_uploads().values_list("pk", flat=True)[:_LOOKAHEAD]:
        if len(ids) >= free:
            break
        if not _earlier_or_running_version(upload_id, running):
            ids.append(upload_id)
    for upload_id in ids:
        jobs.enqueue_upload_run(upload_id)
    return ids


def lease_holder(upload: Upload) -> str:
    """Who holds the upload's lease and until when, for a person ("render-box:4242 until 18:03:12"),
    or "" when nobody does."""
    if not upload.lease_owner or upload.lease_until is None or upload.lease_until <= timezone.now():
        return ""
    holder = ":".join(upload.lease_owner.split(":")[:2])
    return f"{holder} until {timezone.localtime(upload.lease_until):%H:%M:%S}"


def claim(upload_id: int, owner: str) -> bool:
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
        waits_for = why_waiting(upload_id, now=now)
        if waits_for:
            logger.info("upload %s waits: %s", upload_id, waits_for)
            return False
        free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
        return bool(
            Upload.objects.filter(free, Q(state__in=Upload.ACTIVE) | AFTER_PENDING, pk=upload_id).update(
                lease_owner=owner, lease_until=now + lease_duration(), attempts=F("attempts") + 1, started_at=now
            )
        )


def why_waiting(upload_id: int, *, now: datetime | None = None) -> str:
    """Why a claim of this upload would wait, or "": every slot is taken, or another version of its
    shot must go first."""
    running = Upload.objects.filter(lease_until__gt=now or timezone.now()).exclude(pk=upload_id)
    busy = running.count()
    if busy >= settings.MAX_CONCURRENT_UPLOADS:
        return f"{busy} uploads running (MAX_CONCURRENT_UPLOADS)"
    return _earlier_or_running_version(upload_id, running)


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
    on_the_way = Q(state__in=Upload.ACTIVE, render__state=Render.State.QUEUED) | AFTER_PENDING
    if siblings.filter(on_the_way, render__version__lt=mine["render__version"]).exists():
        return "an earlier version of its shot goes first"
    return ""


def release(upload_id: int, owner: str, *, give_back_attempt: bool = False) -> None:
    """The attempt is over: its lease is given back (a lease another worker took meanwhile is not).
    So is the attempt the claim counted, when a stopping worker cut it short: a deploy is no try."""
    fields = {"lease_owner": "", "lease_until": None}
    if give_back_attempt:
        fields["attempts"] = Greatest(F("attempts") - 1, 0)  # a retry meanwhile may have reset it to 0
    Upload.objects.filter(pk=upload_id, lease_owner=owner).update(**fields)


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.FRAMEIO_UPLOAD_LEASE_SECONDS)


class LeaseKeeper(threading.Thread):
    """Renews the lease while the attempt runs; notices a cancel, a lost lease or a stop of the worker."""

    def __init__(self, upload_id: int, owner: str) -> None:
        super().__init__(daemon=True, name=f"lease-{upload_id}")
        self.upload_id, self.owner = upload_id, owner
        self.halt = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        lease_until = timezone.now() + lease_duration()  # at most what the claim took
        try:
            while not self.halt.wait(lease_duration().total_seconds() / 4):
                until = timezone.now() + lease_duration()
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
            .exclude(state__in=Upload.ENDED)
            .update(lease_until=until)
        )

    def check(self) -> None:
        if self.lost.is_set() or shutdown.requested():
            raise Stopped()

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=5)
