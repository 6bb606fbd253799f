"""Every write to a shot's status goes through here, audited in the same transaction."""

import logging

from django.db import transaction

from postflow import realtime
from shots.models import Shot, ShotEvent
from shots.signals import status_changed
from shots.workflow import ORDER, Status, catch_up_path, describe_allowed, is_allowed

logger = logging.getLogger(__name__)


class ShotStatusError(Exception):
    """A status change that cannot be made; the message says why and what to do."""


class InvalidTransition(ShotStatusError):
    def __init__(self, shot: Shot, to_status: str) -> None:
        self.shot, self.from_status, self.to_status = shot, shot.status, to_status
        super().__init__(
            f"{shot}: cannot move from {shot.status} to {to_status}; "
            f"allowed from {shot.status}: {describe_allowed(shot.status)}"
        )


class ConcurrentTransition(ShotStatusError):
    def __init__(self, shot: Shot, to_status: str) -> None:
        super().__init__(
            f"{shot}: its status changed from {shot.status} while moving it to {to_status}; reload and try again"
        )


def _apply(*, shot: Shot, to_status: Status, kind: str, actor: str, reason: str, details: dict) -> ShotEvent:
    # Compare-and-set: the UPDATE only matches if nobody moved the shot since we read it,
    # so of two concurrent moves exactly one wins and the other raises.
    updated = Shot.objects.filter(pk=shot.pk, status=shot.status).update(status=to_status)
    if updated != 1:
        raise ConcurrentTransition(shot, to_status)
    event = ShotEvent.objects.create(
        shot=shot,
        kind=kind,
        from_status=shot.status,
        to_status=to_status,
        actor=actor,
        reason=reason,
        details=details,
    )
    _publish_status_event(event)  # on commit: the dashboards see it, or nothing if rolled back
    logger.info("shot %s: %s -> %s by %s", shot, shot.status, to_status, actor)
    from_status, shot.status = shot.status, to_status
    # In this transaction: the delivery app records what was approved with the move, or not at all.
    status_changed.send(
        sender=Shot,
        shot_id=shot.pk,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        event_id=event.pk,
        details=details,
    )
    return event


@transaction.atomic
def shot_transition(*, shot_id: int, to_status: str, actor: str, reason: str = "", details: dict | None = None) -> Shot:
    """Move a shot along an allowed edge of the machine; raise InvalidTransition otherwise."""
    target = _parse_status(to_status)
    shot = Shot.objects.select_related("project").get(pk=shot_id)
    if not is_allowed(shot.status, target):
        raise InvalidTransition(shot, target)
    _apply(
        shot=shot, to_status=target, kind=ShotEvent.Kind.TRANSITION, actor=actor, reason=reason, details=details or {}
    )
    return shot


@transaction.atomic
def shot_force_status(*, shot_id: int, to_status: str, actor: str, reason: str) -> Shot:
    """Set any status (an override). The written reason is mandatory and kept in the audit."""
    target = _parse_status(to_status)
    if not reason.strip():
        raise ShotStatusError("forcing a status needs a written reason")
    shot = Shot.objects.select_related("project").get(pk=shot_id)
    if shot.status == target:
        raise ShotStatusError(f"{shot} is already {target}")
    _apply(shot=shot, to_status=target, kind=ShotEvent.Kind.OVERRIDE, actor=actor, reason=reason.strip(), details={})
    return shot


def shot_try_transition(
    *, shot_id: int, to_status: str, actor: str, reason: str = "", details: dict | None = None
) -> bool:
    """For automatic moves (watcher, Frame.io): move if the machine allows, else record the refusal.

    Returns True when the shot moved. A refused move is written as a REFUSED event, so that
    producers see what the pipeline wanted and why it did not happen; nothing is forced.
    """
    try:
        shot_transition(shot_id=shot_id, to_status=to_status, actor=actor, reason=reason, details=details)
    except InvalidTransition as exc:
        _record_refusal(exc.shot, exc.to_status, actor=actor, reason=str(exc), details=details or {})
        return False
    return True


@transaction.atomic
def shot_catch_up(
    *, shot_id: int, to_status: str, actor: str, evidence: str, details: dict | None = None, at_least: bool = False
) -> bool:
    """For moves from evidence (a render, a source, a file in a shot's folder): the shot walks the legal
    path forward to `to_status` (workflow.catch_up_path), one TRANSITION event per step, each naming
    the evidence. The same status again is a no-op. What cannot be reached forward (backwards, out of
    final_delivery) is recorded as REFUSED, never forced. True when the shot is at `to_status`.

    `at_least`: the evidence says the shot got at least that far (an After Effects project saved, key
    frames made): a shot already further along in the pipeline's order is left alone, silently, as
    the work goes on being saved long after its stage."""
    target = _parse_status(to_status)
    shot = Shot.objects.select_related("project").get(pk=shot_id)
    path = catch_up_path(shot.status, target)
    facts = {**(details or {}), "evidence": evidence}
    if path is None and at_least and ORDER.index(Status(shot.status)) >= ORDER.index(target):
        return True
    if path is None:
        _record_refusal(
            shot, target, actor=actor, reason=f"{_refusal(shot, target)} (evidence: {evidence})", details=facts
        )
        return False
    reason = f"evidence: {evidence}"
    for step in path:
        _apply(shot=shot, to_status=step, kind=ShotEvent.Kind.TRANSITION, actor=actor, reason=reason, details=facts)
    return True


def _refusal(shot: Shot, target: Status) -> str:
    return str(InvalidTransition(shot, target))


def _record_refusal(shot: Shot, target: Status, *, actor: str, reason: str, details: dict) -> None:
    """What the pipeline wanted and why it did not happen, for producers to see; nothing is forced."""
    refused = ShotEvent.objects.create(
        shot=shot,
        kind=ShotEvent.Kind.REFUSED,
        from_status=shot.status,
        to_status=target,
        actor=actor,
        reason=reason,
        details=details,
    )
    _publish_status_event(refused)


def _publish_status_event(event: ShotEvent) -> None:
    """A ShotEvent that changed a status (transition or override) or was refused, as "shot.status"."""
    shot = event.shot
    realtime.publish(
        "shot.status",
        {
            "event_id": event.id,
            "shot_id": shot.pk,
            "shot": str(shot),
            "project_id": shot.project_id,
            "scene_id": shot.scene_id,
            "omitted": shot.omitted,
            "kind": event.kind,
            "from": event.from_status,
            "to": event.to_status,
            "actor": event.actor,
            "reason": event.reason,
        },
    )


def _parse_status(value: str) -> Status:
    try:
        return Status(value)
    except ValueError:
        raise ShotStatusError(f"unknown status {value!r}; statuses: {', '.join(Status.values)}") from None
