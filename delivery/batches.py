"""A run of deliveries over chosen shots (`manage.py deliver`, the auto-delivery job): each shot on its own,
one `batch_finished` signal at the end (one message per batch, alerts)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from delivery import copying, manifest
from delivery.models import Delivery
from delivery.plan import PlanError, plan
from delivery.services import Outcome, delivery_record_approval, delivery_root, delivery_run
from delivery.signals import batch_finished
from ingest.models import Render
from shots.models import Shot
from shots.workflow import Status

logger = logging.getLogger(__name__)


RESULTS = ("delivered", "unchanged", "failed", "mismatch", "skipped", "busy", "planned")


@dataclass
class BatchReport:
    batch: str
    root: str
    dry_run: bool
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, result: str) -> int:
        return sum(1 for o in self.outcomes if o.result == result)

    @property
    def failed(self) -> bool:
        return any(o.result in ("failed", "mismatch") for o in self.outcomes)

    def as_dict(self) -> dict:
        counts = {r: self.count(r) for r in RESULTS}
        return {
            "batch": self.batch,
            "root": self.root,
            "dry_run": self.dry_run,
            **counts,
            "deliveries": [o.as_dict() for o in self.outcomes],
        }


def deliver_shots(
    shots: Iterable[Shot], *, dry_run: bool = False, write: copying.Writer = copying.write_chunk
) -> BatchReport:
    """Deliver each approved shot; check each delivered one against its manifest. The root is checked first
    (DeliveryRootError: nothing is copied); an unexpected error stays with its shot."""
    root = delivery_root()
    report = BatchReport(batch=uuid.uuid4().hex[:12], root=str(root), dry_run=dry_run)
    for shot in shots:
        try:
            outcome = _one_shot(shot, root=root, batch=report.batch, dry_run=dry_run, write=write)
        except Exception as exc:  # one shot's surprise is reported with it; the others go on
            logger.exception("delivery of %s failed unexpectedly", shot)
            outcome = Outcome(str(shot), f"{shot.scene.number:02d}", None, "failed", error=f"unexpected: {exc!r}")
        report.outcomes.append(outcome)
    if not dry_run:
        _announce(report)
    return report


def deliver_one(*, delivery_id: int) -> BatchReport | None:
    """The auto-delivery job's work: one delivery, as a batch of its own (its own message)."""
    delivery = Delivery.objects.select_related("shot__scene").filter(pk=delivery_id).first()
    if delivery is None or delivery.state not in Delivery.OPEN:
        return None  # delivered (by a command run, say), or cancelled: safe to run twice
    root = delivery_root()
    report = BatchReport(batch=uuid.uuid4().hex[:12], root=str(root), dry_run=False)
    # A job waits for a folder another run holds (two shots sharing a folder, approved together).
    report.outcomes.append(delivery_run(delivery_id=delivery_id, root=root, batch=report.batch, wait=True))
    _announce(report)
    return report


def _one_shot(shot: Shot, *, root: Path, batch: str, dry_run: bool, write: copying.Writer) -> Outcome:
    scene = f"{shot.scene.number:02d}"
    if shot.status == Status.FINAL_DELIVERY:
        return _check_delivered(shot, root=root)
    if shot.status != Status.REVIEW_APPROVED:
        return Outcome(str(shot), scene, None, "skipped", error=f"{shot.status}: only approved shots are delivered")
    delivery = _open_delivery(shot, dry_run=dry_run)
    if delivery is None:
        return Outcome(str(shot), scene, None, "failed", error="approved, but no verified render to deliver")
    if dry_run:
        return _planned(delivery)
    return delivery_run(delivery_id=delivery.pk, root=root, batch=batch, write=write)


def _open_delivery(shot: Shot, *, dry_run: bool) -> Delivery | None:
    """The delivery recorded at approval; for a shot approved before postflow recorded approvals (or whose
    record failed), one recorded now from its latest render: its changes before now cannot be seen."""
    delivery = Delivery.objects.filter(shot=shot, state__in=Delivery.OPEN).select_related("render").first()
    if delivery is not None or dry_run:
        return delivery or _unsaved_approval(shot)
    return delivery_record_approval(shot_id=shot.pk, actor="deliver (approval not recorded at the time)")


def _unsaved_approval(shot: Shot) -> Delivery | None:
    render = Render.objects.filter(shot=shot, state__in=Render.VERSION_STATES).order_by("-version").first()
    if render is None:
        return None
    return Delivery(shot=shot, render=render, version=render.version, approved_checksum=render.checksum)


def _planned(delivery: Delivery) -> Outcome:
    shot = delivery.shot
    outcome = Outcome(str(shot), f"{shot.scene.number:02d}", delivery.version, "planned", delivery_id=delivery.pk)
    try:
        planned = plan(delivery)
    except PlanError as exc:
        outcome.result, outcome.error = "failed", str(exc)
        return outcome
    outcome.folder, outcome.files, outcome.bytes = planned.folder, len(planned.files), planned.bytes
    outcome.names = [f"{item.source_relative} -> {planned.folder}/{item.name}" for item in planned.files]
    return outcome


def _check_delivered(shot: Shot, *, root: Path) -> Outcome:
    """Delivering again is a no-op while the delivered files match their manifest; a mismatch is reported."""
    scene = f"{shot.scene.number:02d}"
    delivery = (
        Delivery.objects.filter(shot=shot, state=Delivery.State.DELIVERED, superseded_by__isnull=True)
        .order_by("-delivered_at")
        .first()
    )
    if delivery is None:
        return Outcome(str(shot), scene, None, "skipped", error="final_delivery without a postflow delivery")
    outcome = Outcome(str(shot), scene, delivery.version, "unchanged", delivery_id=delivery.pk)
    outcome.folder, outcome.manifest, outcome.files, outcome.bytes = (
        delivery.folder,
        delivery.manifest,
        delivery.files,
        delivery.bytes,
    )
    names = delivery.delivered_files.values_list("path", flat=True)
    if problems := manifest.mismatches(Path(delivery.root or root) / delivery.folder, names):
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        outcome.result, outcome.error = "mismatch", f"the delivered files no longer match the manifest: {shown}"
    return outcome


def _announce(report: BatchReport) -> None:
    """One batch_finished signal for the run (alerts writes its one message in this transaction)."""
    ids = [o.delivery_id for o in report.outcomes if o.result in ("delivered", "failed") and o.delivery_id]
    if not ids:
        return
    with transaction.atomic():
        batch_finished.send(sender=Delivery, batch=report.batch, delivery_ids=ids)
