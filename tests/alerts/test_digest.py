"""The daily and weekly digests (issue #15, point 7): the figures of a fixed period, the text, the JSON, the
Discord embed and the e-mail through the outbox, and the schedules that follow their settings."""

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule
from responses import matchers

from alerts import digest, metrics
from alerts.digest_schedule import NAMES, digest_schedules_sync
from alerts.models import Alert, OutboxMessage
from alerts.tasks import digest_daily
from frameio.models import Upload
from ingest.models import Render
from shots.models import ShotEvent
from shots.workflow import Status
from tests.alerts.conftest import NOW, TOKEN, URL
from tests.factories import make_project, make_render, make_review_note, make_scene, make_shot

pytestmark = pytest.mark.django_db
START = NOW - timedelta(days=1)  # the day up to Thursday 26 November 2026, 09:00 UTC
BEFORE, DURING = START - timedelta(hours=1), NOW - timedelta(hours=3)


def _at(queryset, when: datetime, **fields) -> None:
    """Set auto_now(_add) timestamps as they would have been written at `when`."""
    queryset.update(**{name: when for name in fields})


def _move(shot, to: Status, when: datetime, kind=ShotEvent.Kind.TRANSITION) -> None:
    event = ShotEvent.objects.create(shot=shot, kind=kind, from_status="", to_status=to, actor="test")
    _at(ShotEvent.objects.filter(pk=event.pk), when, created_at=True)


@pytest.fixture
def a_day_of_work():
    """Two projects; over the day: 3 shots moved (one twice in After Effects), one delivered, renders verified and
    quarantined, three uploads (100 MB in 20 s, 300 MB in 30 s, and 1 MB in 10 s, too small for its rate to
    mean anything), review notes, alerts. Before it: what must not count."""
    project = make_project(code="UNDLM", name="UNDLM Documentary")
    scene = make_scene(project, "DAY")
    ae, review, delivered = (make_shot(project, scene=scene, status=s) for s in ("ae_completed", "review_uploaded",
                                                                                 "final_delivery"))  # fmt: skip
    make_shot(make_project(code="OTHER", name="Other film"))  # pending, nothing happened
    _move(ae, Status.AE_IN_PROGRESS, DURING)
    _move(ae, Status.AE_COMPLETED, DURING)
    _move(review, Status.REVIEW_UPLOADED, DURING)
    _move(delivered, Status.FINAL_DELIVERY, DURING, kind=ShotEvent.Kind.OVERRIDE)
    _move(review, Status.EBSYNTH_COMPLETED, BEFORE)  # the day before: not counted
    ShotEvent.objects.create(shot=ae, kind=ShotEvent.Kind.UPDATED, actor="import")  # not a move
    make_render("a.mov", state=Render.State.VERIFIED, verified_at=DURING)
    make_render("b.mov", state=Render.State.UPLOADED, verified_at=DURING)
    make_render("old.mov", state=Render.State.VERIFIED, verified_at=BEFORE)
    _at(Render.objects.filter(pk=make_render("bad.mov", state=Render.State.QUARANTINED).pk), DURING, updated_at=1)
    _at(Render.objects.filter(pk=make_render("bad0.mov", state=Render.State.QUARANTINED).pk), BEFORE, updated_at=1)
    metrics.record_upload(path="a.mov", size=100_000_000, seconds=20.0, at=DURING)
    metrics.record_upload(path="b.mov", size=300_000_000, seconds=30.0, at=DURING)
    metrics.record_upload(path="tiny.mov", size=1_000_000, seconds=10.0, at=DURING)  # 0.1 MB/s: not rated
    metrics.record_upload(path="old.mov", size=1, seconds=1.0, at=BEFORE)
    make_review_note(review, commented_at=DURING)
    make_review_note(review, commented_at=DURING, completed_at=NOW)
    make_review_note(review, commented_at=DURING, deleted_at=NOW)  # deleted in Frame.io: never counted
    make_review_note(review, commented_at=BEFORE)  # still open, from before
    Alert.objects.create(key="a", rule="r", title="t", opened_at=DURING, last_seen_at=DURING)
    Alert.objects.create(key="b", rule="r", title="t", opened_at=BEFORE, last_seen_at=DURING, resolved_at=DURING,
                         state=Alert.State.RESOLVED)  # fmt: skip
    return project


