"""Metrics: recorded by one-line hooks and the client's observer, cheaply and never raising."""

import logging
from collections import namedtuple
from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from django_q.tasks import async_task

from alerts import hooks, metrics
from alerts.models import Metric
from frameio import structure
from frameio.client import FrameioClient, RetryPolicy, observers
from ingest.rules import parse_rules
from ingest.services import WatchConfig
from ingest.watcher import Watcher
from tests.alerts.conftest import NOW, discord_messages
from tests.factories import make_project, make_scene

API = "https://api.frame.io.test"
Memory = namedtuple("Memory", "rss")
Times = namedtuple("Times", "user system")


def client() -> FrameioClient:
    return FrameioClient(
        base_url=API, token_provider=lambda: "secret-bearer", sleep=lambda s: None, retry=RetryPolicy(max_attempts=3)
    )


@pytest.mark.django_db
def test_every_frameio_exchange_is_a_metric(rsps):
    rsps.get(f"{API}/v4/me", status=503, json={"errors": [{"detail": "busy"}]})
    rsps.get(f"{API}/v4/me", json={"data": {"id": "u1"}})
    rsps.get(f"{API}/v4/accounts", body=requests.ConnectionError("reset"))
    rsps.get(f"{API}/v4/accounts", json={"data": []})
    frameio = client()
    assert frameio.me().id == "u1"
    assert frameio.list_accounts() == []
    rows = list(Metric.objects.filter(name=Metric.API).order_by("id").values_list("label", "status", "ok"))
    assert rows == [("users.show", 503, False), ("users.show", 200, True), ("accounts.index", 0, False),
                    ("accounts.index", 200, True)]  # fmt: skip
    assert all(ms >= 0 for ms in Metric.objects.values_list("value", flat=True))


@pytest.mark.django_db
def test_a_failing_observer_never_breaks_a_call(rsps, caplog, monkeypatch):
    def broken(record):
        raise ValueError("bug")

    monkeypatch.setattr("frameio.client.observers", [broken, *observers])
    rsps.get(f"{API}/v4/me", json={"data": {"id": "u1"}})
    assert client().me().id == "u1"
    assert "frameio call observer" in caplog.text and Metric.objects.count() == 1


def test_recording_without_a_database_drops_the_sample():
    metrics.record(Metric.API, label="x")  # no django_db mark: database access is refused, and swallowed


@pytest.mark.django_db
def test_an_upload_that_finishes_records_its_rate_and_queues_the_message(
    shot_upload, discord, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        hooks.upload_finished(upload_id=shot_upload.pk)
    row = Metric.objects.get(name=Metric.UPLOAD)
    assert (row.label, row.value, row.amount, row.at) == (
        shot_upload.render.path,
        20 * 1024 * 1024,
        40.0,
        shot_upload.uploaded_at,
    )
    [message] = discord_messages()
    assert message.kind == "renders" and message.payload["embeds"][0]["url"] == shot_upload.view_url


@pytest.mark.django_db
def test_scene_folder_lookups_count_cache_hits():
    project = make_project()
    scene = make_scene(project, "DAY")
    scene.frameio_folder_id = "folder-1"
    assert structure.scene_folder(None, account_id="acc", scene=scene) == "folder-1"  # no API call: cached
    assert list(Metric.objects.values_list("name", "label", "ok")) == [(Metric.STRUCTURE, "cached", True)]


@pytest.mark.django_db
def test_a_watcher_scan_is_a_metric(tmp_path):
    config = WatchConfig(
        root=tmp_path, settle_seconds=60, templates=["{project}_{shot}_v{version}"], extensions=frozenset({"mov"}),
        tolerance_frames=2, rules=parse_rules(["*=review"]),
    )  # fmt: skip
    (tmp_path / "a.txt").write_text("x")
    watcher = Watcher(config, clock=lambda: NOW, name="watch@test")
    watcher.tick()
    watcher.tick()
    rows = list(Metric.objects.filter(name=Metric.SCAN).order_by("id").values_list("label", "ok"))
    assert rows == [("watch@test", True), ("watch@test", False)]  # a full walk first, then incremental


class FakeProcess:
    def __init__(self, rss: int, cpu: float) -> None:
        self.rss, self.cpu = rss, cpu

    def memory_info(self):
        return Memory(self.rss)

    def cpu_times(self):
        return Times(self.cpu, 0.0)


@pytest.mark.django_db
def test_process_samples_give_rss_and_cpu_since_the_previous_sample():
    worker = FakeProcess(200 * 1024 * 1024, 10.0)
    [first] = metrics.sample_processes(now=NOW, processes={"qcluster:7": worker})
    assert first.cpu_percent is None
    worker.cpu = 40.0  # 30 s of CPU in 60 s
    [second] = metrics.sample_processes(now=NOW + timedelta(seconds=60), processes={"qcluster:7": worker})
    assert second.cpu_percent == pytest.approx(50.0)
    assert Metric.objects.filter(name=Metric.PROCESS).latest("at").amount == pytest.approx(50.0)


@pytest.mark.django_db
def test_this_process_is_found_and_sampled():
    import os

    found = metrics.postflow_processes()
    assert any(label.endswith(f":{os.getpid()}") for label in found)
    assert metrics.sample_processes(now=timezone.now())


@pytest.mark.django_db
def test_queue_depth_counts_waiting_tasks():
    async_task("math.floor", 1.5)
    async_task("math.floor", 2.5)
    assert metrics.sample_queue(now=NOW) == 2
    assert Metric.objects.get(name=Metric.QUEUE).value == 2


@pytest.mark.django_db
def test_old_metrics_are_pruned(settings):
    settings.ALERTS_METRIC_RETENTION_DAYS = 14
    metrics.record(Metric.API, at=NOW - timedelta(days=15))
    metrics.record(Metric.API, at=NOW - timedelta(days=13))
    assert metrics.prune(now=NOW) == 1 and Metric.objects.count() == 1


@pytest.mark.django_db
def test_a_metric_insert_that_fails_leaves_the_callers_transaction_usable(monkeypatch, caplog):
    from django.db import transaction

    caplog.set_level(logging.DEBUG, logger="alerts.metrics")
    monkeypatch.setattr(Metric.objects, "create", lambda **kw: (_ for _ in ()).throw(RuntimeError("locked")))
    with transaction.atomic():
        metrics.record(Metric.API)
        project = make_project()  # the transaction goes on
    assert project.pk and "not recorded: RuntimeError" in caplog.text


@pytest.mark.django_db
def test_the_web_server_is_sampled_though_it_is_not_in_the_samplers_family(tmp_path):
    """daphne, as honcho starts it: another branch of the process tree (here: detached, so not a child)."""
    import os
    import signal
    import subprocess
    import sys

    daphne = tmp_path / "daphne"
    daphne.write_text("import time\ntime.sleep(60)\n")
    command = f"{sys.executable} {daphne} -b 127.0.0.1 -p 8000 postflow.asgi:application"
    started = subprocess.run(["sh", "-c", f"{command} >/dev/null 2>&1 & echo $!"], capture_output=True, text=True)
    pid = int(started.stdout)
    try:
        assert f"web:{pid}" in metrics.postflow_processes()
    finally:
        os.kill(pid, signal.SIGTERM)
