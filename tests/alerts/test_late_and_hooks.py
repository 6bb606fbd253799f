"""An alert opened within the cooldown that stays is sent once the cooldown has ended (fake clock);
the hooks write their outbox row in the caller's transaction."""

import logging
from datetime import timedelta

import pytest
from django.db import transaction

from alerts import hooks, notify
from alerts.models import Alert, OutboxMessage
from alerts.rules import Finding, Rule
from alerts.services import alert_acknowledge, alerts_evaluate
from frameio import review
from frameio.models import Upload
from shots.models import Shot, ShotEvent
from shots.workflow import Status
from tests.alerts.conftest import NOW, discord_messages

pytestmark = pytest.mark.django_db


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


class Switch:
    """A rule whose condition the test turns on and off."""

    def __init__(self) -> None:
        self.on = False
        self.rule = Rule(
            "mount_unreachable", lambda ctx: [Finding("mount:a", "Mount gone", "ESTALE")] if self.on else [], ""
        )

    def evaluate(self, at):
        return alerts_evaluate(now=at, rules=[self.rule], sample=False)


def alert_keys() -> list[str]:
    return [m.dedupe_key for m in discord_messages()]


def back_within_the_cooldown() -> tuple[Switch, Alert]:
    """A condition opened (sent) and resolved (sent), back 5 min later: its new alert, not sent yet."""
    switch = Switch()
    switch.on = True
    switch.evaluate(NOW)
    switch.on = False
    switch.evaluate(NOW + minutes(1))
    switch.on = True
    switch.evaluate(NOW + minutes(6))
    return switch, Alert.objects.get(state=Alert.State.OPEN)


# --- 13: a condition that comes back within the cooldown and stays ------------------------------------


def test_a_condition_back_within_the_cooldown_that_stays_is_sent_once_the_cooldown_ends(discord):
    switch = Switch()
    switch.on = True
    switch.evaluate(NOW)  # opened and sent
    switch.on = False
    switch.evaluate(NOW + minutes(1))  # resolved and sent
    first = Alert.objects.get()
    assert alert_keys() == [f"discord:alerts:{first.pk}:opened", f"discord:alerts:{first.pk}:resolved"]

    switch.on = True
    switch.evaluate(NOW + minutes(6))  # back 5 min later: within the cooldown, not sent
    again = Alert.objects.exclude(pk=first.pk).get()
    assert not again.notified and len(alert_keys()) == 2
    switch.evaluate(NOW + minutes(30))  # 29 min after the resolution: still within the cooldown
    again.refresh_from_db()
    assert not again.notified and len(alert_keys()) == 2

    switch.evaluate(NOW + minutes(31))  # the cooldown has ended and it is still there: news after all
    again.refresh_from_db()
    assert again.notified and again.state == Alert.State.OPEN and again.occurrences == 3
    assert alert_keys()[2:] == [f"discord:alerts:{again.pk}:opened"]
    switch.evaluate(NOW + minutes(32))  # once
    switch.evaluate(NOW + 3 * 24 * minutes(60))
    assert len(alert_keys()) == 3

    switch.on = False
    switch.evaluate(NOW + 3 * 24 * minutes(60) + minutes(1))  # and its resolution goes out too
    assert alert_keys()[3:] == [f"discord:alerts:{again.pk}:resolved"]


def test_an_acknowledged_alert_within_the_cooldown_is_not_sent_later(discord):
    switch, again = back_within_the_cooldown()
    assert alert_acknowledge(alert_id=again.pk, actor="user:ada", now=NOW + minutes(7))  # a person saw it
    switch.evaluate(NOW + minutes(60))
    again.refresh_from_db()
    assert not again.notified and len(alert_keys()) == 2


def test_the_late_notification_is_a_compare_and_set(discord):
    switch, again = back_within_the_cooldown()
    Alert.objects.filter(pk=again.pk).update(notified=True)  # a concurrent evaluation got there first
    OutboxMessage.objects.all().delete()
    switch.evaluate(NOW + minutes(60))
    assert alert_keys() == []


# --- 14: the hooks write the outbox row in the caller's transaction ---------------------------------------


def test_the_render_message_commits_with_the_callers_transaction(
    shot_upload, discord, django_capture_on_commit_callbacks
):
    with pytest.raises(RuntimeError), transaction.atomic():
        hooks.upload_finished(upload_id=shot_upload.pk)
        assert len(discord_messages(kind="renders")) == 1  # written now, not after commit
        raise RuntimeError("the caller fails after the hook")
    assert discord_messages() == []  # rolled back with the work it reports

    # No on-commit callback runs (a crash right after the commit, or a callback failing): the row is there.
    with django_capture_on_commit_callbacks(execute=False), transaction.atomic():
        hooks.upload_finished(upload_id=shot_upload.pk)
    [message] = discord_messages(kind="renders")
    assert message.state == OutboxMessage.State.PENDING and message.payload["embeds"][0]["url"] == shot_upload.view_url


def test_the_review_message_commits_with_the_move(shot_upload, discord, django_capture_on_commit_callbacks):
    Shot.objects.filter(pk=shot_upload.render.shot_id).update(status=Status.REVIEW_UPLOADED)
    with pytest.raises(RuntimeError), transaction.atomic():
        review.status_apply(upload=shot_upload, file_id="f1", option="Approved")
        assert len(discord_messages(kind="reviews")) == 1
        raise RuntimeError("the move is rolled back")
    assert discord_messages() == [] and not ShotEvent.objects.filter(to_status=Status.REVIEW_APPROVED).exists()

    with django_capture_on_commit_callbacks(execute=False), transaction.atomic():
        review.status_apply(upload=shot_upload, file_id="f1", option="Approved")
    event = ShotEvent.objects.get(to_status=Status.REVIEW_APPROVED)
    [message] = discord_messages(kind="reviews")
    assert message.dedupe_key == f"discord:reviews:event:{event.pk}"


def test_a_failure_to_queue_is_logged_and_leaves_the_callers_transaction_alone(
    shot_upload, discord, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    def broken(*, upload_id):
        OutboxMessage.objects.create(channel="discord", kind="renders", dedupe_key="half-written", created_at=NOW)
        raise RuntimeError("notify is broken")

    monkeypatch.setattr(notify, "render_uploaded", broken)
    logs = caplog.at_level(logging.ERROR, logger="alerts.hooks")
    with logs, django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        hooks.upload_finished(upload_id=shot_upload.pk)  # does not raise
        Upload.objects.filter(pk=shot_upload.pk).update(frameio_file_id="f2")  # the caller goes on
    assert Upload.objects.get(pk=shot_upload.pk).frameio_file_id == "f2"
    assert not OutboxMessage.objects.exists()  # the savepoint took the half-written row back
    assert "could not queue the render uploaded notification" in caplog.text