def test_the_figures_of_a_fixed_day(a_day_of_work):
    figures = digest.digest_build(period="day", start=START, end=NOW)
    assert (figures.moves, figures.shots_moved, figures.delivered) == (4, {"After Effects": 1, "Review": 1,
                                                                          "Delivery": 1}, 1)  # fmt: skip
    assert (figures.renders_verified, figures.renders_quarantined) == (2, 1)
    assert figures.uploads["uploaded"] == 3 and figures.uploads["bytes"] == 401_000_000
    assert figures.uploads["rate_mb_s"] == {"mean": 7.5, "median": 7.5}  # 5 and 10 MB/s
    assert (figures.notes_in, figures.notes_in_still_open, figures.notes_open) == (2, 1, 2)
    assert (figures.alerts_opened, figures.alerts_resolved, figures.alerts_open) == (1, 1, 1)
    assert figures.projects == [
        {"code": "OTHER", "name": "Other film", "shots": 1, "delivered": 0, "percent": 0.0},
        {"code": "UNDLM", "name": "UNDLM Documentary", "shots": 3, "delivered": 1, "percent": 69.7},
    ]


def test_a_week_takes_seven_days_and_counts_what_the_day_left_out(a_day_of_work):
    start, end = digest.period_bounds("week", NOW)
    assert (start, end) == (NOW - timedelta(days=7), NOW)
    figures = digest.digest_build(period="week", start=start, end=end)
    assert figures.moves == 5 and figures.shots_moved["EbSynth"] == 1
    assert (figures.renders_verified, figures.renders_quarantined, figures.notes_in) == (3, 2, 3)


def test_a_day_across_the_dst_change_is_25_hours(settings):
    settings.TIME_ZONE = "Europe/Paris"  # summer time ends on Sunday 25 October 2026, 03:00 → 02:00
    end = datetime(2026, 10, 25, 8, 0, tzinfo=UTC)  # 09:00 in Paris
    start, _ = digest.period_bounds("day", end)
    assert timezone.localtime(start).hour == 9 and end - start == timedelta(hours=25)


