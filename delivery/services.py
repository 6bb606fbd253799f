"""Every write of the delivery app: approvals recorded, deliveries claimed, delivered, failed, cancelled,
superseded. The shot's move to final_delivery goes through shots.services, actor "delivery".

A delivery runs outside any long transaction: its files are copied and verified (delivery.copying), its
folder sealed with an ASC MHL generation (delivery.manifest), then one transaction records the files,
marks it delivered, supersedes the shot's earlier delivery and moves the shot. Two runs never work in one
folder at once: each holds the folder's lock (an flock, released by the kernel if the run dies).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from delivery import copying, manifest
from delivery.models import DeliveredFile, Delivery
from delivery.plan import Plan, PlanError, plan
from ingest.models import Render
from shots.models import Shot
from shots.services import shot_try_transition
from shots.workflow import Status

logger = logging.getLogger(__name__)

ACTOR = "delivery"
LOCKS = ".postflow-locks"  # under the delivery root, so that no lock file enters a delivered folder


class DeliveryRootError(Exception):
    """The delivery root cannot take a delivery (missing, not a folder, read-only): nothing is copied."""


class Busy(Exception):
    """Another run holds the folder."""


@dataclass
class Outcome:
    """What one shot's delivery did, for the command's report and the batch message."""

    shot: str
    scene: str
    version: int | None
    result: str  # delivered, unchanged, failed, mismatch (delivered files changed), skipped, planned, busy
    delivery_id: int | None = None
    folder: str = ""
    manifest: str = ""
    files: int = 0
    bytes: int = 0
    copied: int = 0
    kept: int = 0
    error: str = ""
    names: list[str] = field(default_factory=list)  # a dry run's files

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "names" or v}


# --- approvals ------------------------------------------------------------------------------------------


def delivery_record_approval(*, shot_id: int, actor: str, version: int | None = None) -> Delivery | None:
    """The shot was approved: record the render approved (the given version, else the shot's latest) and its
    checksum now, so that a render changed later is refused. An open delivery of an earlier approval is
    cancelled. None when the shot has no render to deliver."""
    renders = Render.objects.filter(shot_id=shot_id, state__in=Render.VERSION_STATES)
    if version is not None:
        renders = renders.filter(version=version)
    render = renders.order_by("-version").first()
    if render is None:
        logger.warning("shot %s approved with no render of%s to deliver", shot_id, f" v{version}" if version else "")
        return None
    delivery_cancel_open(shot_id=shot_id, reason=f"approved again (v{render.version:03d})")
    return Delivery.objects.create(
        shot_id=shot_id,
        render=render,
        version=render.version,
        approved_checksum=render.checksum,
        approved_at=timezone.now(),
        approved_by=actor,
    )


def delivery_cancel_open(*, shot_id: int, reason: str) -> int:
    """The shot left review_approved (sent back) or was approved again: its open delivery will not happen."""
    return Delivery.objects.filter(shot_id=shot_id, state__in=Delivery.OPEN).update(
        state=Delivery.State.CANCELLED, error=reason, updated_at=timezone.now()
    )


# --- the delivery root ---------------------------------------------------------------------------------


def delivery_root() -> Path:
    """POSTFLOW_DELIVERY_PATH, ready to write into, or DeliveryRootError with one line a person can act on.

    The default under var/ is made on first use; a configured root never is (an unmounted share must fail,
    not fill its mount point)."""
    root = Path(settings.POSTFLOW_DELIVERY_PATH)
    if root == Path(settings.VAR_DIR) / "delivery":
        root.mkdir(parents=True, exist_ok=True)
    if not root.exists():
        raise DeliveryRootError(f"the delivery folder {root} does not exist (POSTFLOW_DELIVERY_PATH; is it mounted?)")
    if not root.is_dir():
        raise DeliveryRootError(f"the delivery folder {root} is not a folder (POSTFLOW_DELIVERY_PATH)")
    probe = root / f".postflow-write-test-{os.getpid()}"
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise DeliveryRootError(f"the delivery folder {root} is not writable: {exc.strerror or exc}") from None
    return root


@contextmanager
def folder_lock(root: Path, folder: str, *, wait: bool = False) -> Iterator[None]:
    """An exclusive lock on one delivered folder; Busy if another run holds it (or, with `wait`, once it is
    free: a job waits its turn, a person running the command is told)."""
    locks = root / LOCKS
    locks.mkdir(exist_ok=True)
    name = hashlib.sha256(folder.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    with open(locks / f"{name}.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(f"{folder} is being delivered by another run") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- one delivery ------------------------------------------------------------------------------------------


def delivery_run(
    *, delivery_id: int, root: Path, batch: str, write: copying.Writer = copying.write_chunk, wait: bool = False
) -> Outcome:
    """Copy, verify and seal one delivery, then move its shot to final_delivery. A problem fails this delivery
    only (its error names the file), and takes back the files this run put in place. `wait`: for the
    folder's lock, rather than report the shot busy."""
    delivery = Delivery.objects.select_related("shot__scene", "shot__project", "render").get(pk=delivery_id)
    outcome = _outcome(delivery)
    shot_status = Shot.objects.filter(pk=delivery.shot_id).values_list("status", flat=True).get()
    if shot_status != Status.REVIEW_APPROVED:
        delivery_cancel_open(shot_id=delivery.shot_id, reason=f"the shot is {shot_status}, no longer approved")
        return _skipped(outcome, f"the shot is {shot_status}, no longer approved")
    try:
        planned = plan(delivery)
    except PlanError as exc:
        return _failed(delivery, outcome, str(exc))
    outcome.folder, outcome.files, outcome.bytes = planned.folder, len(planned.files), planned.bytes
    try:
        with folder_lock(root, planned.folder, wait=wait):
            if not _claim(delivery):
                return _skipped(outcome, "delivered or cancelled meanwhile")
            return _copy_and_seal(delivery, planned, outcome, root=root, batch=batch, write=write)
    except Busy as exc:
        outcome.result, outcome.error = "busy", str(exc)
        return outcome


def _outcome(delivery: Delivery) -> Outcome:
    shot = delivery.shot
    return Outcome(str(shot), f"{shot.scene.number:02d}", delivery.version, "copying", delivery_id=delivery.pk)


def _claim(delivery: Delivery) -> bool:
    # A copying row is taken too: its run died (we hold the folder's lock, so none is alive in it).
    return bool(
        Delivery.objects.filter(pk=delivery.pk, state__in=Delivery.OPEN).update(
            state=Delivery.State.COPYING, claimed_at=timezone.now(), error=""
        )
    )


def _copy_and_seal(
    delivery: Delivery, planned: Plan, outcome: Outcome, *, root: Path, batch: str, write: copying.Writer
) -> Outcome:
    folder = root / planned.folder
    folder.mkdir(parents=True, exist_ok=True)
    if (free := shutil.disk_usage(folder).free) < planned.bytes:
        return _failed(delivery, outcome, f"{folder}: {planned.bytes:,} bytes to copy, {free:,} free")
    if removed := copying.remove_partials(folder):
        logger.info("%s: removed %d partial file(s) of an interrupted delivery", folder, removed)
    placed: list[Path] = []
    try:
        for item in planned.files:
            target = folder / item.name
            if copying.copy_verified(item.source, target, expected=item.checksum, token=batch, write=write):
                placed.append(target)
    except copying.CopyError as exc:
        for target in placed:  # nothing of a failed delivery stays under a final name
            target.unlink(missing_ok=True)
        return _failed(delivery, outcome, str(exc))
    copying.sync_folder(folder)
    outcome.copied, outcome.kept = len(placed), len(planned.files) - len(placed)
    try:
        sealed = manifest.seal(folder, comment=f"postflow delivery of {delivery.shot} v{delivery.version:03d}")
    except manifest.ManifestError as exc:
        return _failed(delivery, outcome, f"{folder}: {exc}")
    return _delivered(delivery, planned, outcome, root=root, manifest_path=sealed, batch=batch)


def _delivered(
    delivery: Delivery, planned: Plan, outcome: Outcome, *, root: Path, manifest_path: Path, batch: str
) -> Outcome:
    now = timezone.now()
    relative_manifest = manifest_path.relative_to(root).as_posix()
    with transaction.atomic():
        DeliveredFile.objects.filter(delivery=delivery).delete()
        DeliveredFile.objects.bulk_create(
            (
                DeliveredFile(
                    delivery=delivery,
                    source=item.source_relative,
                    path=item.name,
                    frame=item.frame,
                    size=item.size,
                    checksum=item.checksum,
                )
                for item in planned.files
            ),
            batch_size=2000,
        )
        # Still ours: a shot sent back while its files were copying cancelled the delivery (delivery.hooks).
        claimed = Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.COPYING).update(
            state=Delivery.State.DELIVERED,
            root=str(root),
            folder=planned.folder,
            manifest=relative_manifest,
            files=len(planned.files),
            bytes=planned.bytes,
            batch=batch,
            error="",
            delivered_at=now,
            updated_at=now,
        )
        if not claimed:
            transaction.set_rollback(True)
            return _skipped(outcome, "cancelled while it was being copied (the shot left review_approved)")
        Delivery.objects.filter(
            shot_id=delivery.shot_id, state=Delivery.State.DELIVERED, superseded_by__isnull=True
        ).exclude(pk=delivery.pk).update(superseded_by=delivery, superseded_at=now)
        shot_try_transition(
            shot_id=delivery.shot_id,
            to_status=Status.FINAL_DELIVERY,
            actor=ACTOR,
            reason=f"delivered v{delivery.version:03d} to {planned.folder}; manifest {relative_manifest}",
            details={"delivery_id": delivery.pk, "manifest": relative_manifest, "files": len(planned.files)},
        )
    logger.info("delivered %s v%03d to %s (%s)", delivery.shot, delivery.version, planned.folder, relative_manifest)
    outcome.result, outcome.manifest = "delivered", relative_manifest
    return outcome


def _failed(delivery: Delivery, outcome: Outcome, error: str) -> Outcome:
    Delivery.objects.filter(pk=delivery.pk, state__in=Delivery.OPEN).update(
        state=Delivery.State.FAILED, error=error, updated_at=timezone.now()
    )
    logger.warning("delivery of %s v%03d failed: %s", delivery.shot, delivery.version, error)
    outcome.result, outcome.error = "failed", error
    return outcome


def _skipped(outcome: Outcome, why: str) -> Outcome:
    outcome.result, outcome.error = "skipped", why
    return outcome
