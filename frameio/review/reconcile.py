"""The schedule's poll: a batch of files of the shots in review, the longest unpolled first, read in
full (comments, Status), so that a missed webhook changes nothing."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import F, OuterRef, QuerySet, Subquery
from django.utils import timezone

from frameio.client import FrameioClient, FrameioError
from frameio.models import ReviewNote, ReviewState, Upload
from frameio.review.notes import note_delete, note_upsert
from frameio.review.reads import account_id_or_fail, client_or_default, list_file_comments, status_option
from frameio.review.status import status_apply
from shots.workflow import STAGE_STATUSES, Stage

logger = logging.getLogger(__name__)


REVIEW_STATUSES = STAGE_STATUSES[Stage.REVIEW]


def files_to_poll(limit: int) -> QuerySet[Upload]:
    """Uploaded files of the shots in review, the longest unpolled first (never polled: first of all)."""
    polled = ReviewState.objects.filter(frameio_file_id=OuterRef("frameio_file_id")).values("polled_at")[:1]
    return (
        Upload.objects.filter(state__in=Upload.IN_FRAMEIO, render__shot__status__in=REVIEW_STATUSES)
        .exclude(frameio_file_id="")
        .annotate(polled=Subquery(polled))
        .order_by(F("polled").asc(nulls_first=True), "pk")
        .select_related("render__shot__project", "render__shot__scene")[:limit]
    )


def file_reconcile(*, upload: Upload, client: FrameioClient, account_id: str) -> dict[str, int]:
    """One file: every comment upserted, notes of vanished comments deleted, the Status applied."""
    file_id = upload.frameio_file_id
    counts = {"notes_changed": 0, "notes_deleted": 0}
    seen: set[str] = set()
    for comment in list_file_comments(client, account_id=account_id, file_id=file_id):
        seen.add(comment.id)
        if comment.file_id and comment.file_id != file_id:
            continue
        _, action = note_upsert(upload=upload, comment=comment)
        counts["notes_changed"] += action != "unchanged"
    vanished = ReviewNote.objects.filter(frameio_file_id=file_id, deleted_at__isnull=True).exclude(
        frameio_comment_id__in=seen
    )
    for comment_id in list(vanished.values_list("frameio_comment_id", flat=True)):
        note_delete(comment_id=comment_id)
        counts["notes_deleted"] += 1
    outcome = status_apply(
        upload=upload, file_id=file_id, option=status_option(client, account_id=account_id, file_id=file_id)
    )
    _mark_polled(upload)
    logger.debug("review reconcile %s: %s, %s", file_id, counts, outcome)
    return counts


def _mark_polled(upload: Upload) -> None:
    state, _ = ReviewState.objects.get_or_create(frameio_file_id=upload.frameio_file_id, defaults={"upload": upload})
    ReviewState.objects.filter(pk=state.pk).update(polled_at=timezone.now())


def review_reconcile(*, client: FrameioClient | None = None, limit: int | None = None) -> dict[str, int]:
    """The schedule's job: poll a batch of files (FRAMEIO_REVIEW_RECONCILE_BATCH). Idempotent."""
    uploads = list(files_to_poll(limit or settings.FRAMEIO_REVIEW_RECONCILE_BATCH))
    totals = {"files": 0, "failed": 0, "notes_changed": 0, "notes_deleted": 0}
    if not uploads:
        return totals
    client = client_or_default(client)
    account_id = account_id_or_fail()
    for upload in uploads:
        try:
            counts = file_reconcile(upload=upload, client=client, account_id=account_id)
        except FrameioError as exc:
            totals["failed"] += 1
            logger.warning("review reconcile of file %s failed: %s", upload.frameio_file_id, exc)
            if not exc.permanent:
                break  # Frame.io is struggling (or rate-limiting): the next run goes on
            _mark_polled(upload)  # gone or forbidden: to the back of the line, not first every run
            continue
        totals["files"] += 1
        for key, value in counts.items():
            totals[key] += value
    if totals["notes_changed"] or totals["notes_deleted"]:
        logger.info("review reconcile caught up: %s", totals)
    return totals
