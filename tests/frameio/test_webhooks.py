"""The webhook receiver (signature, window, size, dedupe), its job, registration, and the whole loop with
the sandbox sending real signed webhooks to the running app."""

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from frameio import health, review, tasks, webhooks
from frameio import jobs as frameio_jobs
from frameio.crypto import encrypt
from frameio.models import FrameioWebhook, ReviewNote, WebhookDelivery
from shots.workflow import Status
from tests.frameio import test_review
from tests.frameio.test_review import comment, note_events, set_status, upload_version

# The sandbox (with its S2S connection), the reviewer's API session and the shot, as in test_review.
sandbox, api, shot = test_review.sandbox, test_review.api, test_review.shot

SECRET = "s3cr3t-webhook-signing-key"
URL = "/frameio/webhook/"
ACCOUNT = "acc-1"
pytestmark = pytest.mark.django_db(transaction=True)  # the sandbox and live_server tests need real commits


def sign(body: bytes, timestamp: int | str, secret: str = SECRET) -> str:
    message = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def event(kind: str = "file.upload.completed", resource: str = "file-1", resource_type: str = "file") -> bytes:
    payload = {
        "type": kind,
        "resource": {"id": resource, "type": resource_type},
        "account": {"id": ACCOUNT},
        "workspace": {"id": "ws-1"},
        "project": {"id": "proj-1"},
        "user": {"id": "user-1"},
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def post(client: Client, body: bytes, *, timestamp: int | None = None, signature: str | None = None, **headers):
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = sign(body, timestamp) if signature is None else signature
    return client.generic(
        "POST",
        URL,
        body,
        content_type="application/json",
        HTTP_X_FRAMEIO_REQUEST_TIMESTAMP=str(timestamp),
        HTTP_X_FRAMEIO_SIGNATURE=signature,
        **headers,
    )


@pytest.fixture
def registered(db, settings):
    settings.FRAMEIO_ACCOUNT_ID, settings.FRAMEIO_WORKSPACE_ID = ACCOUNT, "ws-1"
    return FrameioWebhook.objects.create(
        account_id=ACCOUNT,
        workspace_id="ws-1",
        webhook_id="hook-1",
        url="https://post.example.com/frameio/webhook/",
        events=list(webhooks.EVENTS),
        secret_enc=encrypt(SECRET),
        registered_at=timezone.now(),
    )


@pytest.fixture
def enqueued(monkeypatch):
    """The job queue: what the receiver enqueued (delivery ids), in order."""
    jobs: list[int] = []
    lock = threading.Lock()

    def record(func, *args, **kwargs):
        assert func == "frameio.tasks.webhook_process"
        with lock:
            jobs.append(args[0])

    monkeypatch.setattr(frameio_jobs, "async_task", record)
    return jobs


@pytest.fixture
def csrf_client():
    return Client(enforce_csrf_checks=True)  # the receiver must not need a CSRF token


# --- the receiver --------------------------------------------------------------------------------


def test_a_signed_delivery_is_stored_and_enqueued_after_commit(
    registered, enqueued, csrf_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(csrf_client, event())
    assert response.status_code == 202 and response.content == b""
    delivery = WebhookDelivery.objects.get()
    assert (delivery.event_type, delivery.resource_id, delivery.account_id) == (
        "file.upload.completed",
        "file-1",
        ACCOUNT,
    )
    assert (delivery.state, delivery.received_count) == (WebhookDelivery.State.QUEUED, 1)
    assert enqueued == [delivery.pk]


@pytest.mark.parametrize(
    ("case", "timestamp_offset", "signature"),
    [
        ("unsigned", 0, ""),
        ("wrong secret", 0, "wrong"),
        ("not v0", 0, "v1=00"),
        ("stale", -301, None),
        ("future", +301, None),
    ],
)
def test_refused_deliveries_get_401_without_detail(
    registered, enqueued, csrf_client, case, timestamp_offset, signature
):
    body = event()
    timestamp = int(time.time()) + timestamp_offset
    if signature == "wrong":
        signature = sign(body, timestamp, secret="another-secret")
    response = post(csrf_client, body, timestamp=timestamp, signature=signature)
    assert response.status_code == 401, case
    assert response.content == b""
    assert not WebhookDelivery.objects.exists() and enqueued == []


def test_within_the_window_on_either_side_is_accepted(registered, enqueued, csrf_client):
    assert post(csrf_client, event(resource="a"), timestamp=int(time.time()) - 295).status_code == 202
    assert post(csrf_client, event(resource="b"), timestamp=int(time.time()) + 295).status_code == 202


def test_a_tampered_body_or_timestamp_is_refused(registered, enqueued, csrf_client):
    body, now = event(), int(time.time())
    good = sign(body, now)
    assert post(csrf_client, event(resource="file-2"), timestamp=now, signature=good).status_code == 401
    assert post(csrf_client, body, timestamp=now - 1, signature=good).status_code == 401
    assert post(csrf_client, body, timestamp=now, signature=good).status_code == 202


def test_without_a_registered_webhook_nothing_is_accepted(db, enqueued, csrf_client):
    assert post(csrf_client, event()).status_code == 401


def test_post_only_and_size_limited(registered, enqueued, csrf_client):
    assert csrf_client.get(URL).status_code == 405
    big = b"{" + b" " * webhooks.MAX_BODY_BYTES + b"}"
    assert post(csrf_client, big).status_code == 413
    assert not WebhookDelivery.objects.exists()


def test_a_signed_body_that_is_not_an_event_is_a_400(registered, enqueued, csrf_client):
    assert post(csrf_client, b"[1, 2]").status_code == 400
    assert post(csrf_client, b"not json").status_code == 400


def _event_with(extra: str) -> bytes:
    """event() with `extra` JSON spliced in as the value of "x" (the body stays signed)."""
    return event()[:-1] + b',"x":' + extra.encode() + b"}"


# Signed bodies that once got a 500 (RecursionError, IntegrityError on the JSON column) or were stored.
UNUSABLE_BODIES = {
    "nested 30,000 deep": _event_with("[" * 30_000 + "]" * 30_000),
    "NaN": _event_with("NaN"),
    "-Infinity": _event_with("-Infinity"),
    "1e999999": _event_with("1e999999"),
    "resource id a number": event().replace(b'"file-1"', b"123"),
    "resource id 65 characters": event(resource="f" * 65),
    "no resource": b'{"type":"file.ready","account":{"id":"acc-1"}}',
    "NUL in a string": _event_with('"a\\u0000b"'),  # PostgreSQL's jsonb refuses both
    "lone surrogate": _event_with('"\\ud800"'),
}


@pytest.mark.parametrize("body", UNUSABLE_BODIES.values(), ids=UNUSABLE_BODIES.keys())
def test_a_signed_body_that_cannot_be_stored_is_a_400_and_stored_nowhere(
    registered, enqueued, csrf_client, django_capture_on_commit_callbacks, body
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(csrf_client, body)
    assert response.status_code == 400
    assert not WebhookDelivery.objects.exists() and enqueued == []


def test_a_retry_is_stored_once_and_enqueued_once(
    registered, enqueued, csrf_client, django_capture_on_commit_callbacks
):
    body = event("comment.created", "comment-1", "comment")
    with django_capture_on_commit_callbacks(execute=True):
        assert post(csrf_client, body, timestamp=int(time.time()) - 20).status_code == 202
        # Frame.io's retry: the same body, a new timestamp and signature.
        assert post(csrf_client, body).status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.received_count == 2 and enqueued == [delivery.pk]


def test_the_same_event_after_its_job_ran_is_worked_again_without_a_second_effect(
    registered, enqueued, csrf_client, django_capture_on_commit_callbacks
):
    body = event()
    with django_capture_on_commit_callbacks(execute=True):
        post(csrf_client, body)
    delivery = webhooks.delivery_process(delivery_id=enqueued[0])
    assert delivery.state == WebhookDelivery.State.DONE and "nothing to do" in delivery.outcome
    with django_capture_on_commit_callbacks(execute=True):
        assert post(csrf_client, body).status_code == 202
    assert enqueued == [delivery.pk, delivery.pk] and WebhookDelivery.objects.count() == 1
    again = webhooks.delivery_process(delivery_id=delivery.pk)
    assert (again.state, again.attempts, again.received_count) == (WebhookDelivery.State.DONE, 2, 2)


def test_a_job_delivered_twice_works_once(registered, enqueued, csrf_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(csrf_client, event())
    tasks.webhook_process(enqueued[0])
    tasks.webhook_process(enqueued[0])
    assert WebhookDelivery.objects.get().attempts == 1


def test_a_delivery_arriving_while_its_job_works_is_worked_again(registered, enqueued, monkeypatch):
    body = json.loads(event())
    delivery, _ = webhooks.delivery_receive(payload=body, signed_at=int(time.time()))
    real_handle, calls = webhooks._handle, []

    def handle(delivery, client):
        calls.append(delivery.pk)
        if len(calls) == 1:  # the retry lands while the first round is working
            webhooks.delivery_receive(payload=body, signed_at=int(time.time()))
        return real_handle(delivery, client)

    monkeypatch.setattr(webhooks, "_handle", handle)
    done = webhooks.delivery_process(delivery_id=delivery.pk)
    assert calls == [delivery.pk, delivery.pk]
    assert (done.state, done.received_count, done.claimed_count) == (WebhookDelivery.State.DONE, 2, 2)


def test_an_event_of_another_account_is_ignored(registered, enqueued, settings):
    settings.FRAMEIO_ACCOUNT_ID = "someone-else"
    delivery, _ = webhooks.delivery_receive(payload=json.loads(event()), signed_at=int(time.time()))
    assert webhooks.delivery_process(delivery_id=delivery.pk).state == WebhookDelivery.State.IGNORED


def test_the_secret_never_reaches_the_log(registered, enqueued, csrf_client, caplog):
    post(csrf_client, event())
    post(csrf_client, event(), signature="v0=bad")
    assert SECRET not in caplog.text
    assert SECRET not in FrameioWebhook.objects.get().secret_enc


# --- registration, status, health (against the sandbox) ------------------------------------------


def test_register_is_idempotent_and_stores_the_secret_encrypted(sandbox, enqueued):
    url = "http://127.0.0.1:9/frameio/webhook/"
    out = StringIO()
    call_command("frameio_webhook", "register", "--url", url, stdout=out)
    hook = FrameioWebhook.objects.get()
    remote = sandbox.state.webhooks[hook.webhook_id]
    assert remote["url"] == url and set(remote["events"]) == set(webhooks.EVENTS)
    assert remote["_secret"] not in hook.secret_enc and remote["_secret"] not in out.getvalue()
    assert webhooks._secrets() == [remote["_secret"]]
    # Again: nothing changes.
    call_command("frameio_webhook", "register", "--url", url, stdout=(out := StringIO()))
    assert "already registered" in out.getvalue() and list(sandbox.state.webhooks) == [hook.webhook_id]
    # --replace: a new webhook and secret, the old one deleted in Frame.io.
    call_command("frameio_webhook", "register", "--url", url, "--replace", stdout=StringIO())
    new = FrameioWebhook.objects.get()
    assert new.webhook_id != hook.webhook_id and list(sandbox.state.webhooks) == [new.webhook_id]


def test_register_cleans_a_stray_webhook_whose_secret_was_lost(sandbox, api, enqueued):
    url = "http://127.0.0.1:9/frameio/webhook/"
    stray = api.post(
        f"/workspaces/{sandbox.workspace_id}/webhooks", {"name": "x", "url": url, "events": ["file.ready"]}
    )
    result = webhooks.webhook_register(url=url)
    assert result.created and result.removed == (stray.json()["data"]["id"],)
    assert list(sandbox.state.webhooks) == [result.webhook.webhook_id]


def test_register_refuses_plain_http_off_loopback(sandbox):
    with pytest.raises(CommandError, match="must be https"):
        call_command("frameio_webhook", "register", "--url", "http://post.example.com/frameio/webhook/")


def test_status_health_and_remove(sandbox, enqueued):
    assert health.check_webhook(None).ok  # not registered: fine, review comes back by polling
    webhooks.webhook_register(url="http://127.0.0.1:9/frameio/webhook/")
    checks = {c.name: c for c in health.run_checks()}
    assert checks["webhook"].ok, checks["webhook"]
    assert list(checks)[-2:] == ["webhook", "rate_limits"]
    out = StringIO()
    call_command("frameio_webhook", "status", "--json", stdout=out)
    assert json.loads(out.getvalue())["remote"] == "checked"
    # Deleted in Frame.io behind postflow's back: the health check says so.
    with sandbox.state.lock:
        sandbox.state.webhooks.clear()
    check = health.check_webhook(health.auth.build_client())
    assert not check.ok and "gone from Frame.io" in check.detail
    with pytest.raises(CommandError, match="problem"):
        call_command("frameio_webhook", "status", stdout=StringIO())
    call_command("frameio_webhook", "remove", stdout=(out := StringIO()))
    assert "removed" in out.getvalue() and not FrameioWebhook.objects.exists()


def test_the_admin_action_registers_the_webhook(sandbox, admin_client, settings):
    settings.FRAMEIO_WEBHOOK_URL = "http://127.0.0.1:9/frameio/webhook/"
    from frameio.models import FrameioConnection

    conn = FrameioConnection.objects.get()
    url = reverse("admin:frameio_frameioconnection_changelist")
    response = admin_client.post(url, {"action": "register_review_webhook", "_selected_action": [conn.pk]}, follow=True)
    assert response.status_code == 200
    assert FrameioWebhook.objects.get().url == settings.FRAMEIO_WEBHOOK_URL
    assert "registered" in response.content.decode()


# --- the whole loop: the sandbox posts real signed webhooks to the running app -------------------


def drain(jobs: list[int]) -> None:
    """Run the enqueued jobs, as the django-q2 worker would."""
    while jobs:
        tasks.webhook_process(jobs.pop(0))


def delivered(sandbox, event_type: str, count: int = 1) -> None:
    """Wait until the sandbox has delivered `count` events of this type (2xx answers)."""
    sandbox.wait_for(
        lambda: (
            len([d for d in sandbox.state.webhook_deliveries if d["event_type"] == event_type and d["ok"]]) >= count
        ),
        timeout=10,
    )


def test_end_to_end_comments_and_status_by_signed_webhooks(sandbox, api, shot, tmp_path, live_server, enqueued):
    webhooks.webhook_register(url=f"{live_server.url}{URL}")
    upload = upload_version(tmp_path, shot, 1)  # file.upload.completed, metadata.value.updated (Needs Review)
    created = comment(api, upload.frameio_file_id, "=HYPERLINK(sky)", timestamp=38)
    set_status(api, sandbox, upload, "Approved")
    delivered(sandbox, "comment.created")
    delivered(sandbox, "metadata.value.updated", 2)
    delivered(sandbox, "file.ready")  # transcoded: the last event the upload brings
    assert all(d["ok"] and d["status"] in (200, 202) for d in sandbox.state.webhook_deliveries)
    drain(enqueued)
    note = ReviewNote.objects.get(frameio_comment_id=created["id"])
    assert note.record_timecode == "10:00:01:12" and note.text == "=HYPERLINK(sky)"
    shot.refresh_from_db()
    assert shot.status == Status.REVIEW_APPROVED
    # Edit, complete, delete in Frame.io: each comes back by webhook.
    api.patch(f"/comments/{created['id']}", {"text": "sky too bright"})
    delivered(sandbox, "comment.updated")
    drain(enqueued)
    assert ReviewNote.objects.get().text == "sky too bright"
    api.patch(f"/comments/{created['id']}", {"completed": True})
    delivered(sandbox, "comment.completed")
    drain(enqueued)
    assert ReviewNote.objects.get().completed
    api.delete(f"/comments/{created['id']}")
    delivered(sandbox, "comment.deleted")
    drain(enqueued)
    assert ReviewNote.objects.get().deleted_at is not None
    assert [e["action"] for e in note_events()] == ["created", "updated", "completed", "deleted"]
    assert not WebhookDelivery.objects.exclude(state=WebhookDelivery.State.DONE).exists()
    assert all(d["ok"] for d in sandbox.state.webhook_deliveries)  # every answer 2xx, in time, first try


def test_a_webhook_that_never_came_is_caught_by_the_reconciliation(sandbox, api, shot, tmp_path, live_server, enqueued):
    webhooks.webhook_register(url=f"{live_server.url}{URL}")
    upload = upload_version(tmp_path, shot, 1)
    delivered(sandbox, "metadata.value.updated")
    delivered(sandbox, "file.ready")
    drain(enqueued)
    # The receiver's secret goes wrong (say, a key rotation gone bad): every attempt is refused,
    # Frame.io gives up after its 5 attempts, and postflow never hears of the comment.
    FrameioWebhook.objects.update(secret_enc=encrypt("not-the-secret"))
    created = comment(api, upload.frameio_file_id, "missed", timestamp=26)
    sandbox.wait_for(
        lambda: [d for d in sandbox.state.webhook_deliveries if d["event_type"] == "comment.created"][4:], timeout=10
    )
    attempts = [d for d in sandbox.state.webhook_deliveries if d["event_type"] == "comment.created"]
    assert [d["status"] for d in attempts] == [401] * 5
    assert not ReviewNote.objects.exists() and not enqueued
    assert not WebhookDelivery.objects.filter(event_type="comment.created").exists()
    review.review_reconcile()
    assert ReviewNote.objects.get(frameio_comment_id=created["id"]).record_timecode == "10:00:01:00"


def test_a_failed_job_is_recorded_then_retried_by_the_reconciliation(registered, enqueued, monkeypatch):
    from frameio.client import FrameioError

    failures = [FrameioError(503, False, "Service Unavailable", "files.show")]

    def flaky_ready(*, file_id):
        if failures:
            raise failures.pop()
        return "file ready"

    monkeypatch.setattr(review, "file_ready", flaky_ready)
    delivery, _ = webhooks.delivery_receive(payload=json.loads(event("file.ready")), signed_at=int(time.time()))
    failed = webhooks.delivery_process(delivery_id=delivery.pk)
    assert failed.state == WebhookDelivery.State.FAILED and "HTTP 503" in failed.outcome
    enqueued.clear()
    assert webhooks.deliveries_requeue(now=timezone.now() + timedelta(minutes=2)) == 1
    assert enqueued == [delivery.pk]
    done = webhooks.delivery_process(delivery_id=delivery.pk)
    assert (done.state, done.outcome, done.attempts) == (WebhookDelivery.State.DONE, "file ready", 2)
    assert webhooks.deliveries_requeue(now=timezone.now() + timedelta(minutes=2)) == 0
