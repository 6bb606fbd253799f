"""Outgoing webhooks: queued with the change they report, signed (checked by a receiving HTTP server in the
test), retried after a 500 with a backoff, recorded with their answers, an endpoint disabled with an alert
after failing too often, and never in the way of the change itself."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.fernet import Fernet
from django.utils import timezone

from alerts.models import Alert
from api import jobs, webhooks
from api.models import WebhookEndpoint, WebhookKind, WebhookMessage
from frameio.models import Upload
from frameio.signals import upload_finished
from ingest.models import Render
from shots.services import shot_transition
from shots.workflow import Status
from tests.factories import make_render, make_shot
from tests.servers import local_servers

pytestmark = pytest.mark.django_db

SECRET = "whsec_test-secret"


class Receiver(ThreadingHTTPServer):
    """A receiving endpoint that checks each POST's signature with its copy of the secret, as a
    receiver is told to (docs/api.md), and answers the statuses it is given in turn (then 200)."""

    def __init__(self, statuses: list[int]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.statuses, self.received = list(statuses), []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/postflow"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        timestamp = self.headers["X-Postflow-Request-Timestamp"]
        expected = (
            "v0=" + hmac.new(SECRET.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        )
        valid = hmac.compare_digest(expected, self.headers["X-Postflow-Signature"])
        self.server.received.append({"valid": valid, "headers": dict(self.headers), "body": json.loads(body)})
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        self.send_response(status if valid else 401)
        self.end_headers()
        self.wfile.write(b"ok" if status < 300 else b"receiver broke")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver():
    with local_servers() as servers:
        yield lambda *statuses: servers.serve(Receiver(list(statuses)))


@pytest.fixture
def sent_jobs(monkeypatch) -> list[int]:
    """The send jobs the api app enqueued (message ids), instead of a real queue."""
    calls: list[int] = []
    monkeypatch.setattr(jobs, "async_task", lambda task, message_id: calls.append(message_id))
    return calls


def endpoint(url: str, *kinds: str) -> WebhookEndpoint:
    row = WebhookEndpoint(name="farm", url=url, kinds=list(kinds))
    webhooks.endpoint_set_secret(endpoint=row, secret=SECRET)
    row.save()
    return row


def test_a_status_change_is_sent_signed_and_retried_after_a_500(
    receiver, sent_jobs, django_capture_on_commit_callbacks
):
    server = receiver(500)
    endpoint(server.url, WebhookKind.STATUS_CHANGED)
    shot = make_shot(nomenclature="TST_00001", status=Status.AE_READY)
    with django_capture_on_commit_callbacks(execute=True):
        shot_transition(shot_id=shot.pk, to_status=Status.AE_IN_PROGRESS, actor="user:ana")
    message = WebhookMessage.objects.get()
    assert sent_jobs == [message.pk]

    first = webhooks.webhook_send(message_id=message.pk)
    assert first.status_code == 500 and first.response == "receiver broke"
    message.refresh_from_db()
    assert message.state == WebhookMessage.State.PENDING and message.last_error == "HTTP 500"
    assert timedelta(seconds=14) < message.next_attempt_at - timezone.now() <= timedelta(seconds=30)
    assert webhooks.webhook_send(message_id=message.pk) is None  # not due yet

    counts = webhooks.webhooks_flush(now=message.next_attempt_at + timedelta(seconds=1))
    assert counts["sent"] == 1
    message.refresh_from_db()
    assert message.state == WebhookMessage.State.SENT and message.attempts == 2
    assert [a.status_code for a in message.attempt_rows.all()] == [500, 200]

    assert [r["valid"] for r in server.received] == [True, True]
    delivered = server.received[1]
    assert delivered["headers"]["X-Postflow-Event"] == "shot.status_changed"
    assert delivered["headers"]["X-Postflow-Delivery"] == str(message.pk)
    assert delivered["body"]["data"] | {"event_id": 0} == {
        "shot": "TST_00001",
        "shot_number": "001",
        "project": "TST",
        "from": "ae_ready",
        "to": "ae_in_progress",
        "actor": "user:ana",
        "event_id": 0,
    }
    assert server.received[0]["body"] == delivered["body"]  # the retry resends the same message


def test_a_wrong_secret_is_refused_by_the_receiver(receiver, sent_jobs):
    server = receiver()
    row = endpoint(server.url, WebhookKind.STATUS_CHANGED)
    webhooks.endpoint_set_secret(endpoint=row, secret="not-the-receivers")
    row.save()
    message = WebhookMessage.objects.create(endpoint=row, kind=WebhookKind.STATUS_CHANGED, payload={})
    assert webhooks.webhook_send(message_id=message.pk).status_code == 401
    assert server.received[0]["valid"] is False


def test_only_subscribed_kinds_are_queued(receiver, sent_jobs, django_capture_on_commit_callbacks):
    endpoint(receiver().url, WebhookKind.UPLOADED)
    shot = make_shot(nomenclature="TST_00001", status=Status.AE_READY)
    with django_capture_on_commit_callbacks(execute=True):
        shot_transition(shot_id=shot.pk, to_status=Status.AE_IN_PROGRESS, actor="user:ana")
        render = make_render("TST_00001_v001.mov", state=Render.State.UPLOADED, shot=shot, version=1, checksum="c" * 32)
        upload = Upload.objects.create(render=render, state=Upload.State.UPLOADED, frameio_file_id="file-9")
        upload_finished.send(sender=Upload, upload_id=upload.pk)
    message = WebhookMessage.objects.get()
    assert message.kind == WebhookKind.UPLOADED
    assert message.payload["frameio_file_id"] == "file-9" and message.payload["version"] == 1


def test_a_failing_endpoint_is_disabled_with_an_alert_and_enabled_again(receiver, sent_jobs, settings):
    settings.POSTFLOW_API_WEBHOOK_DISABLE_AFTER = 3
    server = receiver(500, 500, 500)
    row = endpoint(server.url, WebhookKind.STATUS_CHANGED)
    messages = [
        WebhookMessage.objects.create(endpoint=row, kind=WebhookKind.STATUS_CHANGED, payload={"n": n}) for n in range(4)
    ]
    for message in messages:
        webhooks.webhook_send(message_id=message.pk)
    row.refresh_from_db()
    assert not row.enabled and "3 failed attempts in a row (last: HTTP 500)" in row.disabled_reason
    assert len(server.received) == 3  # the fourth waits for the endpoint
    alert = Alert.objects.get(rule="api_webhook_disabled")
    assert alert.state == Alert.State.OPEN and "farm" in alert.title

    assert webhooks.endpoint_enable(endpoint_id=row.pk, actor="user:ana")
    alert.refresh_from_db()
    assert alert.state == Alert.State.RESOLVED
    later = timezone.now() + timedelta(hours=2)
    assert webhooks.webhooks_flush(now=later)["sent"] == 4
    assert WebhookMessage.objects.filter(state=WebhookMessage.State.SENT).count() == 4


def test_a_dead_receiver_never_blocks_the_change(sent_jobs, django_capture_on_commit_callbacks, settings):
    settings.POSTFLOW_API_WEBHOOK_MAX_ATTEMPTS = 2
    endpoint("http://127.0.0.1:9/nobody", WebhookKind.STATUS_CHANGED)  # the discard port: connection refused
    shot = make_shot(nomenclature="TST_00001", status=Status.AE_READY)
    with django_capture_on_commit_callbacks(execute=True):
        shot_transition(shot_id=shot.pk, to_status=Status.AE_IN_PROGRESS, actor="user:ana")
    shot.refresh_from_db()
    assert shot.status == Status.AE_IN_PROGRESS  # committed before anything was sent
    message = WebhookMessage.objects.get()
    attempt = webhooks.webhook_send(message_id=message.pk)
    assert attempt.status_code is None and attempt.error.startswith("ConnectionError")
    webhooks.webhooks_flush(now=timezone.now() + timedelta(hours=2))
    message.refresh_from_db()
    assert message.state == WebhookMessage.State.FAILED and "gave up after 2 attempts" in message.last_error


def test_a_queueing_failure_is_logged_and_the_change_goes_on(monkeypatch, sent_jobs, caplog):
    endpoint("https://hooks.example.com/x", WebhookKind.STATUS_CHANGED)

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(webhooks, "webhooks_queue", broken)
    shot = make_shot(nomenclature="TST_00001", status=Status.AE_READY)
    shot_transition(shot_id=shot.pk, to_status=Status.AE_IN_PROGRESS, actor="user:ana")
    shot.refresh_from_db()
    assert shot.status == Status.AE_IN_PROGRESS and not WebhookMessage.objects.exists()
    assert "could not queue the outgoing shot.status_changed webhook" in caplog.text


def test_the_admin_makes_a_secret_shown_once_and_refuses_plain_http(admin_client):
    refused = admin_client.post(
        "/admin/api/webhookendpoint/add/",
        {"name": "x", "url": "http://farm.example.com/h", "kinds": ["render.verified"]},
    )
    assert refused.status_code == 200 and b"an https:// URL" in refused.content
    made = admin_client.post(
        "/admin/api/webhookendpoint/add/",
        {"name": "farm", "url": "https://farm.example.com/h", "kinds": ["render.verified", "shot.delivered"]},
        follow=True,
    )
    row = WebhookEndpoint.objects.get()
    assert row.kinds == ["render.verified", "shot.delivered"]
    shown = [str(m) for m in made.context["messages"]]
    secret = shown[0].rsplit(": ", 1)[1]
    assert secret.startswith("whsec_") and secret not in row.secret_enc
    from frameio import crypto

    assert crypto.decrypt(row.secret_enc) == secret


def test_verified_note_and_delivered_events_become_their_messages(sent_jobs, django_capture_on_commit_callbacks):
    from delivery.models import Delivery
    from delivery.signals import batch_finished
    from frameio.signals import note_added
    from ingest.signals import render_verified
    from tests.factories import make_review_note

    endpoint("https://farm.example.com/h", WebhookKind.VERSION_VERIFIED, WebhookKind.NOTE_ADDED, WebhookKind.DELIVERED)
    shot = make_shot(nomenclature="TST_00001", status=Status.REVIEW_APPROVED, timeline_in=250)
    media = {"codec": "prores", "fps": 25.0}
    render = make_render("TST_00001_v002.mov", state=Render.State.VERIFIED, shot=shot, version=2, media=media)
    note = make_review_note(shot, version=2, frame=26, text="grain")
    delivered, failed = (
        Delivery.objects.create(
            shot=shot,
            render=render,
            version=2,
            approved_checksum="c" * 32,
            approved_at=timezone.now(),
            state=state,
            folder="TST/01/TST_00001",
            files=1,
            bytes=10,
        )
        for state in (Delivery.State.DELIVERED, Delivery.State.FAILED)
    )
    with django_capture_on_commit_callbacks(execute=True):
        render_verified.send(sender=Render, render_id=render.pk)
        note_added.send(sender=type(note), note_id=note.pk)
        batch_finished.send(sender=Delivery, batch="b1", delivery_ids=[delivered.pk, failed.pk])

    messages = {m.kind: m.payload for m in WebhookMessage.objects.all()}
    assert len(sent_jobs) == 3 == WebhookMessage.objects.count()  # the failed delivery is not news here
    assert messages["render.verified"]["media"] == media and messages["render.verified"]["version"] == 2
    assert messages["review.note_added"]["record_timecode"] == "00:00:11:00"  # 250 frames + 1 s in
    assert messages["review.note_added"]["text"] == "grain"
    assert messages["shot.delivered"]["delivery_id"] == delivered.pk
    assert messages["shot.delivered"]["folder"] == "TST/01/TST_00001"


def _claimed(row: WebhookEndpoint, claim: str, at) -> WebhookMessage:
    """A message a sender claimed at `at` and has not answered for yet."""
    return WebhookMessage.objects.create(
        endpoint=row,
        kind=WebhookKind.STATUS_CHANGED,
        payload={},
        state=WebhookMessage.State.SENDING,
        claim=claim,
        claimed_at=at,
        attempts=1,
    )


def test_a_sender_that_died_mid_post_has_its_message_sent_again(receiver, sent_jobs):
    """A claim older than CLAIM_TIMEOUT is a dead sender's (a worker killed between POST and record):
    the flush reaps it and sends the message again, at least once, never lost; a fresh claim is left alone."""
    server = receiver()
    row = endpoint(server.url, WebhookKind.STATUS_CHANGED)
    now = timezone.now()
    dead = _claimed(row, "dead-worker", now - webhooks.CLAIM_TIMEOUT - timedelta(seconds=1))
    busy = _claimed(row, "live-worker", now - timedelta(seconds=5))
    counts = webhooks.webhooks_flush(now=now)
    assert (counts["reaped"], counts["sent"]) == (1, 1)
    dead.refresh_from_db()
    busy.refresh_from_db()
    assert (dead.state, dead.attempts) == (WebhookMessage.State.SENT, 2)
    assert (busy.state, busy.claim) == (WebhookMessage.State.SENDING, "live-worker")
    assert [r["body"]["id"] for r in server.received] == [dead.pk]


def test_a_secret_the_key_cannot_read_is_a_failed_attempt_not_a_crash(receiver, sent_jobs, settings, caplog):
    """SECRET_KEY (or FRAMEIO_TOKEN_KEY) changed since the secret was stored: the attempt is recorded with
    the reason, the message waits for a retry, nothing is POSTed unsigned."""
    server = receiver()
    row = endpoint(server.url, WebhookKind.STATUS_CHANGED)
    message = WebhookMessage.objects.create(endpoint=row, kind=WebhookKind.STATUS_CHANGED, payload={})
    settings.FRAMEIO_TOKEN_KEY = Fernet.generate_key().decode()  # not the key that encrypted it
    attempt = webhooks.webhook_send(message_id=message.pk)
    assert attempt.status_code is None and attempt.error == "TokenDecryptError while sending"
    message.refresh_from_db()
    assert message.state == WebhookMessage.State.PENDING and message.last_error == "TokenDecryptError while sending"
    assert server.received == []
    assert "sending failed unexpectedly" in caplog.text
