"""A fresh install's first start (issue #15, points 4 and 8): with Server-to-Server, `frameio_health` and
`frameio_webhook register` choose the only account and workspace as the first upload does; with the embedded
sandbox, the worker's first start registers the review webhook at the local address, once, and a comment comes
back by that webhook without any polling."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from frameio import health, tasks, webhooks
from frameio.models import FrameioConnection, FrameioConnectionEvent, FrameioWebhook, ReviewNote, ReviewState
from tests.frameio import test_review, test_webhooks
from tests.frameio.test_review import comment, upload_version
from tests.frameio.test_webhooks import delivered, drain

sandbox, api, shot = test_review.sandbox, test_review.api, test_review.shot
enqueued = test_webhooks.enqueued  # the webhook jobs' delivery ids, run by `drain` as the worker would
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fresh(sandbox, settings):
    """Nothing chosen yet: no connection stored, no FRAMEIO_*_ID set (`make run` on a new checkout)."""
    FrameioConnection.objects.all().delete()
    FrameioConnectionEvent.objects.all().delete()
    settings.FRAMEIO_ACCOUNT_ID = settings.FRAMEIO_WORKSPACE_ID = settings.FRAMEIO_DEFAULT_PROJECT_ID = ""
    settings.FRAMEIO_WEBHOOK_URL = settings.POSTFLOW_PUBLIC_URL = ""
    settings.FRAMEIO_SANDBOX_EMBEDDED = False
    return sandbox


def by_name(checks):
    return {c.name: c for c in checks}


def test_health_on_a_fresh_server_to_server_install_chooses_the_only_account_and_workspace(fresh):
    checks = by_name(health.run_checks())
    assert all(c.ok for c in checks.values()), checks
    assert f"account {fresh.account_id}, workspace {fresh.workspace_id}" in checks["config"].detail
    assert checks["project"].detail == health.NO_PROJECT_YET
    conn = FrameioConnection.objects.get()
    assert (conn.account_id, conn.workspace_id, conn.project_id) == (fresh.account_id, fresh.workspace_id, "")
    event = FrameioConnectionEvent.objects.get()
    assert (event.kind, event.actor) == ("connected", "system")
    # The webhook line says what to do, and with which URL when one is known.
    assert "frameio_webhook register --url https://<host>/frameio/webhook/" in checks["webhook"].detail
    assert "POSTFLOW_PUBLIC_URL" in checks["webhook"].detail


def test_webhook_register_on_a_fresh_install_connects_and_takes_postflow_public_url(fresh, settings):
    with pytest.raises(CommandError, match=r"pass --url .*, or set POSTFLOW_PUBLIC_URL"):
        call_command("frameio_webhook", "register", stdout=StringIO())
    settings.POSTFLOW_PUBLIC_URL = "https://post.example.com"
    assert "registers https://post.example.com/frameio/webhook/" in health.check_webhook(None).detail
    out = StringIO()
    call_command("frameio_webhook", "register", stdout=out)
    assert "registered webhook" in out.getvalue()
    [remote] = fresh.state.webhooks.values()
    assert remote["url"] == "https://post.example.com/frameio/webhook/"
    assert FrameioWebhook.objects.get().workspace_id == fresh.workspace_id


def test_the_first_start_registers_the_local_webhook_once_and_a_comment_comes_back_without_polling(
    fresh, api, shot, tmp_path, live_server, settings, enqueued
):
    # The embedded sandbox, served by the web process at this address (`make run`).
    settings.FRAMEIO_SANDBOX_EMBEDDED = True
    settings.FRAMEIO_SANDBOX_URL = f"{live_server.url}/frameio-sandbox"
    creates = fresh.faults.add("POST /v4/accounts/*/workspaces/*/webhooks")
    polls = fresh.faults.add("GET /v4/accounts/*/files/*/comments")  # what the review reconciliation polls
    tasks.uploads_reconcile()  # the minute schedule, which the worker's first start runs at once
    [remote] = fresh.state.webhooks.values()
    assert remote["url"] == f"{live_server.url}/frameio/webhook/"
    tasks.uploads_reconcile()  # a minute later, or the next start: nothing more
    assert len(fresh.state.webhooks) == 1 and creates.hits == 1 and FrameioWebhook.objects.count() == 1

    upload = upload_version(tmp_path, shot, 1)
    created = comment(api, upload.frameio_file_id, "sky too bright", timestamp=38)
    delivered(fresh, "comment.created")
    drain(enqueued)
    note = ReviewNote.objects.get(frameio_comment_id=created["id"])
    assert note.text == "sky too bright" and note.record_timecode == "10:00:01:12"
    assert polls.hits == 0 and not ReviewState.objects.filter(polled_at__isnull=False).exists()


def test_without_the_embedded_sandbox_nothing_is_registered_by_itself(fresh):
    assert webhooks.webhook_register_local() is None
    assert fresh.state.webhooks == {} and not FrameioConnection.objects.exists()
