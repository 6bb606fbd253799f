"""Uploads over an emulated WAN (the sandbox's link): the process finds how many parts to keep in flight,
shows it in the upload's progress and in postflow_report; FRAMEIO_PART_CONCURRENCY pins it."""

from datetime import timedelta
from pathlib import Path

import pytest

from alerts import report
from alerts.models import Metric
from frameio import uploads
from frameio.models import Upload
from frameio.uploads import concurrency, transfer
from tests.frameio.uploading import MB, queued_render

pytestmark = pytest.mark.django_db(transaction=True)


def _upload_watching_progress(render, monkeypatch) -> tuple[Upload, list[dict]]:
    published: list[dict] = []
    monkeypatch.setattr(
        transfer.realtime, "publish", lambda kind, payload: kind == "upload.progress" and published.append(payload)
    )
    upload = uploads.upload_render(render_id=render.pk, on_progress=transfer.store_progress)
    return upload, published


@pytest.fixture
def large_parts(sandbox):
    """Parts large beside a socket's send buffer, as Frame.io's 20 MB ones are."""
    sandbox.config.upload_part_size = 8 * MB
    return sandbox


def test_more_parts_go_in_flight_where_the_link_rewards_it(large_parts, shot, tmp_path, settings, monkeypatch):
    sandbox = large_parts
    settings.FRAMEIO_PART_CONCURRENCY, settings.FRAMEIO_PART_CONCURRENCY_MAX = 0, 16  # adaptive
    sandbox.faults.add("PUT /s3/*", bandwidth=4 * MB)  # each connection is slow, the link is not
    sandbox.link.configure(rtt=0.01)
    render = queued_render(tmp_path, shot, 1, size=96 * MB)  # 12 parts of 8 MB
    upload, published = _upload_watching_progress(render, monkeypatch)
    assert upload.state == Upload.State.UPLOADED, upload.last_error
    limits = [p["concurrency"] for p in published]
    assert limits[0] == concurrency.START
    assert max(limits) > concurrency.START  # it added connections while the rate grew
    assert all(p["parts_in_flight"] <= p["concurrency"] or p["concurrency"] < max(limits) for p in published)
    assert any(p["process_rate_bps"] > 0 for p in published)
    [measured] = Metric.objects.filter(name=Metric.TRANSFER)
    assert measured.amount > concurrency.START and measured.ok  # adapted, not pinned
    assert measured.value > 4 * 4 * MB  # faster than START connections of 3 MB/s could go
    figures = report.build(since=timedelta(hours=1))["uploads"]["transfer"]
    assert figures["attempts"] == 1 and figures["last_concurrency"] == measured.amount and figures["adaptive"]
    assert "in flight" in report.as_text(report.build(since=timedelta(hours=1)))
    assert (Path(render.root) / render.path).read_bytes() == b"".join(
        Path(sandbox.state.files[upload.frameio_file_id]["_parts"][str(i)]["path"]).read_bytes() for i in range(1, 13)
    )


def test_an_explicit_setting_pins_the_parts_in_flight(sandbox, shot, tmp_path, settings, monkeypatch):
    settings.FRAMEIO_PART_CONCURRENCY = 2
    sandbox.faults.add("PUT /s3/*", bandwidth=8 * MB)
    render = queued_render(tmp_path, shot, 1, size=24 * MB)
    upload, published = _upload_watching_progress(render, monkeypatch)
    assert upload.state == Upload.State.UPLOADED, upload.last_error
    assert {p["concurrency"] for p in published} == {2}
    assert max(p["parts_in_flight"] for p in published) <= 2
    [measured] = Metric.objects.filter(name=Metric.TRANSFER)
    assert measured.amount == 2 and not measured.ok
    assert report.build(since=timedelta(hours=1))["uploads"]["transfer"]["adaptive"] is False


def test_resets_on_the_link_back_off_and_the_upload_still_completes(sandbox, shot, tmp_path, settings, monkeypatch):
    settings.FRAMEIO_PART_CONCURRENCY, settings.FRAMEIO_PART_RETRIES = 0, 8
    monkeypatch.setattr(transfer.random, "uniform", lambda low, high: 0.0)  # no jitter wait in a test
    backed_off = []
    original = concurrency.Controller.congestion
    monkeypatch.setattr(
        concurrency.Controller, "congestion", lambda self: (backed_off.append(self.limit), original(self))
    )
    sandbox.link.configure(loss=0.3)
    render = queued_render(tmp_path, shot, 1, size=40 * MB)
    upload = uploads.upload_render(render_id=render.pk)
    assert upload.state == Upload.State.UPLOADED, upload.last_error
    assert sandbox.link.resets >= 1 and len(backed_off) == sandbox.link.resets
