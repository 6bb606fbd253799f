"""What delivery does when shots reports a move (shots.signals.status_changed, connected in apps.py).

Runs inside the move's transaction: the approval is recorded with the move (in a savepoint, so that a
failure to record is logged and never undoes the move; `deliver` then records it from the latest render).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from delivery import jobs, services
from shots.workflow import Status

logger = logging.getLogger(__name__)


def shot_status_changed(
    sender: object = None, *, shot_id: int, from_status: str, to_status: str, actor: str, details=None, **_: object
) -> None:
    try:
        with transaction.atomic():
            _apply(shot_id=shot_id, from_status=from_status, to_status=to_status, actor=actor, details=details or {})
    except Exception:
        logger.exception("could not record the delivery side of shot %s moving to %s", shot_id, to_status)


def _apply(*, shot_id: int, from_status: str, to_status: str, actor: str, details: dict) -> None:
    if to_status == Status.REVIEW_APPROVED:
        # A Frame.io Status names the version it was set on; a person's move approves the latest render.
        version = details.get("version") if isinstance(details.get("version"), int) else None
        delivery = services.delivery_record_approval(shot_id=shot_id, actor=actor, version=version)
        if delivery is not None and settings.POSTFLOW_AUTO_DELIVER:
            jobs.deliver_on_commit(delivery.pk)
    elif from_status == Status.REVIEW_APPROVED and to_status != Status.FINAL_DELIVERY:
        services.delivery_cancel_open(shot_id=shot_id, reason=f"sent back to {to_status} by {actor}")
