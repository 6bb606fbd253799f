"""What alerts does when a lower app reports something: each hook is connected to that app's signal
(alerts/apps.py; frameio.signals, ingest.signals) and can be called directly too. Each records what
happened and, when it is news, writes the notification's outbox row in the caller's transaction: it
commits with the work it reports, or not at all. None of them raises into the caller: the message is
queued in a savepoint, so a failure to queue is logged and cannot break the caller's transaction; a
metric is recorded after commit and may be lost (and logged), never the work being measured."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from django.db import transaction

from alerts import metrics

logger = logging.getLogger(__name__)


def _queue(what: str, send: Callable[..., object], **kwargs: object) -> None:
    """Write the outbox row now, in a savepoint of the caller's transaction; log a failure, never raise."""
    try:
        with transaction.atomic():
            send(**kwargs)
    except Exception:
        logger.exception("could not queue the %s notification (%s)", what, kwargs)


def upload_finished(sender: object = None, *, upload_id: int, **_signal: object) -> None:
    """frameio.signals.upload_finished, sent where an upload becomes UPLOADED (after the row says so): the
    "render uploaded" message with the Frame.io link, queued in the caller's transaction, and its
    metric (bytes, seconds) after commit."""
    from alerts import notify

    _queue("render uploaded", notify.render_uploaded, upload_id=upload_id)
    transaction.on_commit(partial(_upload_metric, upload_id), robust=True)


def _upload_metric(upload_id: int) -> None:
    from frameio.models import Upload

    upload = Upload.objects.select_related("render").filter(pk=upload_id).first()
    if upload is None or upload.uploaded_at is None:
        return
    seconds = (upload.uploaded_at - upload.started_at).total_seconds() if upload.started_at else None
    metrics.record_upload(path=upload.render.path, size=upload.bytes_total, seconds=seconds, at=upload.uploaded_at)


def upload_transfer_measured(
    sender: object = None, *, upload_id: int, rate_bps: float, concurrency: int, pinned: bool, **_signal: object
) -> None:
    """frameio.signals.upload_transfer_measured: the parts of an attempt landed, at this rate, with this many
    in flight (outside any transaction: the part workers have committed each part already)."""
    metrics.record_transfer(upload_id=upload_id, rate_bps=rate_bps, concurrency=concurrency, pinned=pinned)


def scene_folder_lookup(sender: object = None, *, cached: bool, **_signal: object) -> None:
    """frameio.signals.scene_folder_lookup: a scene folder served from its cached id, or looked up / created."""
    metrics.record_structure_lookup(cached=cached)


def watcher_scanned(
    sender: object = None, *, watcher: str, ms: float, files: int, full: bool, **_signal: object
) -> None:
    """ingest.signals.watcher_scanned, sent by Watcher.tick after a scan of a reachable root."""
    metrics.record_scan(watcher=watcher, ms=ms, files=files, full=full)


def source_changed(sender: object = None, *, clip_id: int, **_signal: object) -> None:
    """ingest.signals.source_changed, when the sources check first finds a verified clip gone or changed: its
    alert opens now, in the caller's transaction, rather than at the next evaluation. The `source_changed`
    rule keeps it open while the clip's problem stays, and resolves it once the problem is cleared."""
    _queue("source changed", _source_changed, clip_id=clip_id)


def _source_changed(*, clip_id: int) -> None:
    from alerts import services
    from alerts.rules import source_finding
    from ingest.models import SourceClip

    clip = SourceClip.objects.select_related("source_file").get(pk=clip_id)
    services.alert_fire(rule="source_changed", finding=source_finding(clip))


def review_decided(
    sender: object = None, *, shot_id: int, upload_id: int, to_status: str, moved: bool = True, **_signal: object
) -> None:
    """frameio.signals.review_decided, when a Frame.io Status moved a shot: approved, or changes requested (with
    the notes). Other statuses and refused moves say nothing. Sent inside the transaction of the
    move: the message is written in it, keyed by the move's ShotEvent."""
    _queue("review decided", _review_decided, shot_id=shot_id, upload_id=upload_id, to_status=to_status, moved=moved)


def _review_decided(*, shot_id: int, upload_id: int, to_status: str, moved: bool) -> None:
    from alerts import notify
    from shots.models import ShotEvent
    from shots.workflow import Status

    if not moved or to_status not in (Status.REVIEW_APPROVED, Status.REVISION_REQUESTED):
        return
    event_id = (
        ShotEvent.objects.filter(shot_id=shot_id, to_status=to_status)
        .exclude(kind=ShotEvent.Kind.REFUSED)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    notify.review_decided(shot_id=shot_id, upload_id=upload_id, to_status=to_status, event_id=event_id)


def deliveries_finished(sender: object = None, *, batch: str, delivery_ids: list[int], **_signal: object) -> None:
    """delivery.signals.batch_finished, at the end of a run of deliveries: one message for the whole batch
    (per scene: shots delivered, their manifests; the failures with their reason), in the sender's transaction."""
    from alerts import notify

    _queue("deliveries", notify.deliveries_finished, batch=batch, delivery_ids=delivery_ids)
