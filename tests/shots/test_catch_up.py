"""Catch-up moves (issue #13): evidence that a shot is further along walks it there, one recorded step at a
time; only what cannot be reached forward is refused."""

import pytest

from shots.models import ShotEvent
from shots.services import shot_catch_up
from shots.workflow import Status, catch_up_path
from tests.factories import make_project, make_shot

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    return make_project(code="UNDLM", name="UNDLM Documentary", fps=25)


def test_a_render_for_a_pending_shot_walks_it_to_review_step_by_step(project):
    shot = make_shot(project, nomenclature="UNDLM_00042", status=Status.PENDING)
    assert shot_catch_up(
        shot_id=shot.pk, to_status=Status.REVIEW_UPLOADED, actor="frameio", evidence="renders/UNDLM_00042_v001.mov"
    )
    shot.refresh_from_db()
    assert shot.status == Status.REVIEW_UPLOADED
    steps = list(shot.events.order_by("id"))
    assert [(e.from_status, e.to_status) for e in steps] == [
        ("pending", "sources_verified"),
        ("sources_verified", "ae_ready"),
        ("ae_ready", "ae_in_progress"),
        ("ae_in_progress", "ae_completed"),
        ("ae_completed", "review_uploaded"),  # the shortest legal way: no EbSynth pass needed
    ]
    assert all(e.kind == ShotEvent.Kind.TRANSITION and e.actor == "frameio" for e in steps)
    assert all(e.details["evidence"] == "renders/UNDLM_00042_v001.mov" for e in steps)
    assert all("UNDLM_00042_v001.mov" in e.reason for e in steps)
    assert not shot.events.filter(kind=ShotEvent.Kind.REFUSED).exists()


def test_the_same_status_again_is_a_no_op_not_a_refusal(project):
    shot = make_shot(project, nomenclature="UNDLM_00042", status=Status.REVIEW_UPLOADED)
    assert shot_catch_up(shot_id=shot.pk, to_status=Status.REVIEW_UPLOADED, actor="frameio", evidence="v002.mov")
    assert not shot.events.exists()


def test_a_move_backwards_is_still_refused(project):
    shot = make_shot(project, nomenclature="UNDLM_00042", status=Status.REVIEW_APPROVED)
    assert not shot_catch_up(shot_id=shot.pk, to_status=Status.AE_COMPLETED, actor="watcher", evidence="ae/x.mov")
    shot.refresh_from_db()
    assert shot.status == Status.REVIEW_APPROVED
    [refused] = shot.events.all()
    assert (refused.kind, refused.to_status) == (ShotEvent.Kind.REFUSED, Status.AE_COMPLETED)
    assert "ae/x.mov" in refused.details["evidence"]


def test_nothing_leaves_final_delivery(project):
    shot = make_shot(project, nomenclature="UNDLM_00042", status=Status.FINAL_DELIVERY)
    assert not shot_catch_up(shot_id=shot.pk, to_status=Status.REVIEW_UPLOADED, actor="frameio", evidence="v9.mov")
    assert shot.events.get().kind == ShotEvent.Kind.REFUSED


def test_rework_after_a_revision_is_forward(project):
    """A revision sends the work back: an AE render during it walks revision -> AE in progress -> AE completed."""
    shot = make_shot(project, nomenclature="UNDLM_00042", status=Status.REVISION_REQUESTED)
    assert shot_catch_up(shot_id=shot.pk, to_status=Status.AE_COMPLETED, actor="watcher", evidence="ae/v4.mov")
    assert [e.to_status for e in shot.events.order_by("id")] == ["ae_in_progress", "ae_completed"]


@pytest.mark.parametrize(
    ("start", "target", "path"),
    [
        (Status.PENDING, Status.SOURCES_VERIFIED, [Status.SOURCES_VERIFIED]),
        (
            Status.AE_READY,
            Status.EBSYNTH_COMPLETED,
            [
                Status.AE_IN_PROGRESS,
                Status.AE_COMPLETED,
                Status.EBSYNTH_READY,
                Status.EBSYNTH_IN_PROGRESS,
                Status.EBSYNTH_COMPLETED,
            ],
        ),
        (Status.REVISION_REQUESTED, Status.REVIEW_UPLOADED, [Status.REVIEW_UPLOADED]),
        (Status.REVIEW_UPLOADED, Status.FINAL_DELIVERY, None),  # an approval is never inferred
        (Status.EBSYNTH_COMPLETED, Status.REVIEW_UPLOADED, [Status.REVIEW_UPLOADED]),
        (Status.REVIEW_APPROVED, Status.REVISION_REQUESTED, [Status.REVISION_REQUESTED]),  # a legal edge stays legal
        (Status.REVIEW_APPROVED, Status.AE_COMPLETED, None),
        (Status.EBSYNTH_COMPLETED, Status.AE_COMPLETED, None),
        (Status.FINAL_DELIVERY, Status.REVIEW_APPROVED, None),
    ],
)
def test_catch_up_paths(start, target, path):
    assert catch_up_path(start, target) == path


def test_at_least_evidence_leaves_a_shot_further_along_alone(project):
    """An After Effects project saved again while the shot is in review is no news, and no refusal."""
    shot = make_shot(project, nomenclature="UNDLM_00042", status=Status.REVIEW_UPLOADED)
    assert shot_catch_up(
        shot_id=shot.pk, to_status=Status.AE_IN_PROGRESS, actor="watcher", evidence="ae/x.aep", at_least=True
    )
    assert not shot.events.exists()
    # Without at_least the same move is a refusal (a render is a version: backwards is worth a look).
    assert not shot_catch_up(shot_id=shot.pk, to_status=Status.AE_IN_PROGRESS, actor="watcher", evidence="ae/x.mov")
    assert shot.events.get().kind == ShotEvent.Kind.REFUSED


def test_at_least_evidence_during_a_revision_starts_the_rework(project):
    shot = make_shot(project, nomenclature="UNDLM_00042", status=Status.REVISION_REQUESTED)
    assert shot_catch_up(
        shot_id=shot.pk, to_status=Status.AE_IN_PROGRESS, actor="watcher", evidence="ae/x.aep", at_least=True
    )
    shot.refresh_from_db()
    assert shot.status == Status.AE_IN_PROGRESS
