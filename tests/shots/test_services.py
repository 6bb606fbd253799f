import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from shots.models import Project, Scene, Shot, ShotEvent
from shots.services import (
    ConcurrentTransition,
    InvalidTransition,
    ShotStatusError,
    shot_force_status,
    shot_transition,
    shot_try_transition,
)
from shots.workflow import ALLOWED, STAGE_OF, Stage, Status, allowed_targets

EVERY_ALLOWED_MOVE = [(source, target) for source, targets in ALLOWED.items() for target in sorted(targets)]
FORBIDDEN_SAMPLE = [
    (Status.PENDING, Status.AE_READY),
    (Status.PENDING, Status.FINAL_DELIVERY),
    (Status.AE_IN_PROGRESS, Status.REVIEW_UPLOADED),
    (Status.EBSYNTH_READY, Status.REVIEW_UPLOADED),
    (Status.REVIEW_UPLOADED, Status.FINAL_DELIVERY),
    (Status.FINAL_DELIVERY, Status.REVISION_REQUESTED),
    (Status.REVIEW_APPROVED, Status.PENDING),
    (Status.SOURCES_VERIFIED, Status.SOURCES_VERIFIED),
]


def make_shot(status: Status = Status.PENDING, number: str = "001") -> Shot:
    project, _ = Project.objects.get_or_create(code="UNDLM", defaults={"name": "UNDLM", "fps": 25})
    scene, _ = Scene.objects.get_or_create(project=project, name="SCENE A", defaults={"number": 1})
    return Shot.objects.create(
        project=project, scene=scene, shot_number=number, nomenclature=f"UNDLM_{number:0>5}", status=status
    )


def test_machine_shape():
    assert len(Status) == 12
    assert len(Stage) == 5
    assert set(STAGE_OF) == set(Status)
    assert len(EVERY_ALLOWED_MOVE) == 16
    assert allowed_targets(Status.FINAL_DELIVERY) == []
    assert allowed_targets(Status.AE_COMPLETED) == [Status.EBSYNTH_READY, Status.REVIEW_UPLOADED]


@pytest.mark.django_db
@pytest.mark.parametrize(("source", "target"), EVERY_ALLOWED_MOVE)
def test_every_allowed_move_is_applied_and_audited(source, target):
    shot = make_shot(source)
    moved = shot_transition(shot_id=shot.pk, to_status=target, actor="user:alice", reason="checked")
    assert moved.status == target
    shot.refresh_from_db()
    assert shot.status == target
    event = ShotEvent.objects.get(shot=shot)
    assert (event.kind, event.from_status, event.to_status) == (ShotEvent.Kind.TRANSITION, source, target)
    assert (event.actor, event.reason) == ("user:alice", "checked")
    assert event.created_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize(("source", "target"), FORBIDDEN_SAMPLE)
def test_forbidden_moves_say_from_to_and_what_is_allowed(source, target):
    shot = make_shot(source)
    with pytest.raises(InvalidTransition) as exc:
        shot_transition(shot_id=shot.pk, to_status=target, actor="user:alice")
    message = str(exc.value)
    assert f"from {source} to {target}" in message
    assert "allowed from" in message
    for allowed in allowed_targets(source):
        assert allowed in message
    shot.refresh_from_db()
    assert shot.status == source
    assert not ShotEvent.objects.exists()


@pytest.mark.django_db
def test_unknown_status_is_refused():
    shot = make_shot()
    with pytest.raises(ShotStatusError, match="unknown status 'done'; statuses: pending"):
        shot_transition(shot_id=shot.pk, to_status="done", actor="x")


@pytest.mark.django_db
def test_override_needs_a_reason_and_is_audited_as_such():
    shot = make_shot()
    with pytest.raises(ShotStatusError, match="needs a written reason"):
        shot_force_status(shot_id=shot.pk, to_status=Status.FINAL_DELIVERY, actor="user:bob", reason="  ")
    shot_force_status(shot_id=shot.pk, to_status=Status.FINAL_DELIVERY, actor="user:bob", reason="delivered outside")
    event = ShotEvent.objects.get(shot=shot)
    assert (event.kind, event.from_status, event.to_status) == (ShotEvent.Kind.OVERRIDE, "pending", "final_delivery")
    assert event.reason == "delivered outside"
    with pytest.raises(ShotStatusError, match="already final_delivery"):
        shot_force_status(shot_id=shot.pk, to_status=Status.FINAL_DELIVERY, actor="user:bob", reason="again")


@pytest.mark.django_db
def test_automatic_move_the_machine_forbids_is_recorded_not_forced():
    shot = make_shot(Status.AE_IN_PROGRESS)
    assert shot_try_transition(shot_id=shot.pk, to_status=Status.REVIEW_UPLOADED, actor="watcher") is False
    shot.refresh_from_db()
    assert shot.status == Status.AE_IN_PROGRESS
    event = ShotEvent.objects.get(shot=shot)
    assert (event.kind, event.to_status, event.actor) == (ShotEvent.Kind.REFUSED, "review_uploaded", "watcher")
    assert shot_try_transition(shot_id=shot.pk, to_status=Status.AE_COMPLETED, actor="watcher") is True


@pytest.mark.django_db
def test_stale_read_loses_compare_and_set():
    shot = make_shot()
    Shot.objects.filter(pk=shot.pk).update(status=Status.SOURCES_VERIFIED)  # someone else moved it
    from shots import services

    with pytest.raises(ConcurrentTransition, match="changed from pending"):
        services._apply(
            shot=shot, to_status=Status.SOURCES_VERIFIED, kind="transition", actor="x", reason="", details={}
        )


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_transitions_exactly_one_wins():
    """Two threads, two connections, one SQLite file: both read `pending`, one move lands."""
    shot = make_shot()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def move(target: Status) -> None:
        try:
            barrier.wait()
            shot_transition(shot_id=shot.pk, to_status=target, actor=f"thread:{target}")
            outcomes.append("moved")
        except (InvalidTransition, ConcurrentTransition) as exc:
            outcomes.append(type(exc).__name__)
        finally:
            connection.close()

    for _ in range(10):  # repeat: the interleaving differs from run to run
        Shot.objects.filter(pk=shot.pk).update(status=Status.PENDING)
        ShotEvent.objects.all().delete()
        outcomes.clear()
        threads = [threading.Thread(target=move, args=(Status.SOURCES_VERIFIED,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes)[-1] == "moved" and outcomes.count("moved") == 1, outcomes
        assert ShotEvent.objects.filter(shot=shot).count() == 1


@pytest.mark.django_db
def test_shot_status_command():
    shot = make_shot()
    out = StringIO()
    call_command("shot_status", "UNDLM_00001", "sources_verified", stdout=out)
    assert "pending → sources_verified; next allowed: ae_ready" in out.getvalue()
    with pytest.raises(CommandError, match=r"cannot move from sources_verified to review_approved.*--force --reason"):
        call_command("shot_status", "UNDLM_00001", "review_approved")
    with pytest.raises(CommandError, match="--force needs --reason"):
        call_command("shot_status", "UNDLM_00001", "review_approved", "--force")
    call_command("shot_status", "001", "review_approved", "--force", "--reason", "approved by phone", stdout=out)
    shot.refresh_from_db()
    assert shot.status == Status.REVIEW_APPROVED
    event = shot.events.first()
    assert event.kind == ShotEvent.Kind.OVERRIDE and event.actor.startswith("shell:")
    with pytest.raises(CommandError, match="no shot 'UNDLM_09999'"):
        call_command("shot_status", "UNDLM_09999", "pending")