def test_the_text_and_the_json(a_day_of_work, monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    out = StringIO()
    call_command("postflow_digest", stdout=out)
    text = out.getvalue()
    assert text.startswith("postflow digest, Wed 25 Nov 09:00 to Thu 26 Nov 2026 09:00\n")
    assert "  Shots moved   4 moves; by stage: After Effects 1, Review 1, Delivery 1\n" in text
    assert "  Uploads       3 (0.40 GB), median 7.5 MB/s, 0 failed\n" in text
    assert "  Review notes  2 in (1 still open); 2 open\n" in text
    assert "  UNDLM Documentary: 69.7 % complete, 1 of 3 shots delivered\n" in text
    out = StringIO()
    call_command("postflow_digest", "--period", "week", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["period"] == "week" and data["start"] == (NOW - timedelta(days=7)).isoformat()
    assert data["moves"] == 5 and data["delivered"] == 1 and data["uploads"]["uploaded"] == 4
    assert OutboxMessage.objects.count() == 0  # printed only


def test_send_posts_an_embed_and_mails_through_the_outbox(a_day_of_work, discord, rsps, settings, monkeypatch):
    settings.ALERT_EMAILS = ["supervisor@example.com"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    rsps.post(URL, json={"id": "444"}, match=[matchers.query_param_matcher({"wait": "true"})])
    out, err = StringIO(), StringIO()
    call_command("postflow_digest", "--send", stdout=out, stderr=err)
    [card] = json.loads(rsps.calls[0].request.body)["embeds"]
    assert card["title"] == "postflow digest, Wed 25 Nov 09:00 to Thu 26 Nov 2026 09:00"
    fields = {f["name"]: f["value"] for f in card["fields"]}
    assert fields["Delivered"] == "1" and fields["Renders"] == "2 verified, 1 quarantined"
    assert fields["Alerts"] == "1 opened, 1 resolved; 1 open"
    assert "UNDLM Documentary: 69.7 % complete" in card["description"]
    [sent] = mail.outbox
    assert sent.subject == "[postflow] " + card["title"] and sent.to == ["supervisor@example.com"]
    assert "Shots moved   4 moves" in sent.body
    messages = OutboxMessage.objects.filter(kind="digest")
    assert {(m.channel, m.state) for m in messages} == {("discord", "sent"), ("email", "sent")}
    assert err.getvalue() == "Discord: sent\nE-mail: sent\n" and TOKEN not in out.getvalue() + err.getvalue()


def test_a_scheduled_digest_covers_the_day_up_to_when_it_was_due_and_goes_once(a_day_of_work, discord):
    # The worker ran late (09:40), twice: the period still ends at 09:00, and the outbox keeps one message.
    [message_id] = digest_daily(scheduled_at=NOW.isoformat())
    assert digest_daily(scheduled_at=NOW.isoformat()) == []
    card = OutboxMessage.objects.get(pk=message_id).payload["embeds"][0]
    assert card["title"] == "postflow digest, Wed 25 Nov 09:00 to Thu 26 Nov 2026 09:00"


# --- the schedules -------------------------------------------------------------------------------------------


def _rows() -> dict[str, Schedule]:
    return {s.name: s for s in Schedule.objects.filter(name__in=NAMES.values())}


def test_migrate_creates_the_schedules_and_a_changed_hour_moves_them(settings):
    settings.TIME_ZONE = "Europe/Paris"
    settings.POSTFLOW_DIGEST_DAILY_HOUR, settings.POSTFLOW_DIGEST_WEEKDAY = 8, "fri"
    Schedule.objects.filter(name__in=NAMES.values()).delete()
    assert digest_schedules_sync(now=NOW) == {"alerts.digest_daily": "created", "alerts.digest_weekly": "created"}
    daily, weekly = _rows()["alerts.digest_daily"], _rows()["alerts.digest_weekly"]
    assert (daily.schedule_type, daily.func, daily.intended_date_kwarg) == ("D", "alerts.tasks.digest_daily",
                                                                            "scheduled_at")  # fmt: skip
    # Thursday 26 November, 10:00 in Paris: tomorrow 08:00 (07:00 UTC), and Friday's weekly (the same time).
    assert daily.next_run == datetime(2026, 11, 27, 7, 0, tzinfo=UTC) == weekly.next_run
    assert weekly.schedule_type == "W"
    # Again, after the scheduler moved the next run on: left alone.
    Schedule.objects.filter(name="alerts.digest_daily").update(next_run=datetime(2026, 11, 28, 7, 0, tzinfo=UTC))
    assert set(digest_schedules_sync(now=NOW).values()) == {"kept"}
    assert _rows()["alerts.digest_daily"].next_run == datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
    # The hour changes, then `manage.py migrate` runs (make run, a deploy): both rows move, no new row.
    settings.POSTFLOW_DIGEST_DAILY_HOUR = 18
    call_command("migrate", verbosity=0)
    daily, weekly = _rows()["alerts.digest_daily"], _rows()["alerts.digest_weekly"]
    assert timezone.localtime(daily.next_run).hour == 18 and timezone.localtime(weekly.next_run).weekday() == 4
    assert Schedule.objects.filter(name__in=NAMES.values()).count() == 2


def test_off_means_no_schedule_rows_and_on_again_brings_them_back(settings):
    settings.POSTFLOW_DIGEST_ENABLED = False
    assert digest_schedules_sync(now=NOW) == {"alerts.digest_daily": "deleted", "alerts.digest_weekly": "deleted"}
    assert _rows() == {} and digest_schedules_sync(now=NOW) == {}
    settings.POSTFLOW_DIGEST_ENABLED = True
    assert set(digest_schedules_sync(now=NOW).values()) == {"created"}


def test_the_hourly_digest_of_the_previous_version_is_gone():
    assert not Schedule.objects.filter(name="alerts.digests").exists()


def test_uploads_counted_are_the_metrics_of_finished_uploads(a_day_of_work):
    """The digest reuses postflow_report's upload figures: a failed upload in the period shows as failed."""
    render = make_render("c.mov", state=Render.State.VERIFIED, verified_at=BEFORE)
    upload = Upload.objects.create(render=render, state=Upload.State.FAILED, last_error="HTTP 500: boom")
    _at(Upload.objects.filter(pk=upload.pk), DURING, updated_at=1)
    assert digest.digest_build(period="day", start=START, end=NOW).uploads["failed"] == 1
