"""The README's quick start, "Try it" (issue #15): the reference shot list imported, a render of shot 042
written on the mount with its `.done` sidecar, seen by the watcher, uploaded to the sandbox by the upload
job, the review webhook registered as the worker's first start does, a reviewer's comment posted by the
README's own snippet, and the note on the dashboard and the shot's page. In-process: the worker's jobs run
here in order, the sandbox is a `run_sandbox` over real HTTP and the webhook reaches `live_server`."""

import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from frameio import tasks
from frameio.models import ReviewNote, Upload
from ingest.models import Render
from ingest.services import WatchConfig
from ingest.watcher import Watcher
from shots.models import Shot
from shots.workflow import Status
from tests.frameio import test_review
from tests.frameio.test_webhooks import delivered
from tests.ingest.media import make_clip
from tests.ingest.test_watcher import FakeClock

ROOT = Path(__file__).resolve().parent.parent
sandbox = test_review.sandbox  # a sandbox with a Server-to-Server connection, as `make run` makes on first start
pytestmark = pytest.mark.django_db(transaction=True)


def readme_comment_snippet() -> str:
    """The Python of step 3 of "Try it", as a reader copies it."""
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"\n   \.venv/bin/python manage\.py shell -v 0 -c '\n(.*?)\n   '\n", readme, re.S)
    assert match, "README: the comment snippet of the quick start is gone"
    return "\n".join(line.removeprefix("   ") for line in match.group(1).splitlines())


def run_jobs(enqueued: list[tuple]) -> None:
    """What the django-q2 worker would do with the jobs enqueued so far."""
    while enqueued:
        task, arg = enqueued.pop(0)
        {"frameio.tasks.upload_render": tasks.upload_render, "frameio.tasks.webhook_process": tasks.webhook_process}[
            task
        ](arg)


def test_the_readme_quick_start_ends_with_a_comment_on_the_dashboard(
    sandbox, tmp_path, settings, live_server, enqueued, admin_client, capsys
):
    # `make run`: the embedded sandbox served by the web process at its own address.
    settings.FRAMEIO_SANDBOX_EMBEDDED = True
    settings.FRAMEIO_SANDBOX_URL = f"{live_server.url}/frameio-sandbox"
    settings.FRAMEIO_WEBHOOK_URL = settings.POSTFLOW_PUBLIC_URL = ""
    tasks.uploads_reconcile()  # the worker's first start: the review webhook registered at the local address
    [remote] = sandbox.state.webhooks.values()
    assert remote["url"] == f"{live_server.url}/frameio/webhook/"

    call_command(
        "import_shots", str(ROOT / "samples/shots.csv"), "--edl", str(ROOT / "samples/timeline.edl"), stdout=StringIO()
    )
    shot = Shot.objects.get(nomenclature="UNDLM_00042")
    assert (shot.scene.number, shot.duration) == (4, 202)

    # 1. A render, and the sidecar that says the writer finished.
    mount = tmp_path / "lucidlink"
    make_clip(mount / "UNDLM_00042_v001.mov", frames=202)
    (mount / "UNDLM_00042_v001.mov.done").touch()
    clock = FakeClock()
    watcher = Watcher(WatchConfig.from_settings(mount), clock=clock, full_scan_seconds=300)
    watcher.tick()
    clock.advance(settings.POSTFLOW_SCAN_INTERVAL_SECONDS)  # settles on the next scan, not after 60 s
    watcher.tick()
    render = Render.objects.get(path="UNDLM_00042_v001.mov")
    assert render.state == Render.State.QUEUED, render.reason

    # 2. Uploaded.
    run_jobs(enqueued)
    upload = Upload.objects.get(render=render)
    assert upload.state in Upload.IN_FRAMEIO, upload.last_error
    shot.refresh_from_db()
    assert shot.status == Status.REVIEW_UPLOADED
    page = admin_client.get(f"/shots/{shot.pk}/").content.decode()
    assert "UNDLM_00042_v001.mov" in page and upload.view_url in page

    # 3. The reviewer's comment, by the README's snippet (the sandbox here is not behind the web process).
    settings.FRAMEIO_SANDBOX_URL = sandbox.base_url
    call_command("shell", "-v", "0", "-c", readme_comment_snippet())
    assert capsys.readouterr().out.startswith("201 ")  # the snippet prints

    # 4. Back by the webhook (no polling), on the dashboard and the shot's page.
    delivered(sandbox, "comment.created")
    run_jobs([job for job in enqueued if job[0] == "frameio.tasks.webhook_process"])
    note = ReviewNote.objects.get(shot=shot)
    assert (note.text, note.record_timecode, note.render_timecode) == ("sky too bright", "00:04:35:02", "00:00:01:12")
    for path in ("/", f"/shots/{shot.pk}/"):
        page = admin_client.get(path).content.decode()
        assert "sky too bright" in page and "00:04:35:02" in page, path
