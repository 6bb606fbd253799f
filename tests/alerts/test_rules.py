"""Every rule under a fake clock: it fires, deduplicates, resolves by itself, and respects the cooldown."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count

import pytest

from alerts.models import Alert, AlertEvent, Metric
from alerts.rules import RULES, Context, Limits, WebhookFailures
from alerts.services import alerts_evaluate
from frameio.models import FrameioConnection, Upload, UploadPart, WebhookDelivery
from ingest.models import Render, SourceClip, WatcherHeartbeat
from postflow.models import LiveEvent
from shots.models import Shot, ShotEvent
from shots.workflow import Status
from tests.alerts.conftest import NOW, discord_messages
from tests.factories import make_project, make_render, make_scene, make_shot, make_source

pytestmark = pytest.mark.django_db
MB = 1024 * 1024
_serial = count(1)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


@pytest.fixture
def shot(db) -> Shot:
    project = make_project(code="UNDLM")
    return make_shot(project, scene=make_scene(project, "DAY"), nomenclature="UNDLM_00042", status=Status.AE_COMPLETED)


def a_render(shot: Shot, state: str = Render.State.UPLOADED, **fields) -> Render:
    n = next(_serial)
    if state in ("uploaded", "queued"):  # named: tied to the shot and a version
        fields = {"shot": shot, "version": n, **fields}
    return make_render(f"UNDLM_00042_v{n:03d}.mov", state=state, at=NOW, **fields)


def api_calls(at: datetime, *, n: int = 20, errors: int = 0, ms: float = 200) -> None:
    Metric.objects.bulk_create(
        Metric(name=Metric.API, label="files.show", at=at - minutes(1), value=ms, status=503 if i < errors else 200,
               ok=i >= errors)
        for i in range(n)
    )  # fmt: skip


# --- one case per rule: how to make its condition at a time, and how to clear it ------------------------


def make_api_errors(t, shot):
    api_calls(t, errors=2)  # 10 % > 5 %


def make_api_latency(t, shot):
    api_calls(t, ms=6000)  # p90 6 s > 5 s


def clear_api(t, shot):
    Metric.objects.filter(name=Metric.API).delete()


def make_upload_failures(t, shot):
    for _ in range(4):
        Upload.objects.create(render=a_render(shot), state=Upload.State.UPLOADED, uploaded_at=t - minutes(30))
    failed = Upload.objects.create(render=a_render(shot, state="queued"), state=Upload.State.FAILED, last_error="x")
    Upload.objects.filter(pk=failed.pk).update(updated_at=t - minutes(10))  # 1 of 5 = 20 % > 10 %


def clear_upload_failures(t, shot):
    Upload.objects.all().delete()
    Render.objects.all().delete()


def make_stuck_upload(t, shot):
    """40 of 100 MB sent, the last part landed 20 min ago, the lease renewed: stuck (the same upload each time)."""
    upload = Upload.objects.first() or Upload.objects.create(
        render=a_render(shot, state="queued"), state=Upload.State.UPLOADING, bytes_total=100 * MB,
        bytes_done=40 * MB, lease_owner="w1", attempts=1,
    )  # fmt: skip
    UploadPart.objects.filter(upload=upload).delete()
    UploadPart.objects.create(upload=upload, index=0, offset=0, size=40 * MB, url_enc="x", done_at=t - minutes(20))
    UploadPart.objects.create(upload=upload, index=1, offset=40 * MB, size=60 * MB, url_enc="x")
    Upload.objects.filter(pk=upload.pk).update(
        updated_at=t - minutes(35), started_at=t - minutes(40), lease_until=t + minutes(2)
    )


def clear_stuck_upload(t, shot):
    UploadPart.objects.filter(done_at__isnull=True).update(done_at=t)  # a part landed: progress


def make_big_process(t, shot):
    Metric.objects.create(name=Metric.PROCESS, label="qcluster:4242", at=t - minutes(1), value=600 * MB)


def clear_big_process(t, shot):
    Metric.objects.create(name=Metric.PROCESS, label="qcluster:4242", at=t, value=120 * MB)


def make_silent_watcher(t, shot):
    WatcherHeartbeat.objects.update_or_create(name="watch@host", defaults={"beat_at": t - minutes(3), "healthy": True})


def make_unreachable_mount(t, shot):
    WatcherHeartbeat.objects.update_or_create(
        name="watch@host", defaults={"beat_at": t, "healthy": False, "detail": "root /mnt/lucid: ESTALE"}
    )


def clear_watcher(t, shot):
    WatcherHeartbeat.objects.update_or_create(name="watch@host", defaults={"beat_at": t, "healthy": True})


def make_stale_shot(t, shot):
    Shot.objects.filter(pk=shot.pk).update(status=Status.REVIEW_UPLOADED)
    event = ShotEvent.objects.create(
        shot=shot, kind=ShotEvent.Kind.TRANSITION, from_status=Status.AE_COMPLETED, to_status=Status.REVIEW_UPLOADED,
        actor="frameio",
    )  # fmt: skip
    ShotEvent.objects.filter(pk=event.pk).update(created_at=t - timedelta(days=8))


def clear_stale_shot(t, shot):
    Shot.objects.filter(pk=shot.pk).update(status=Status.REVIEW_APPROVED)  # not a watched status


def make_reauth(t, shot):
    FrameioConnection.objects.update_or_create(
        key="default", defaults={"access_token_enc": "x", "needs_reauth": True, "reauth_reason": "invalid_grant"}
    )


def make_old_refresh_token(t, shot):
    FrameioConnection.objects.update_or_create(
        key="default",
        defaults={"access_token_enc": "x", "refresh_token_enc": "y", "refresh_token_issued_at": t - timedelta(days=13)},
    )


def clear_connection(t, shot):
    FrameioConnection.objects.filter(key="default").update(needs_reauth=False, refresh_token_issued_at=t)


def make_webhook_failure(t, shot):
    WebhookDelivery.objects.create(
        key=f"k{next(_serial)}", event_type="comment.created", state=WebhookDelivery.State.FAILED,
        outcome="Frame.io comments.show: HTTP 500: boom", signed_at=t, first_received_at=t - minutes(6),
        last_received_at=t - minutes(6), processed_at=t - minutes(5),
    )  # fmt: skip


def clear_webhook_failure(t, shot):
    WebhookDelivery.objects.update(state=WebhookDelivery.State.DONE)


def make_quarantine(t, shot):
    for _ in range(3):
        render = a_render(shot, state=Render.State.QUARANTINED, reason="no shot UNDLM_09999 in the cut")
        Render.objects.filter(pk=render.pk).update(updated_at=t - minutes(10))


def clear_quarantine(t, shot):
    Render.objects.filter(state=Render.State.QUARANTINED).update(state=Render.State.DISMISSED)


def make_empty_render(t, shot):
    """A 0-byte placeholder first seen 31 minutes ago (POSTFLOW_EMPTY_ALERT_MINUTES: 30)."""
    Render.objects.filter(size=0).delete()
    placeholder = a_render(shot, state=Render.State.DISCOVERED, size=0)
    Render.objects.filter(pk=placeholder.pk).update(observed_since=t - minutes(31))


def clear_empty_render(t, shot):
    Render.objects.filter(size=0).update(size=1000, observed_since=t)  # its data arrived


def make_changed_source(t, shot):
    SourceClip.objects.update_or_create(
        source_file=make_source(shot.project, "A001C003.mov"),
        defaults=dict(
            root="/rushes", path="day1/A001C003.mov", size=1000, mtime_ns=1, fps=25, frames=50,
            start_timecode="01:00:00:00", start_frame=90_000, verified_at=t - minutes(60), problem="changed",
            problem_detail="day1/A001C003.mov changed since it was verified: size 1,000 → 1,200 bytes",
            problem_since=t,
        ),
    )  # fmt: skip


def clear_changed_source(t, shot):
    SourceClip.objects.update(problem="", problem_detail="", problem_since=None)


@dataclass(frozen=True)
class Case:
    rule: str
    key: str
    make: Callable
    clear: Callable


CASES = [
    Case("api_error_rate", "frameio.api.errors", make_api_errors, clear_api),
    Case("api_latency", "frameio.api.latency", make_api_latency, clear_api),
    Case("upload_failure_rate", "uploads.failure_rate", make_upload_failures, clear_upload_failures),
    Case("upload_stuck", "uploads.stuck:", make_stuck_upload, clear_stuck_upload),
    Case("process_memory", "process.memory:qcluster:4242", make_big_process, clear_big_process),
    Case("watcher_heartbeat", "watcher.heartbeat:watch@host", make_silent_watcher, clear_watcher),
    Case("mount_unreachable", "watcher.mount:watch@host", make_unreachable_mount, clear_watcher),
    Case("shot_stale", "shots.stale:review_uploaded", make_stale_shot, clear_stale_shot),
    Case("frameio_connection", "frameio.reauth", make_reauth, clear_connection),
    Case("frameio_connection", "frameio.refresh_token", make_old_refresh_token, clear_connection),
    Case("webhook_failures", "frameio.webhooks", make_webhook_failure, clear_webhook_failure),
    Case("quarantine_growing", "ingest.quarantine", make_quarantine, clear_quarantine),
    Case("source_changed", "sources.changed:", make_changed_source, clear_changed_source),
    Case("empty_renders", "ingest.empty", make_empty_render, clear_empty_render),
]


def evaluate(case: Case, at: datetime):
    [rule] = [r for r in RULES if r.name == case.rule]
    return alerts_evaluate(now=at, rules=[rule], sample=False)


def alerts_for(case: Case) -> list[Alert]:
    return list(Alert.objects.filter(key__startswith=case.key).order_by("id"))


def test_every_rule_has_a_case():
    assert {r.name for r in RULES} == {c.rule for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.key.rstrip(":") for c in CASES])
def test_a_rule_fires_deduplicates_resolves_and_cools_down(case, shot, discord, django_capture_on_commit_callbacks):
    t = NOW
    case.make(t, shot)
    with django_capture_on_commit_callbacks(execute=True):
        result = evaluate(case, t)
    [alert] = alerts_for(case)
    assert result.opened == [alert.key] and result.errors == {}
    assert (alert.state, alert.rule, alert.notified, alert.opened_at) == (Alert.State.OPEN, case.rule, True, t)
    assert [m.dedupe_key for m in discord_messages()] == [f"discord:alerts:{alert.pk}:opened"]
    opened = LiveEvent.objects.get(kind="alert.opened").payload
    assert opened == {"alert_id": alert.pk, "level": alert.level, "title": alert.title, "detail": alert.detail[:500]}

    # Dedup: still true a minute later -> the same alert, seen twice, nothing sent again.
    result = evaluate(case, t + minutes(1))
    assert result.opened == [] and result.firing == [alert.key]
    [alert] = alerts_for(case)
    assert (alert.occurrences, alert.last_seen_at) == (2, t + minutes(1))
    assert len(discord_messages()) == 1

    # Auto-resolve: the condition cleared.
    case.clear(t + minutes(2), shot)
    with django_capture_on_commit_callbacks(execute=True):
        result = evaluate(case, t + minutes(2))
    assert result.resolved == [alert.key]
    alert.refresh_from_db()
    assert (alert.state, alert.resolved_by, alert.resolved_at) == (Alert.State.RESOLVED, "rule", t + minutes(2))
    assert [e.kind for e in alert.events.all()] == [AlertEvent.Kind.OPENED, AlertEvent.Kind.RESOLVED]
    assert discord_messages()[-1].dedupe_key == f"discord:alerts:{alert.pk}:resolved"
    assert LiveEvent.objects.get(kind="alert.closed").payload == {"alert_id": alert.pk, "state": "resolved"}

    # Cooldown: back within 30 min of the last notification -> a new alert, shown but not sent.
    case.make(t + minutes(10), shot)
    evaluate(case, t + minutes(10))
    again = alerts_for(case)[-1]
    assert again.pk != alert.pk and again.state == Alert.State.OPEN and not again.notified
    assert "within the cooldown" in again.events.get().note
    case.clear(t + minutes(11), shot)
    evaluate(case, t + minutes(11))
    assert len(discord_messages()) == 2  # neither its opening nor its resolution went out

    # After the cooldown it is news again.
    case.make(t + minutes(45), shot)
    evaluate(case, t + minutes(45))
    assert alerts_for(case)[-1].notified and len(discord_messages()) == 3


def limits(**changes) -> Limits:
    from dataclasses import replace

    return replace(Limits.from_settings(), **changes)


def findings(name: str, at: datetime = NOW, **ctx):
    [rule] = [r for r in RULES if r.name == name]
    return rule.check(Context(now=at, limits=ctx.pop("limits", None) or Limits.from_settings(), **ctx))


def test_api_rules_need_enough_calls_and_a_rate_above_the_threshold():
    api_calls(NOW, n=19, errors=19)
    assert findings("api_error_rate") == []  # 19 calls: below ALERT_API_MIN_CALLS
    Metric.objects.all().delete()
    api_calls(NOW, n=100, errors=5)
    assert findings("api_error_rate") == []  # exactly 5 % is not above 5 %
    api_calls(NOW, n=1, errors=1)
    [finding] = findings("api_error_rate")
    assert finding.title == "Frame.io API errors: 6 % of calls" and finding.severity == "warning"
    assert findings("api_error_rate", at=NOW + minutes(20)) == []  # out of the 15-minute window


def test_api_latency_is_the_90th_percentile():
    api_calls(NOW, n=18, ms=100)
    api_calls(NOW, n=2, ms=60_000)  # 10 % slow calls: p90 is still fast
    assert findings("api_latency") == []
    api_calls(NOW, n=3, ms=60_000)
    assert findings("api_latency")[0].key == "frameio.api.latency"


def test_upload_failure_rate_needs_enough_finished_uploads(shot):
    failed = Upload.objects.create(render=a_render(shot, state="queued"), state=Upload.State.FAILED)
    Upload.objects.filter(pk=failed.pk).update(updated_at=NOW - minutes(5))
    assert findings("upload_failure_rate") == []  # 1 finished < ALERT_UPLOAD_MIN_FINISHED
    assert findings("upload_failure_rate", limits=limits(upload_min_finished=1))[0].severity == "critical"


def test_a_leased_upload_moving_bytes_is_not_stuck_nor_is_an_unleased_one(shot):
    make_stuck_upload(NOW, shot)
    assert len(findings("upload_stuck")) == 1
    Upload.objects.update(lease_until=NOW - minutes(1))  # the worker died: the reconciler takes it over
    assert findings("upload_stuck") == []
    Upload.objects.update(lease_until=NOW + minutes(1))
    UploadPart.objects.filter(done_at__isnull=False).update(done_at=NOW - minutes(3))
    assert findings("upload_stuck") == []


def test_process_memory_reads_only_recent_samples():
    make_big_process(NOW, None)
    assert findings("process_memory")[0].title == "Process qcluster:4242 uses 600 MB"
    assert findings("process_memory", at=NOW + minutes(10)) == []  # the process is gone


def test_a_fresh_healthy_heartbeat_raises_nothing():
    clear_watcher(NOW, None)
    assert findings("watcher_heartbeat") == findings("mount_unreachable") == []
    assert findings("watcher_heartbeat", at=NOW + minutes(2)) == []  # exactly 2 min is not missing yet
    assert findings("watcher_heartbeat", at=NOW + minutes(2.1))[0].severity == "critical"


def test_a_silent_watcher_is_not_also_reported_unreachable():
    make_unreachable_mount(NOW, None)
    assert findings("mount_unreachable", at=NOW + minutes(5)) == []
    assert len(findings("watcher_heartbeat", at=NOW + minutes(5))) == 1


def test_shot_stale_counts_from_the_move_into_the_status(shot):
    make_stale_shot(NOW, shot)
    [finding] = findings("shot_stale")
    assert finding.title == "1 shot(s) in Review uploaded for more than 7 days" and "UNDLM_00042" in finding.detail
    ShotEvent.objects.update(created_at=NOW - timedelta(days=6))
    assert findings("shot_stale") == []
    assert findings("shot_stale", limits=limits(shot_stale_statuses=("ae_in_progress",))) == []
    Shot.objects.update(omitted=True)
    assert findings("shot_stale", at=NOW + timedelta(days=30)) == []


def test_refresh_token_age_and_never_connected():
    assert findings("frameio_connection") == []
    make_old_refresh_token(NOW, None)
    FrameioConnection.objects.update(refresh_token_issued_at=NOW - timedelta(days=11))
    assert findings("frameio_connection") == []
    [finding] = findings("frameio_connection", at=NOW + timedelta(days=2))
    assert finding.key == "frameio.refresh_token" and "expires in about 1.0 days" in finding.detail


def test_webhook_rule_reads_its_source_through_an_interface():
    class Fake:
        def __init__(self, failed: int) -> None:
            self.failed, self.since = failed, None

        def failures(self, *, since):
            self.since = since
            return WebhookFailures(self.failed, "file.ready: boom")

    source = Fake(0)
    assert findings("webhook_failures", webhooks=source) == []
    assert source.since == NOW - minutes(60)
    [finding] = findings("webhook_failures", webhooks=Fake(2))
    assert (
        finding.title == "Frame.io webhook deliveries failing: 2 in 60 min"
        and finding.detail == "Latest: file.ready: boom"
    )
    result = alerts_evaluate(
        now=NOW, rules=[r for r in RULES if r.name == "webhook_failures"], sample=False, webhooks=Fake(3)
    )
    assert result.opened == ["frameio.webhooks"]


def test_webhook_rule_on_the_delivery_table():
    make_webhook_failure(NOW, None)
    [finding] = findings("webhook_failures")
    assert "comment.created: Frame.io comments.show: HTTP 500" in finding.detail
    assert findings("webhook_failures", at=NOW + minutes(61)) == []


def test_quarantine_below_growth_is_quiet(shot):
    make_quarantine(NOW, shot)
    Render.objects.filter(pk=Render.objects.first().pk).update(updated_at=NOW - minutes(90))
    assert findings("quarantine_growing") == []


def test_a_rule_that_fails_leaves_its_alerts_alone():
    def broken(ctx):
        raise RuntimeError("table missing")

    from alerts.rules import Finding, Rule

    alerts_evaluate(now=NOW, rules=[Rule("x", lambda ctx: [Finding("x:1", "X")], "")], sample=False)
    result = alerts_evaluate(now=NOW + minutes(1), rules=[Rule("x", broken, "")], sample=False)
    assert result.errors == {"x": "RuntimeError: table missing"}
    assert Alert.objects.get(key="x:1").state == Alert.State.OPEN  # not auto-resolved by an error


def test_a_severity_change_updates_the_open_alert():
    from alerts.rules import Finding, Rule

    level = ["warning"]
    rule = Rule("x", lambda ctx: [Finding("x:1", "X", severity=level[0])], "")
    alerts_evaluate(now=NOW, rules=[rule], sample=False)
    level[0] = "critical"
    alerts_evaluate(now=NOW + minutes(1), rules=[rule], sample=False)
    alert = Alert.objects.get()
    assert (alert.severity, alert.occurrences) == ("critical", 2)


def test_an_empty_render_raises_its_alert_only_after_the_setting(shot, settings):
    settings.POSTFLOW_EMPTY_ALERT_MINUTES = 45
    placeholder = a_render(shot, state=Render.State.DISCOVERED, size=0)
    Render.objects.filter(pk=placeholder.pk).update(observed_since=NOW - minutes(44))
    case = next(c for c in CASES if c.rule == "empty_renders")
    assert evaluate(case, NOW).opened == []
    assert evaluate(case, NOW + minutes(1)).opened == ["ingest.empty"]
    alert = Alert.objects.get(key="ingest.empty")
    assert alert.title == "1 render(s) still 0 bytes after 45 min" and placeholder.path in alert.detail
