"""Review decisions from Frame.io reach Discord with the notes, once per move."""

import pytest

from alerts import hooks
from frameio import review
from frameio.models import ReviewNote
from shots.models import Shot
from shots.workflow import Status
from tests.alerts.conftest import discord_messages

pytestmark = pytest.mark.django_db


@pytest.fixture
def in_review(shot_upload):
    Shot.objects.filter(pk=shot_upload.render.shot_id).update(status=Status.REVIEW_UPLOADED)
    shot = shot_upload.render.shot
    for n, (frame, text, author) in enumerate(
        [(26, "la perche @everyone", "Ada"), (1, "étalonnage plus chaud", "Bob")]
    ):
        ReviewNote.objects.create(
            frameio_comment_id=f"c{n}", frameio_file_id="f1", shot=shot, render=shot_upload.render, version=3,
            text=text, author=author, frame=frame, render_fps=25.0,
        )  # fmt: skip
    return shot_upload


def test_changes_requested_in_frameio_posts_the_notes(in_review, discord, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        outcome = review.status_apply(upload=in_review, file_id="f1", option="Needs Changes")
    assert "moved to revision_requested" in outcome
    [message] = discord_messages(kind="reviews")
    card = message.payload["embeds"][0]
    assert card["title"] == "UNDLM_00042 v003: changes requested" and card["url"] == in_review.view_url
    assert card["description"].splitlines() == [
        "• `00:00:00:00` étalonnage plus chaud — Bob",
        "• `00:00:01:00` la perche @everyone — Ada",
    ]
    assert message.payload["allowed_mentions"] == {"parse": []}
    # The same Status seen again (webhook and reconciliation both) moves nothing and says nothing.
    with django_capture_on_commit_callbacks(execute=True):
        review.status_apply(upload=in_review, file_id="f1", option="Needs Changes")
    assert len(discord_messages()) == 1


def test_approval_then_a_new_decision_are_two_messages(in_review, discord, django_capture_on_commit_callbacks):
    shot_id = in_review.render.shot_id
    with django_capture_on_commit_callbacks(execute=True):
        review.status_apply(upload=in_review, file_id="f1", option="Approved")
    with django_capture_on_commit_callbacks(execute=True):
        review.status_apply(upload=in_review, file_id="f1", option="Needs Changes")
    titles = [m.payload["embeds"][0]["title"] for m in discord_messages(kind="reviews")]
    assert titles == ["UNDLM_00042 v003: approved", "UNDLM_00042 v003: changes requested"]
    with django_capture_on_commit_callbacks(execute=True):  # other statuses and refused moves say nothing
        hooks.review_decided(shot_id=shot_id, upload_id=in_review.pk, to_status=Status.FINAL_DELIVERY)
        hooks.review_decided(shot_id=shot_id, upload_id=in_review.pk, to_status=Status.REVIEW_APPROVED, moved=False)
    assert len(discord_messages()) == 2
