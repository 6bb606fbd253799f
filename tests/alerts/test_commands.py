"""alerts_check and postflow_report, as a pipeline TD runs them."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from responses import matchers

from alerts import services
from alerts.models import Alert, Metric, OutboxMessage
from alerts.report import parse_period
from alerts.rules import Rule
from frameio.models import Upload
from ingest.models import Render, WatcherHeartbeat
from tests.alerts.conftest import URL
from tests.factories import make_render

pytestmark = pytest.mark.django_db
MIB = 1024 * 1024


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_alerts_check_evaluates_once_and_lists_what_is_open():
    WatcherHeartbeat.objects.create(name="watch@host", beat_at=timezone.now() - timedelta(minutes=10))
    result = json.loads(run("alerts_check", "--json", "--no-sample"))
    assert result["opened"] == ["watcher.heartbeat:watch@host"] and result["errors"] == {}
    assert [a["key"] for a in result["alerts"]] == ["watcher.heartbeat:watch@host"]
    text = run("alerts_check", "--no-sample")  # again: the same alert, not a second one
    assert "Watcher silent: watch@host" in text and "opened" not in text
    assert Alert.objects.count() == 1
    WatcherHeartbeat.objects.update(beat_at=timezone.now())
    assert "resolved  watcher.heartbeat:watch@host" in run("alerts_check", "--no-sample")
    assert "No alert." in run("alerts_check", "--no-sample")


def test_alerts_check_can_send_now(discord, rsps):
    rsps.post(URL, json={"id": "1"}, match=[matchers.query_param_matcher({"wait": "true"})])
    WatcherHeartbeat.objects.create(name="w", beat_at=timezone.now() - timedelta(minutes=10))
    assert "notifications: 1 sent, 0 not sent" in run("alerts_check", "--no-sample", "--send")
    assert OutboxMessage.objects.get().state == "sent"


def test_alerts_check_fails_when_a_rule_cannot_run(monkeypatch):
    def broken(ctx):
        raise RuntimeError("no such table")

    monkeypatch.setattr(services, "RULES", [Rule("broken", broken, "")])
    with pytest.raises(CommandError, match="1 rule\\(s\\) could not run: broken"):
        run("alerts_check", "--no-sample")


@pytest.fixture
def figures(db):
    """24 h of figures: 20 API calls (2 errors), 3 uploads, scene-folder lookups, samples, a failure."""
    now = timezone.now()
    rows = [Metric(name=Metric.API, label="files.show", at=now - timedelta(hours=1), value=100 + i, status=200)
            for i in range(18)]  # fmt: skip
    rows += [
        Metric(
            name=Metric.API,
            label="files.create_local_upload",
            at=now - timedelta(hours=2),
            value=900,
            status=503,
            ok=False,
        ),
        Metric(name=Metric.API, label="files.show", at=now - timedelta(hours=2), value=5, status=0, ok=False),
        Metric(name=Metric.API, label="files.show", at=now - timedelta(days=3), value=1, status=200),  # outside
        Metric(name=Metric.UPLOAD, label="a.mov", at=now - timedelta(hours=3), value=100e6, amount=50),  # 2 MB/s
        Metric(name=Metric.UPLOAD, label="b.mov", at=now - timedelta(hours=3), value=300e6, amount=100),  # 3 MB/s
        Metric(name=Metric.UPLOAD, label="c.mov", at=now - timedelta(hours=3), value=400e6, amount=40),  # 10 MB/s
        Metric(name=Metric.STRUCTURE, label="resolved", at=now - timedelta(hours=3), ok=False),
        *[Metric(name=Metric.STRUCTURE, label="cached", at=now - timedelta(hours=3)) for _ in range(3)],
        Metric(name=Metric.SCAN, label="w", at=now - timedelta(hours=1), value=30, amount=100, ok=True),
        Metric(name=Metric.SCAN, label="w", at=now - timedelta(hours=1), value=10, amount=3, ok=False),
        Metric(name=Metric.PROCESS, label="qcluster:1", at=now - timedelta(hours=1), value=100 * MIB, amount=None),
        Metric(name=Metric.PROCESS, label="qcluster:1", at=now - timedelta(minutes=1), value=450 * MIB, amount=20),
        Metric(name=Metric.QUEUE, label="postflow", at=now - timedelta(minutes=1), value=4, amount=1),
    ]
    Metric.objects.bulk_create(rows)
    render = make_render("x.mov", state=Render.State.QUEUED, at=now)
    Upload.objects.create(render=render, state=Upload.State.FAILED, last_error="part 3: HTTP 500 after 5 tries")
    return now


def test_postflow_report_json(figures, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    report = json.loads(run("postflow_report", "--since", "24h", "--json"))
    api, uploads = report["api"], report["uploads"]
    assert (api["calls"], api["succeeded"], api["success_rate"]) == (20, 18, 90.0)
    assert api["errors_by_status"] == {"no response": 1, "503": 1}
    assert api["latency_ms"]["median"] == pytest.approx(108.5) and api["latency_ms"]["mean"] == pytest.approx(142.9)
    assert api["endpoints"][0] == {"endpoint": "files.show", "calls": 19, "errors": 1, "median_ms": 108.0}
    assert uploads["uploaded"] == 3 and uploads["failed"] == 1
    assert uploads["rate_mb_s"] == {"mean": 5.0, "median": 3.0}
    assert report["structure"] == {"lookups": 4, "cached": 3, "resolved": 1, "hit_rate": 75.0}
    assert report["watcher"]["scans"] == 2 and report["watcher"]["full_scans"] == 1
    [process] = report["processes"]["processes"]
    assert (process["rss_mb_last"], process["rss_mb_max"], process["cpu_percent_mean"]) == (450.0, 450.0, 20.0)
    assert report["processes"]["queue"] == {"samples": 1, "last": 4, "max": 4}
    kinds = {e["kind"]: e["count"] for e in report["errors"]}
    assert kinds["frameio.api 503"] == 1 and kinds["upload failed: part N"] == 1
    tips = " ".join(report["recommendations"])
    assert "succeed only 90 %" in tips and "median 3 MB/s" in tips and "qcluster:1 peaked at 450 MB" in tips
    assert "1 upload(s) failed" in tips
    written = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert len(written) == 2 and written[0].endswith(".json") and written[1].endswith(".txt")


def test_postflow_report_text_and_an_empty_period(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    text = run("postflow_report", "--since", "90m")
    assert "Frame.io API" in text and "calls 0, success rate —" in text and "Recommendations" in text
    assert "No Frame.io calls in the period" in text
    assert f"Written to {tmp_path / 'reports'}" in text


def test_a_bad_period_says_what_is_expected():
    with pytest.raises(CommandError, match="--since: '1 fortnight' is not a period such as 24h"):
        run("postflow_report", "--since", "1 fortnight")
    assert parse_period("7d") == timedelta(days=7) and parse_period("1w") == timedelta(weeks=1)


def test_the_report_lists_the_services_not_the_commands_that_sampled_themselves(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    now = timezone.now()
    Metric.objects.bulk_create(
        Metric(name=Metric.PROCESS, label=label, at=now - age, value=100 * MIB, amount=5)
        for label, age in [
            ("web:10", timedelta(minutes=1)),  # daphne
            ("qcluster:11", timedelta(minutes=1)),
            ("alerts_check:12", timedelta(hours=3)),  # a one-shot command, long gone
            ("qcluster:9", timedelta(hours=5)),  # the worker before a restart
        ]
    )
    report = json.loads(run("postflow_report", "--since", "24h", "--json"))
    listed = {p["process"]: p["running"] for p in report["processes"]["processes"]}
    assert listed == {"qcluster:11": True, "qcluster:9": False, "web:10": True}
    assert "qcluster:9" in run("postflow_report", "--since", "24h").split("stopped")[0]


def test_small_uploads_give_no_rate_and_no_advice_on_concurrency(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    now = timezone.now()
    Metric.objects.bulk_create(  # 40 KB in a second each: Frame.io's round trips, not the link
        Metric(name=Metric.UPLOAD, label=f"still_{n}.mov", at=now - timedelta(hours=1), value=40_000, amount=1.0)
        for n in range(6)
    )
    report = json.loads(run("postflow_report", "--since", "24h", "--json"))
    assert report["uploads"]["uploaded"] == 6 and report["uploads"]["rated"] == 0
    assert report["uploads"]["rate_mb_s"] == {"mean": None, "median": None}
    assert not [tip for tip in report["recommendations"] if "CONCURRENCY" in tip or "MAX_CONCURRENT" in tip]


def test_errors_group_by_kind_without_mangling_names(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    now = timezone.now()
    for name in ("UNDLM_0O001_v001.mov", "UNDLM_00O02_v003.mov"):
        make_render(name, state=Render.State.QUARANTINED, at=now, reason=f"'{name}' matches no naming template (…)")
    make_render("x.mov", state=Render.State.QUARANTINED, at=now, reason="no shot UNDLM_09999 in project UNDLM")
    report = json.loads(run("postflow_report", "--since", "24h", "--json"))
    kinds = {e["kind"]: e for e in report["errors"]}
    grouped = kinds["render quarantined: '…' matches no naming template (…)"]
    assert grouped["count"] == 2 and grouped["example"].endswith("' matches no naming template (…)")
    assert grouped["example"][1:21] in ("UNDLM_0O001_v001.mov", "UNDLM_00O02_v003.mov")  # one whole reason
    assert kinds["render quarantined: no shot … in project UNDLM"]["count"] == 1
    assert not any("NON" in kind or "vN" in kind for kind in kinds)
