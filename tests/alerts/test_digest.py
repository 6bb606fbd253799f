"""The daily digest: one per project per day, from the digest hour on."""

from datetime import timedelta

import pytest

from alerts.notify import digests_due
from shots.models import ShotEvent
from shots.workflow import Status
from tests.alerts.conftest import NOW, discord_messages
from tests.factories import make_project, make_scene, make_shot

pytestmark = pytest.mark.django_db


def test_one_digest_per_project_per_day(discord, settings):
    settings.POSTFLOW_DIGEST_DAILY_HOUR = 9
    project = make_project(code="UNDLM", name="UNDLM Documentary")
    scene = make_scene(project, "DAY")
    make_shot(project, scene=scene, status=Status.FINAL_DELIVERY)
    shot = make_shot(project, scene=scene, status=Status.REVIEW_APPROVED)
    make_shot(project, scene=scene, status=Status.PENDING)
    event = ShotEvent.objects.create(shot=shot, kind="transition", from_status="review_uploaded",
                                     to_status="review_approved", actor="frameio")  # fmt: skip
    ShotEvent.objects.filter(pk=event.pk).update(created_at=NOW - timedelta(hours=2))
    make_project(code="EMPTY")  # no shots: no digest

    assert digests_due(now=NOW - timedelta(minutes=1)) == []  # 08:59: not yet
    assert len(digests_due(now=NOW)) == 1
    assert digests_due(now=NOW + timedelta(hours=5)) == []  # the same day: once
    [message] = discord_messages(kind="digest")
    card = message.payload["embeds"][0]
    assert card["title"] == "UNDLM Documentary: digest of Thursday 26 November 2026"
    assert card["description"] == (
        "**64 % complete**, 1 of 3 shots delivered.\nPending 1 · Review approved 1 · Final delivery 1"
    )
    fields = {f["name"]: f["value"] for f in card["fields"]}
    assert fields["Approved (24 h)"] == "1" and fields["Moves (24 h)"] == "1" and fields["Open alerts"] == "0"
    assert len(digests_due(now=NOW + timedelta(days=1))) == 1  # the next day
